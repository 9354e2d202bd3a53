#include "ldae/inference_stages.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "autograd/no_grad.h"
#include "data/figures.h"
#include "data/manifest.h"
#include "data/preprocess.h"
#include "ldae/metrics.h"
#include "ldae/probe.h"
#include "ldae/presets.h"
#include "ldae/run/run_folder.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"

namespace ldae::stages {

infer::LdaeModel model_from_trained(const TrainedLdae& t) {
  infer::LdaeModel m;
  m.autoencoder = t.autoencoder;
  m.shift_unet = t.shift_unet;
  m.encoder = t.encoder;
  m.schedule = t.schedule;
  m.scale_factor = t.scale_factor;
  const Shape img = nets::preset_image_shape(t.preset);  // (1, 1, X, Y, Z)
  m.image_shape = {img[2], img[3], img[4]};
  return m;
}

namespace fs = std::filesystem;

namespace {

// Creates `dir` and proves it writable before any work (a probe file).
void prepare_out(const std::string& op, const std::string& dir) {
  check(!dir.empty(), op, "no output folder given");
  std::error_code ec;
  fs::create_directories(dir, ec);
  check(!ec && fs::is_directory(dir), op, "cannot create the output folder " + dir + (ec ? ": " + ec.message() : ""));
  const fs::path probe = fs::path(dir) / ".write_probe";
  {
    std::ofstream f(probe);
    f << "probe";
    f.flush();
    check(f.good(), op, "cannot write into the output folder " + dir);
  }
  fs::remove(probe, ec);
}

ImageScores scores(const Tensor& a, const Tensor& b) {
  ImageScores s;
  s.ssim = metrics::ssim3d(a, b).mean;
  s.psnr = metrics::psnr(a, b).mean;
  s.mse = metrics::mse(a, b).mean;
  return s;
}

nlohmann::ordered_json scores_json(const ImageScores& s) {
  nlohmann::ordered_json j;
  j["ssim"] = s.ssim;
  j["psnr"] = std::isfinite(s.psnr) ? nlohmann::ordered_json(s.psnr) : nlohmann::ordered_json("inf");
  j["mse"] = s.mse;
  return j;
}

nlohmann::ordered_json sampler_json(const infer::AutoencodingOptions& o) {
  nlohmann::ordered_json j;
  j["name"] = o.name();
  j["encode_steps"] = o.encode_steps;
  j["decode_steps"] = o.decode_steps;
  const diffusion::X0Clamp clamp = o.x0_clamp();  // as the DDIM passes use it (image space: [-1, 1])
  switch (clamp.mode) {
    case diffusion::X0Clamp::Mode::Off: j["x0_clamp"] = "off"; break;
    case diffusion::X0Clamp::Mode::Value: j["x0_clamp"] = clamp.value; break;
    case diffusion::X0Clamp::Mode::Percentile:
      j["x0_clamp"] = "percentile " + std::to_string(clamp.percentile);
      break;
  }
  j["semantic_shift"] = o.semantic_shift;
  j["shift_coefficient"] = o.shift_coefficient == diffusion::ShiftCoefficient::Reference
                               ? "reference: -sqrt(1 - alpha_bar_t)"
                               : "training: k_t";
  j["eta"] = 0;
  return j;
}

void end_progress(bool progress) {
  if (progress) std::fprintf(stderr, "\n");
}

std::string file_stem(const std::string& path) {
  std::string name = fs::path(path).filename().string();
  for (const char* ext : {".nii.gz", ".nii"}) {
    const std::string e(ext);
    if (name.size() > e.size() && name.compare(name.size() - e.size(), e.size(), e) == 0)
      return name.substr(0, name.size() - e.size());
  }
  return fs::path(name).stem().string();
}

std::string safe_name(const std::string& s) {
  std::string out = s;
  for (char& c : out)
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
  return out;
}

std::string months_label(int64_t m) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "ses-M%02lld", static_cast<long long>(m));
  return buf;
}

std::string number(double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.9g", v);
  return buf;
}

// A CSV field, quoted when needed.
std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += c == '"' ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

}  // namespace

Scan read_scan(const std::string& op, const infer::LdaeModel& model, const std::string& path) {
  check(!path.empty(), op, "no image given");
  data::ReadOptions quiet;
  quiet.quiet = true;
  data::Volume raw;
  try {
    raw = data::read_nifti(path, quiet);
  } catch (const Error& e) {
    fail(op, e.what());
  }
  const Shape s = raw.voxels.shape();
  if (!model.image_shape.empty())
    check(s == model.image_shape, op,
          path + ": the scan is " + shape_str(s) + " (X, Y, Z), the networks were trained on " +
              shape_str(model.image_shape) + " (run 'ldae preprocess' to bring it to that grid)");
  Scan scan;
  scan.volume = data::normalize_intensity(raw);  // [0, 1] as in training
  scan.tensor = scan.volume.voxels.reshape({1, 1, s[0], s[1], s[2]}).contiguous();
  return scan;
}

data::Volume volume_like(const Tensor& t, const data::Volume& like) {
  const Shape s = like.voxels.shape();
  return data::make_volume(t.detach().reshape({s[0], s[1], s[2]}).contiguous(), like.affine, like.space_code);
}

std::function<void(const std::string&, int64_t, int64_t)> stderr_progress(const std::string& label) {
  return [label](const std::string& phase, int64_t done, int64_t total) {
    std::fprintf(stderr, "\r%s %s %lld/%lld   ", label.c_str(), phase.c_str(), static_cast<long long>(done),
                 static_cast<long long>(total));
    std::fflush(stderr);
  };
}

// ---- reconstruct ---------------------------------------------------------------------------

ReconstructResult reconstruct_scan(infer::LdaeModel& model, const ReconstructRequest& r) {
  const std::string op = "reconstruct";
  const Scan scan = read_scan(op, model, r.image);
  prepare_out(op, r.out);
  infer::AutoencodingOptions sampler = r.sampler.in_space(model.space());
  if (r.progress) sampler.on_step = stderr_progress("reconstruct");
  Generator gen(r.seed);
  const infer::Reconstruction rec = infer::reconstruct(model, scan.tensor, r.mode, sampler, &gen);
  end_progress(r.progress);

  ReconstructResult out;
  const fs::path dir(r.out);
  out.reconstruction = (dir / "reconstruction.nii.gz").string();
  out.autoencoder_reconstruction = (dir / "autoencoder_reconstruction.nii.gz").string();
  out.figure = (dir / "figure.png").string();
  out.metrics = (dir / "metrics.json").string();
  const data::Volume recon = volume_like(rec.image, scan.volume);
  const data::Volume ae = volume_like(rec.autoencoder_image, scan.volume);
  data::write_nifti(out.reconstruction, recon);
  data::write_nifti(out.autoencoder_reconstruction, ae);

  const data::Volume diff = volume_like(abs(sub(rec.image, scan.tensor)), scan.volume);
  std::vector<data::Display> d(3);
  d[0].vmin = d[1].vmin = 0.0;
  d[0].vmax = d[1].vmax = 1.0;
  d[0].title = "input";
  d[1].title = "LDAE " + infer::mode_name(r.mode);
  d[2].map = data::ColorMap::Inferno;
  d[2].title = "|difference|";
  data::write_png(out.figure, data::figure_grid({scan.volume, recon, diff}, d));

  out.vs_input = scores(rec.image, scan.tensor);
  out.vs_autoencoder = scores(rec.image, rec.autoencoder_image);
  out.autoencoder_vs_input = scores(rec.autoencoder_image, scan.tensor);
  nlohmann::ordered_json j;
  j["command"] = "reconstruct";
  j["image"] = fs::absolute(r.image).lexically_normal().string();
  j["mode"] = infer::mode_name(r.mode);
  j["seed"] = r.seed;
  j["sampler"] = sampler_json(sampler);
  j["metrics_note"] =
      "volumes in the input's [0, 1] scale (min-max), not clipped; SSIM 3D Gaussian "
      "window 3, sigma 1.5, data range 1 (ldae-reference 7.6)";
  j["vs_input"] = scores_json(out.vs_input);
  j["vs_autoencoder"] = scores_json(out.vs_autoencoder);
  j["autoencoder_vs_input"] = scores_json(out.autoencoder_vs_input);
  j["provenance"] = r.provenance;
  run::write_json_atomic(out.metrics, j);
  return out;
}

// ---- encode --------------------------------------------------------------------------------

std::string features_header(int64_t e) {
  std::string h = "subject,session,diagnosis,age,split";
  for (int64_t i = 0; i < e; ++i) h += ",y" + std::to_string(i);
  return h;
}

EncodeResult encode_scans(infer::LdaeModel& model, const EncodeRequest& r) {
  const std::string op = "encode";
  check(r.image.empty() != r.manifest.empty(), op, "give exactly one of an image and a manifest");
  check(model.shift_unet && model.encoder, op, "the model lacks a network");
  // The scans and their names, all checked before any network call.
  struct Item {
    std::string path, name;
    size_t row = 0;
  };
  std::vector<Item> items;
  data::Manifest manifest;
  bool have_split = false;
  if (!r.image.empty()) {
    items.push_back({r.image, safe_name(file_stem(r.image)), 0});
  } else {
    manifest = data::read_manifest(r.manifest);
    check(!manifest.rows.empty(), op, r.manifest + ": the manifest has no rows");
    have_split = manifest.column_index("split") >= 0;
    if (!have_split && r.progress)
      std::fprintf(stderr,
                   "encode: %s has no split column, so features.csv gets an empty split (ldae probe needs one: "
                   "encode the latent cache's manifest.csv instead)\n",
                   r.manifest.c_str());
    std::set<std::string> seen;
    for (size_t i = 0; i < manifest.rows.size(); ++i) {
      const data::ManifestRow& row = manifest.rows[i];
      const std::string name = safe_name(row.subject) + "_" + months_label(row.session);
      check(seen.insert(name).second, op,
            r.manifest + ":" + std::to_string(row.line) + ": two rows would both be written as " + name);
      items.push_back({row.full_path, name, i});
    }
  }
  for (const Item& it : items) {
    data::Volume h;
    try {
      h = data::read_nifti_header(it.path);
    } catch (const Error& e) {
      fail(op, e.what());
    }
    const Shape shape{h.meta.dim[1], h.meta.dim[2], h.meta.dim[3]};  // (X, Y, Z) from the header
    if (!model.image_shape.empty())
      check(shape == model.image_shape, op,
            it.path + ": the scan is " + shape_str(shape) + " (X, Y, Z), the networks were trained on " +
                shape_str(model.image_shape));
  }
  prepare_out(op, r.out);
  const fs::path codes = fs::path(r.out) / "codes";
  fs::create_directories(codes);

  EncodeResult out;
  std::ostringstream csv;
  const int64_t e = model.encoder->options().emb_chans;
  csv << features_header(e) << "\n";
  const infer::AutoencodingOptions sampler = r.sampler.in_space(model.space());
  const diffusion::DdimOptions enc = sampler.ddim("encode");
  for (size_t k = 0; k < items.size(); ++k) {
    const Item& it = items[k];
    const Scan scan = read_scan(op, model, it.path);
    const Tensor y = infer::semantic_code(*model.encoder, scan.tensor);  // (1, E)
    std::map<std::string, Tensor> tensors;
    tensors["y_sem"] = y.reshape({e});
    if (r.with_xT) {
      const Tensor z0 = infer::scaled_latent(model.space(), scan.tensor);
      const Tensor xT = infer::encode_xT(*model.shift_unet, model.schedule, z0, y, enc);  // (1, C, d, h, w)
      const Shape s = xT.shape();
      tensors["x_T"] = xT.reshape({s[1], s[2], s[3], s[4]});
    }
    std::map<std::string, std::string> meta;
    meta["image"] = fs::absolute(it.path).lexically_normal().string();
    meta["sampler"] = sampler_json(sampler).dump();
    meta["scale_factor"] = number(model.scale_factor);
    const std::string file = (codes / (it.name + ".safetensors")).string();
    write_safetensors(file, tensors, meta);
    out.codes.push_back(file);
    if (!r.manifest.empty()) {
      const data::ManifestRow& row = manifest.rows[it.row];
      csv << csv_field(row.subject) << "," << row.session << "," << csv_field(row.diagnosis) << ","
          << (std::isfinite(row.age) ? number(row.age) : std::string()) << ","
          << (have_split ? csv_field(manifest.field(it.row, "split")) : std::string());
      for (double v : y.to_vector()) csv << "," << number(v);
      csv << "\n";
    }
    if (r.progress)
      std::fprintf(stderr, "\rencode %zu/%zu scans   ", k + 1, items.size());
  }
  end_progress(r.progress);
  out.count = static_cast<int64_t>(items.size());
  if (!r.manifest.empty()) {
    out.features = (fs::path(r.out) / "features.csv").string();
    const std::string tmp = out.features + ".tmp";
    {
      std::ofstream f(tmp, std::ios::binary);
      f << csv.str();
      f.flush();
      check(f.good(), op, "cannot write " + tmp);
    }
    fs::rename(tmp, out.features);
  }
  nlohmann::ordered_json j;
  j["command"] = "encode";
  j["source"] = fs::absolute(r.image.empty() ? r.manifest : r.image).lexically_normal().string();
  j["count"] = out.count;
  j["y_sem_width"] = e;
  j["x_T"] = r.with_xT;
  j["sampler"] = sampler_json(sampler);
  j["split_column"] = have_split;
  j["provenance"] = r.provenance;
  run::write_json_atomic((fs::path(r.out) / "encode.json").string(), j);
  return out;
}

// ---- vary ----------------------------------------------------------------------------------

VaryResult vary_scan(infer::LdaeModel& model, const VaryRequest& r) {
  const std::string op = "vary";
  check(r.count >= 1 && r.count <= 64, op, "count must be in 1..64, got " + std::to_string(r.count));
  check(model.shift_unet && model.encoder, op, "the model lacks a network");
  const Scan scan = read_scan(op, model, r.image);
  prepare_out(op, r.out);
  const Tensor y = infer::semantic_code(*model.encoder, scan.tensor);
  const Tensor z0 = infer::scaled_latent(model.space(), scan.tensor);
  infer::AutoencodingOptions sampler = r.sampler.in_space(model.space());
  Generator gen(r.seed);
  std::vector<Tensor> latents;
  for (int64_t k = 0; k < r.count; ++k) {  // one draw at a time, so that draw k is the same for any count
    if (r.progress) sampler.on_step = stderr_progress("vary " + std::to_string(k + 1) + "/" + std::to_string(r.count));
    const std::vector<Tensor> one =
        infer::vary(*model.shift_unet, model.schedule, y, z0.shape(), 1, sampler.ddim("decode"), gen);
    latents.push_back(one[0]);
  }
  end_progress(r.progress);

  VaryResult out;
  const fs::path dir(r.out);
  std::vector<data::Volume> rows = {scan.volume,
                                    volume_like(infer::to_image(model.space(), z0), scan.volume)};
  std::vector<data::Display> d(2);
  d[0].title = "input";
  d[1].title = "autoencoder";
  Tensor sum1, sum2;
  for (int64_t k = 0; k < r.count; ++k) {
    const Tensor img = infer::to_image(model.space(), latents[static_cast<size_t>(k)]);
    char name[64];
    std::snprintf(name, sizeof name, "variation_%02lld.nii.gz", static_cast<long long>(k + 1));
    const data::Volume v = volume_like(img, scan.volume);
    out.variations.push_back((dir / name).string());
    data::write_nifti(out.variations.back(), v);
    rows.push_back(v);
    data::Display dk;
    dk.title = "variation " + std::to_string(k + 1);
    d.push_back(dk);
    const Tensor f = img.to(DType::F64);
    sum1 = sum1.defined() ? add(sum1, f) : f;
    sum2 = sum2.defined() ? add(sum2, mul(f, f)) : mul(f, f);
  }
  for (auto& dk : d) dk.vmin = 0.0, dk.vmax = 1.0;
  const double n = static_cast<double>(r.count);
  const Tensor mean_img = mul_scalar(sum1, 1.0 / n);
  const Tensor var = clamp(sub(mul_scalar(sum2, 1.0 / n), mul(mean_img, mean_img)), 0.0, 1e300);
  const Tensor sd = sqrt(var);
  out.mean_voxel_std = mean(sd).item();
  out.stddev = (dir / "variation_std.nii.gz").string();
  data::write_nifti(out.stddev, volume_like(sd, scan.volume));
  out.figure = (dir / "figure.png").string();
  data::write_png(out.figure, data::figure_grid(rows, d));
  nlohmann::ordered_json j;
  j["command"] = "vary";
  j["image"] = fs::absolute(r.image).lexically_normal().string();
  j["count"] = r.count;
  j["seed"] = r.seed;
  j["sampler"] = sampler_json(sampler);
  j["mean_voxel_std"] = out.mean_voxel_std;
  j["provenance"] = r.provenance;
  out.summary = (dir / "vary.json").string();
  run::write_json_atomic(out.summary, j);
  return out;
}

// ---- manipulate ----------------------------------------------------------------------------

namespace {

// "+1.00", "-0.50", "+0.00": the alpha in file names and titles.
std::string signed_alpha(double a) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%+.2f", a == 0 ? 0.0 : a);  // no "-0.00"
  return buf;
}

}  // namespace

ManipulateResult manipulate_scan(infer::LdaeModel& model, const ManipulateRequest& r) {
  const std::string op = "manipulate";
  NoGrad no_grad;
  check(!r.alphas.empty() && r.alphas.size() <= 32, op,
        "give 1 to 32 alphas, got " + std::to_string(r.alphas.size()));
  for (size_t i = 0; i < r.alphas.size(); ++i) {
    check(std::isfinite(r.alphas[i]), op, "alpha " + number(r.alphas[i]) + " is not a finite number");
    for (size_t j = 0; j < i; ++j)
      check(signed_alpha(r.alphas[i]) != signed_alpha(r.alphas[j]), op,
            "alphas " + number(r.alphas[j]) + " and " + number(r.alphas[i]) +
                " are the same to two decimals (they would share a file)");
  }
  check(model.shift_unet && model.encoder, op, "the model lacks a network");
  const Scan scan = read_scan(op, model, r.image);
  check(!r.probe.empty(), op, "no probe file given");
  const std::shared_ptr<nets::LinearProbe> probe = probe::load_classifier(op, r.probe);
  const int64_t width = model.encoder->options().emb_chans;  // E
  check(probe->features() == width, op,
        r.probe + ": the probe reads " + std::to_string(probe->features()) + " features, the semantic encoder gives " +
            std::to_string(width) + " (a probe of another run or of other features?)");
  prepare_out(op, r.out);
  const Tensor y = infer::semantic_code(*model.encoder, scan.tensor);  // (1, E)

  const Tensor w = probe->direction();  // (E), on z-scored codes (the probe's mean and std)
  infer::AutoencodingOptions sampler = r.sampler.in_space(model.space());
  if (r.progress) sampler.on_step = stderr_progress("manipulate: x_T");
  const Tensor z0 = infer::scaled_latent(model.space(), scan.tensor);
  const Tensor xT = infer::encode_xT(*model.shift_unet, model.schedule, z0, y, sampler.ddim("encode"));
  end_progress(r.progress);

  // Alpha 0 first (the reference), then the requested alphas (an alpha of exactly 0 reuses the
  // reference), each decoded from the same x_T.
  auto decode = [&](double a, size_t k) {
    if (r.progress)
      sampler.on_step = stderr_progress("manipulate: alpha " + signed_alpha(a) + " (" + std::to_string(k) + "/" +
                                        std::to_string(r.alphas.size() + 1) + ")");
    const Tensor lat = infer::manipulate(*model.shift_unet, model.schedule, y, xT, w, a, sampler.ddim("decode"),
                                         probe->mean, probe->std);
    return infer::to_image(model.space(), lat);
  };
  const Tensor reference_image = decode(0.0, 1);
  std::vector<Tensor> images;  // one per requested alpha
  for (size_t k = 0; k < r.alphas.size(); ++k)
    images.push_back(r.alphas[k] == 0.0 ? reference_image : decode(r.alphas[k], k + 2));
  end_progress(r.progress);

  ManipulateResult out;
  const fs::path dir(r.out);
  out.input_ad_probability = probe->probabilities(y)[0];
  const Tensor reference = reference_image.to(DType::F64);
  std::vector<data::Volume> rows = {scan.volume, volume_like(infer::to_image(model.space(), z0), scan.volume)};
  std::vector<data::Display> d(2);
  d[0].title = "input, P(AD) " + number(std::round(out.input_ad_probability * 1000) / 1000);
  d[1].title = "autoencoder";
  nlohmann::ordered_json per_alpha = nlohmann::ordered_json::array();
  for (size_t k = 0; k < r.alphas.size(); ++k) {
    const double a = r.alphas[k];
    const Tensor& img = images[k];
    ManipulatedImage m;
    m.alpha = a;
    m.file = (dir / ("manipulated_alpha_" + signed_alpha(a) + ".nii.gz")).string();
    m.ad_probability = probe->probabilities(infer::semantic_code(*model.encoder, img))[0];
    m.mean_abs_change = mean(abs(sub(img.to(DType::F64), reference))).item();
    const data::Volume v = volume_like(img, scan.volume);
    data::write_nifti(m.file, v);
    rows.push_back(v);
    data::Display dk;
    dk.title = "alpha " + signed_alpha(a) + (a > 0 ? " (to AD)" : a < 0 ? " (to CN)" : "") + ", P(AD) " +
               number(std::round(m.ad_probability * 1000) / 1000);
    d.push_back(dk);
    per_alpha.push_back({{"alpha", a},
                         {"file", fs::path(m.file).filename().string()},
                         {"ad_probability_reencoded", m.ad_probability},
                         {"mean_abs_change_vs_alpha_0", m.mean_abs_change}});
    out.images.push_back(m);
  }
  for (auto& dk : d) dk.vmin = 0.0, dk.vmax = 1.0;
  // The largest alpha (or, when every alpha is <= 0, the smallest) against alpha 0.
  size_t extreme = std::max_element(r.alphas.begin(), r.alphas.end()) - r.alphas.begin();
  if (r.alphas[extreme] <= 0) extreme = std::min_element(r.alphas.begin(), r.alphas.end()) - r.alphas.begin();
  if (r.alphas[extreme] != 0.0) {
    rows.push_back(data::difference(volume_like(reference_image, scan.volume), volume_like(images[extreme], scan.volume)));
    data::Display dd;
    dd.map = data::ColorMap::Diverging;
    dd.title = "alpha " + signed_alpha(r.alphas[extreme]) + " minus alpha 0";
    d.push_back(dd);
  }
  out.figure = (dir / "figure.png").string();
  data::write_png(out.figure, data::figure_grid(rows, d));

  nlohmann::ordered_json j;
  j["command"] = "manipulate";
  j["image"] = fs::absolute(r.image).lexically_normal().string();
  j["probe"] = fs::absolute(r.probe).lexically_normal().string();
  j["direction"] =
      "y' = ((y - mean) / std + alpha sqrt(E) w / |w|) std + mean, w the AD-vs-CN probe's weight (AD positive: "
      "alpha > 0 towards AD), decoded from the scan's own x_T";
  j["features"] = width;
  j["input_ad_probability"] = out.input_ad_probability;
  j["alphas"] = per_alpha;
  j["sampler"] = sampler_json(sampler);
  j["provenance"] = r.provenance;
  out.summary = (dir / "manipulate.json").string();
  run::write_json_atomic(out.summary, j);
  return out;
}

// ---- interpolate ---------------------------------------------------------------------------

InterpolateResult interpolate_visits(infer::LdaeModel& model, const InterpolateRequest& r) {
  const std::string op = "interpolate";
  NoGrad no_grad;
  check(!r.manifest.empty(), op, "no manifest given");
  check(!r.subject.empty(), op, "no subject given");
  data::Manifest manifest;
  try {
    manifest = data::read_manifest(r.manifest);
  } catch (const Error& e) {
    fail(op, e.what());
  }
  std::map<int64_t, size_t> visit;  // months -> manifest row
  for (size_t i = 0; i < manifest.rows.size(); ++i)
    if (manifest.rows[i].subject == r.subject) visit[manifest.rows[i].session] = i;
  check(!visit.empty(), op, r.manifest + ": no subject '" + r.subject + "'");
  auto sessions = [&] {
    std::string s;
    for (const auto& [m, row] : visit) s += (s.empty() ? "" : ", ") + std::to_string(m);
    return s;
  };
  check(visit.size() >= 2, op, r.subject + " has one visit (" + sessions() + " months); two are needed");
  const int64_t from = r.from >= 0 ? r.from : visit.begin()->first;
  const int64_t to = r.to >= 0 ? r.to : visit.rbegin()->first;
  for (int64_t t : {from, to})
    check(visit.count(t) == 1, op,
          r.subject + " has no visit at " + std::to_string(t) + " months (its visits: " + sessions() + ")");
  check(from < to, op, "--from (" + std::to_string(from) + ") must be before --to (" + std::to_string(to) + ")");
  std::vector<int64_t> times = r.at;
  if (times.empty())
    for (const auto& [m, row] : visit)
      if (m > from && m < to) times.push_back(m);
  check(!times.empty(), op,
        r.subject + " has no visit between " + std::to_string(from) + " and " + std::to_string(to) +
            " months; name the times to predict with --at");
  std::sort(times.begin(), times.end());
  for (size_t i = 0; i < times.size(); ++i) {
    check(times[i] > from && times[i] < to, op,
          std::to_string(times[i]) + " months is not strictly between " + std::to_string(from) + " and " +
              std::to_string(to));
    check(i == 0 || times[i] != times[i - 1], op, std::to_string(times[i]) + " months is given twice");
  }
  // Every scan read (and its size checked) before any network call.
  const Scan a = read_scan(op, model, manifest.rows[visit.at(from)].full_path);
  const Scan b = read_scan(op, model, manifest.rows[visit.at(to)].full_path);
  std::map<int64_t, Scan> real;
  for (int64_t t : times)
    if (visit.count(t)) real[t] = read_scan(op, model, manifest.rows[visit.at(t)].full_path);
  prepare_out(op, r.out);

  infer::AutoencodingOptions sampler = r.sampler.in_space(model.space());
  Tensor y[2], xT[2];
  const Scan* known[2] = {&a, &b};
  for (int v = 0; v < 2; ++v) {
    if (r.progress) sampler.on_step = stderr_progress(std::string("interpolate: x_T of visit ") + (v ? "2/2" : "1/2"));
    y[v] = infer::semantic_code(*model.encoder, known[v]->tensor);
    const Tensor z0 = infer::scaled_latent(model.space(), known[v]->tensor);
    xT[v] = infer::encode_xT(*model.shift_unet, model.schedule, z0, y[v], sampler.ddim("encode"));
  }
  end_progress(r.progress);

  InterpolateResult out;
  out.from = from;
  out.to = to;
  const fs::path dir(r.out);
  std::vector<data::Volume> rows = {a.volume};
  std::vector<data::Display> d(1);
  d[0].title = r.subject + " " + months_label(from) + " (known)";
  nlohmann::ordered_json per_time = nlohmann::ordered_json::array();
  for (size_t i = 0; i < times.size(); ++i) {
    InterpolatedVisit v;
    v.months = times[i];
    v.fraction = static_cast<double>(times[i] - from) / static_cast<double>(to - from);
    if (r.progress)
      sampler.on_step = stderr_progress("interpolate: " + months_label(v.months) + " (" + std::to_string(i + 1) + "/" +
                                        std::to_string(times.size()) + ")");
    const Tensor lat = infer::interpolate(*model.shift_unet, model.schedule, y[0], y[1], xT[0], xT[1],
                                          {v.fraction}, sampler.ddim("decode"))[0];
    const Tensor img = infer::to_image(model.space(), lat);
    v.file = (dir / ("interpolated_" + months_label(v.months) + ".nii.gz")).string();
    const data::Volume vol = volume_like(img, a.volume);
    data::write_nifti(v.file, vol);
    nlohmann::ordered_json jt = {{"months", v.months},
                                 {"fraction", v.fraction},
                                 {"file", fs::path(v.file).filename().string()}};
    data::Display dp;
    dp.title = months_label(v.months) + ": LDAE (f = " + number(std::round(v.fraction * 1000) / 1000) + ")";
    if (real.count(v.months)) {
      const Tensor& x = real.at(v.months).tensor;
      const Tensor blend = add(mul_scalar(a.tensor, 1.0 - v.fraction), mul_scalar(b.tensor, v.fraction));
      v.scored = true;
      v.ldae = scores(img, x);
      v.nearest_visit = scores(v.fraction <= 0.5 ? a.tensor : b.tensor, x);
      v.linear_blend = scores(blend, x);
      v.ldae_vs_autoencoder = scores(img, infer::to_image(model.space(), infer::scaled_latent(model.space(), x)));
      jt["ldae"] = scores_json(v.ldae);
      jt["nearest_visit"] = scores_json(v.nearest_visit);
      jt["linear_blend"] = scores_json(v.linear_blend);
      jt["ldae_vs_autoencoder_reconstruction"] = scores_json(v.ldae_vs_autoencoder);
      dp.title += ", SSIM " + number(std::round(v.ldae.ssim * 1000) / 1000);
      rows.push_back(real.at(v.months).volume);
      data::Display dr;
      dr.title = months_label(v.months) + ": real scan";
      d.push_back(dr);
      rows.push_back(vol);
      d.push_back(dp);
      rows.push_back(volume_like(blend, a.volume));
      data::Display db;
      db.title = months_label(v.months) + ": linear blend, SSIM " +
                 number(std::round(v.linear_blend.ssim * 1000) / 1000);
      d.push_back(db);
    } else {
      jt["scored"] = "no real scan at this time";
      rows.push_back(vol);
      d.push_back(dp);
    }
    per_time.push_back(jt);
    out.visits.push_back(v);
  }
  end_progress(r.progress);
  rows.push_back(b.volume);
  data::Display db;
  db.title = r.subject + " " + months_label(to) + " (known)";
  d.push_back(db);
  for (auto& dk : d) dk.vmin = 0.0, dk.vmax = 1.0;
  out.figure = (dir / "figure.png").string();
  data::write_png(out.figure, data::figure_grid(rows, d));

  nlohmann::ordered_json j;
  j["command"] = "interpolate";
  j["manifest"] = fs::absolute(r.manifest).lexically_normal().string();
  j["subject"] = r.subject;
  j["from"] = from;
  j["to"] = to;
  j["method"] =
      "y_sem LERP and x_T SLERP between the two known visits at the time fraction f, decoded; baselines: the "
      "nearer known visit and the linear blend (1 - f) x_from + f x_to";
  j["predictions"] = per_time;
  j["sampler"] = sampler_json(sampler);
  j["provenance"] = r.provenance;
  out.summary = (dir / "interpolate.json").string();
  run::write_json_atomic(out.summary, j);
  return out;
}

}  // namespace ldae::stages
