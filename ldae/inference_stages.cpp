#include "ldae/inference_stages.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>

#include "autograd/no_grad.h"
#include "data/figures.h"
#include "data/manifest.h"
#include "data/preprocess.h"
#include "ldae/metrics.h"
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

// The (X, Y, Z) of a (1, 1, X, Y, Z) tensor as a volume with `like`'s affine.
data::Volume as_volume(const Tensor& t, const data::Volume& like) {
  const Shape s = like.voxels.shape();
  return data::make_volume(t.detach().reshape({s[0], s[1], s[2]}).contiguous(), like.affine, like.space_code);
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
  const data::Volume recon = as_volume(rec.image, scan.volume);
  const data::Volume ae = as_volume(rec.autoencoder_image, scan.volume);
  data::write_nifti(out.reconstruction, recon);
  data::write_nifti(out.autoencoder_reconstruction, ae);

  const data::Volume diff = as_volume(abs(sub(rec.image, scan.tensor)), scan.volume);
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
                                    as_volume(infer::to_image(model.space(), z0), scan.volume)};
  std::vector<data::Display> d(2);
  d[0].title = "input";
  d[1].title = "autoencoder";
  Tensor sum1, sum2;
  for (int64_t k = 0; k < r.count; ++k) {
    const Tensor img = infer::to_image(model.space(), latents[static_cast<size_t>(k)]);
    char name[64];
    std::snprintf(name, sizeof name, "variation_%02lld.nii.gz", static_cast<long long>(k + 1));
    const data::Volume v = as_volume(img, scan.volume);
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
  data::write_nifti(out.stddev, as_volume(sd, scan.volume));
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

}  // namespace ldae::stages
