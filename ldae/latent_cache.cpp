#include "ldae/latent_cache.h"

#include <cctype>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <set>
#include <sstream>

#include "autograd/no_grad.h"
#include "data/nifti.h"
#include "data/preprocess.h"
#include "ldae/autoencoding.h"
#include "ldae/presets.h"
#include "ldae/run/run_folder.h"
#include "ldae/train_ae.h"
#include "nn/progress.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"

namespace ldae::stages {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

const char* kCacheLatentsStage = "cache-latents";

std::string absolute(const std::string& p) { return fs::absolute(p).lexically_normal().string(); }

// "latents/<subject>_ses-M<MM>.safetensors", the subject's characters other than letters,
// digits, '-' and '_' replaced by '_'; a name already taken (ignoring case) gets "_row<N>".
std::vector<std::string> latent_names(const data::Manifest& m) {
  std::vector<std::string> names;
  std::set<std::string> taken;
  for (size_t r = 0; r < m.rows.size(); ++r) {
    std::string subject = m.rows[r].subject;
    for (char& c : subject)
      if (!std::isalnum(static_cast<unsigned char>(c)) && c != '-' && c != '_') c = '_';
    char session[32];
    std::snprintf(session, sizeof session, "_ses-M%02lld", static_cast<long long>(m.rows[r].session));
    std::string stem = subject + session;
    auto lower = [](std::string s) {
      for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      return s;
    };
    if (taken.count(lower(stem))) stem += "_row" + std::to_string(r + 1);
    taken.insert(lower(stem));
    names.push_back("latents/" + stem + ".safetensors");
  }
  return names;
}

// Mean and (unbiased) standard deviation of every element of `tensors`, in double.
std::pair<double, double> mean_std(const std::vector<Tensor>& tensors) {
  double n = 0, sum = 0;
  for (const Tensor& t : tensors)
    for (double v : t.to_vector()) {
      sum += v;
      n += 1;
    }
  const double mu = sum / n;
  double ss = 0;
  for (const Tensor& t : tensors)
    for (double v : t.to_vector()) ss += (v - mu) * (v - mu);
  return {mu, n > 1 ? std::sqrt(ss / (n - 1)) : 0.0};
}

}  // namespace

CacheLatentsResult cache_latents(const CacheLatentsRequest& r) {
  // ---- Arguments and the autoencoder run ----
  if (r.which != "best" && r.which != "last")
    fail(kCacheLatentsStage, "the autoencoder checkpoint must be \"best\" or \"last\", not \"" + r.which + "\"");
  if (!(r.scale >= 0) || !std::isfinite(r.scale))
    fail(kCacheLatentsStage, "the forced scale factor must be a positive number (got " + std::to_string(r.scale) + ")");
  if (r.out.empty()) fail(kCacheLatentsStage, "no output folder given");
  if (r.image_space && r.sample)
    fail(kCacheLatentsStage, "--sample draws from the autoencoder's posterior; the image-space cache (--image-space) has no "
                 "posterior: drop one of the two");
  if (r.image_space && r.scale > 0)
    fail(kCacheLatentsStage, "the image-space cache (--image-space) has the fixed scale factor 1 (the images in [-1, 1]); "
                 "--scale is refused with it");
  const json ae_config = run::require_finished_stage(r.ae_run, "train-ae");
  const std::string preset = ae_config.value("preset", std::string());
  nets::check_preset(preset);
  const json& ae_settings = ae_config.at("settings");
  std::string manifest_path = r.manifest;
  if (manifest_path.empty()) {
    if (!ae_config.contains("data") || !ae_config["data"].contains("manifest"))
      fail(kCacheLatentsStage, r.ae_run + "/config.json names no data.manifest; give --data MANIFEST");
    manifest_path = ae_config["data"]["manifest"].get<std::string>();
  }
  Shape image_shape;
  if (ae_config.contains("data") && ae_config["data"].contains("image_shape"))
    image_shape = ae_config["data"]["image_shape"].get<Shape>();

  // ---- The manifest, its split, the volumes' shapes ----
  data::Manifest m;
  try {
    m = data::read_manifest(manifest_path);
  } catch (const Error& e) {
    fail(kCacheLatentsStage, std::string("cannot use the manifest: ") + e.what());
  }
  if (m.rows.empty()) fail(kCacheLatentsStage, manifest_path + " has no rows");
  const double val_fraction = ae_settings.at("val_fraction").get<double>();
  const double test_fraction = ae_settings.at("test_fraction").get<double>();
  const uint64_t split_seed = ae_settings.at("split_seed").get<uint64_t>();
  // Runs written before the setting existed did not stratify.
  const bool split_stratify = ae_settings.value("split_stratify", false);
  const data::Split split = data::split_by_subject(m, val_fraction, test_fraction, split_seed, split_stratify);
  if (split.train.empty()) fail(kCacheLatentsStage, "the training split of " + manifest_path + " is empty");
  for (size_t row = 0; row < m.rows.size(); ++row) {
    const std::string& file = m.rows[row].full_path;
    data::Volume h;
    try {
      h = data::read_nifti_header(file);
    } catch (const Error& e) {
      fail(kCacheLatentsStage, m.source + ":" + std::to_string(m.rows[row].line) + ": " + e.what());
    }
    const Shape hs = {h.meta.dim[1], h.meta.dim[2], h.meta.dim[3]};
    if (image_shape.empty()) image_shape = hs;
    if (h.meta.dim[0] != 3 || hs != image_shape)
      fail(kCacheLatentsStage, m.source + ":" + std::to_string(m.rows[row].line) + ": " + file + " has shape " + shape_str(hs) +
                       ", but the autoencoder of " + r.ae_run + " was trained on volumes of " +
                       shape_str(image_shape) + " (ldae preprocess --shape)");
  }
  const nets::AutoencoderKLOptions ae_options = nets::autoencoder_kl_preset(preset);
  const Shape image5 = {1, 1, image_shape[0], image_shape[1], image_shape[2]};
  const Shape latent5 = r.image_space ? image5 : nets::autoencoder_kl_latent_shape(ae_options, image5);
  const Shape latent_shape(latent5.begin() + 1, latent5.end());  // (C, D, H, W); image space (1, X, Y, Z)
  const std::string mode = r.image_space ? "image" : r.sample ? "sample" : "mean";

  // ---- The request, and what the folder already holds ----
  json request;
  request["manifest"] = absolute(manifest_path);
  request["autoencoder_run"] = absolute(r.ae_run);
  if (!r.image_space) request["autoencoder_checkpoint"] = r.which;  // image space: RUN1's weights are unused
  request["mode"] = mode;
  if (r.image_space) request["space"] = "image";  // (latent caches made before the field lack it)
  request["seed"] = r.sample ? json(r.seed) : json(nullptr);
  request["scale"] = r.scale > 0 ? json(r.scale) : json(nullptr);
  const std::string info_path = (fs::path(r.out) / "latents.json").string();
  std::error_code ec;
  if (fs::exists(r.out, ec) && !fs::is_directory(r.out, ec)) fail(kCacheLatentsStage, r.out + " exists and is not a folder");
  if (fs::exists(info_path, ec)) {
    const json info = run::read_json(info_path);
    if (info.value("complete", false) && info.contains("request")) {
      const std::vector<std::string> diff = run::config_differences(info["request"], request);
      if (diff.empty()) {
        CacheLatentsResult res;
        res.already_complete = true;
        res.scale_factor = info.at("scale_factor").get<double>();
        res.latent_shape = info.at("latent_shape").get<Shape>();
        res.count = info.at("count").get<int64_t>();
        res.latent_std = info.value("latent_std", 0.0);
        std::cerr << "cache-latents: " << r.out << " is already complete (latents.json); nothing to do\n";
        return res;
      }
      std::string msg = r.out + " holds a complete latent cache made with other arguments:";
      for (const auto& d : diff) msg += "\n  " + d;
      fail(kCacheLatentsStage, msg + "\nuse another --out, or remove the folder to rebuild it");
    }
  } else if (fs::is_directory(r.out, ec) && !fs::is_empty(r.out, ec) &&
             !fs::is_directory(fs::path(r.out) / "latents", ec)) {
    fail(kCacheLatentsStage, r.out + " is not empty and is not a latent cache (no latents.json, no latents/); choose an "
                        "empty or new folder");
  }
  fs::create_directories(fs::path(r.out) / "latents", ec);
  if (ec) fail(kCacheLatentsStage, "cannot create " + (fs::path(r.out) / "latents").string() + ": " + ec.message());
  fs::remove(info_path, ec);  // an incomplete cache is rebuilt from scratch

  // ---- Encode every row ----
  std::shared_ptr<nets::AutoencoderKL> ae;  // image space: none (the split and preset come from RUN1)
  if (!r.image_space) ae = load_trained_autoencoder(r.ae_run, preset, r.which);
  const std::vector<std::string> names = latent_names(m);
  std::vector<int> part(m.rows.size(), 0);  // 0 train, 1 val, 2 test
  for (size_t row : split.val) part[row] = 1;
  for (size_t row : split.test) part[row] = 2;
  std::vector<Tensor> train_latents;
  nn::ProgressOptions po;
  std::ostringstream sink;
  if (!r.progress) po.out = &sink;
  nn::Progress progress(kCacheLatentsStage, static_cast<int64_t>(m.rows.size()), 0, po);
  if (r.image_space)
    std::cerr << "cache-latents: " << m.rows.size() << " scans of " << shape_str(image_shape)
              << " -> image space " << shape_str(latent_shape) << " (2 x - 1), split and preset " << preset
              << " of " << r.ae_run << "\n";
  else
    std::cerr << "cache-latents: " << m.rows.size() << " scans of " << shape_str(image_shape) << " -> latents "
              << shape_str(latent_shape) << " (" << (r.sample ? "one posterior sample" : "posterior mean")
              << "), autoencoder " << r.ae_run << " (" << r.which << ", preset " << preset << ")\n";
  {
    NoGrad no_grad;
    data::ReadOptions quiet;
    quiet.quiet = true;
    for (size_t row = 0; row < m.rows.size(); ++row) {
      const data::Volume vol = data::normalize_intensity(data::read_nifti(m.rows[row].full_path, quiet));
      const Tensor x = vol.voxels.reshape({1, 1, image_shape[0], image_shape[1], image_shape[2]});
      Tensor z;  // (1, C, D, H, W)
      if (r.image_space) {
        z = infer::image_to_diffusion(x, 1.0);  // (1, 1, X, Y, Z) in [-1, 1]
      } else {
        auto [mu, sigma] = ae->encode(x);
        z = mu;
        if (r.sample) {
          Generator g(r.seed, static_cast<uint64_t>(row) << 40);  // one stream per row
          z = ae->sample(mu, sigma, g);
        }
      }
      const Tensor latent = z.reshape(latent_shape).contiguous();
      for (double v : latent.to_vector())
        if (!std::isfinite(v))
          fail(kCacheLatentsStage, m.source + ":" + std::to_string(m.rows[row].line) + ": the latent of " + m.rows[row].full_path +
                           " is not finite (the autoencoder of " + r.ae_run + " gives NaN or infinity); the cache "
                           "is left incomplete");
      if (part[row] == 0) train_latents.push_back(latent);
      const std::string file = (fs::path(r.out) / names[row]).string();
      write_safetensors(file, {{"latent", latent}},
                        {{"subject", m.rows[row].subject},
                         {"session", std::to_string(m.rows[row].session)},
                         {"mode", mode}});
      progress.update(static_cast<int64_t>(row) + 1);
    }
  }
  progress.finish();

  // ---- The scale factor ----
  const auto [latent_mean, latent_std] = mean_std(train_latents);
  if (r.scale <= 0 && !r.image_space && !(latent_std > 0))
    fail(kCacheLatentsStage, "the training latents have no spread (std " + std::to_string(latent_std) +
                     "), so 1/std is not a scale factor; force one with --scale");
  const double scale = r.image_space ? 1.0 : r.scale > 0 ? r.scale : 1.0 / latent_std;

  // ---- manifest.csv, then latents.json ----
  data::Manifest out = m;
  const int64_t path_col = out.column_index("path");
  std::vector<std::string> split_col, latent_col;
  for (size_t row = 0; row < out.rows.size(); ++row) {
    const std::string abs_path = absolute(out.rows[row].full_path);
    out.rows[row].fields[static_cast<size_t>(path_col)] = abs_path;
    out.rows[row].path = abs_path;
    split_col.push_back(part[row] == 0 ? "train" : part[row] == 1 ? "val" : "test");
    latent_col.push_back(names[row]);
  }
  out.set_column("split", split_col);
  out.set_column("latent_path", latent_col);
  data::write_manifest((fs::path(r.out) / "manifest.csv").string(), out);

  ordered_json info;
  info["stage"] = kCacheLatentsStage;
  info["complete"] = true;
  info["autoencoder_run"] = absolute(r.ae_run);
  if (!r.image_space) info["autoencoder_checkpoint"] = r.which;
  info["preset"] = preset;
  info["mode"] = mode;
  info["space"] = r.image_space ? "image" : "latent";
  info["scale_factor"] = scale;
  info["scale_source"] = r.image_space ? "image space: fixed 1"
                         : r.scale > 0 ? "forced"
                                       : "1/std of the training latents";
  info["latent_mean"] = latent_mean;
  info["latent_std"] = latent_std;
  info["latent_shape"] = latent_shape;
  info["image_shape"] = image_shape;
  info["count"] = m.rows.size();
  info["split"] = {{"train", split.train.size()}, {"val", split.val.size()}, {"test", split.test.size()}};
  info["split_settings"] = {{"val_fraction", val_fraction}, {"test_fraction", test_fraction}, {"split_seed", split_seed}, {"split_stratify", split_stratify}};
  info["transform"] = r.image_space ? "per-volume min-max to [0, 1], then 2 x - 1" : "per-volume min-max to [0, 1]";
  info["request"] = request;
  info["version"] = run::program_version();
  run::write_json_atomic(info_path, info);

  CacheLatentsResult res;
  res.scale_factor = scale;
  res.latent_shape = latent_shape;
  res.count = static_cast<int64_t>(m.rows.size());
  res.latent_std = latent_std;
  return res;
}

LatentCache open_latent_cache(const std::string& folder) {
  const std::string op = "latent cache " + folder;
  std::error_code ec;
  if (!fs::is_directory(folder, ec)) fail(op, "does not exist (make it with 'ldae cache-latents')");
  const std::string info_path = (fs::path(folder) / "latents.json").string();
  if (!fs::exists(info_path, ec))
    fail(op, "is not complete (no latents.json): run the same 'ldae cache-latents' command again to finish it");
  LatentCache c;
  c.folder = absolute(folder);
  c.info = run::read_json(info_path);
  if (c.info.value("stage", std::string()) != kCacheLatentsStage || !c.info.value("complete", false))
    fail(op, "latents.json does not mark a complete cache-latents folder");
  try {
    c.scale_factor = c.info.at("scale_factor").get<double>();
    c.latent_shape = c.info.at("latent_shape").get<Shape>();
    c.autoencoder_run = c.info.at("autoencoder_run").get<std::string>();
    c.preset = c.info.at("preset").get<std::string>();
    c.image_space = c.info.value("space", std::string("latent")) == "image";
  } catch (const std::exception& e) {
    fail(op, std::string("latents.json lacks a field or has a wrong type: ") + e.what());
  }
  if (!(c.scale_factor > 0) || !std::isfinite(c.scale_factor) || c.latent_shape.size() != 4)
    fail(op, "latents.json has an invalid scale_factor or latent_shape");
  data::ManifestOptions mo;
  mo.check_files = false;
  c.manifest = data::read_manifest((fs::path(folder) / "manifest.csv").string(), mo);
  if (c.manifest.column_index("split") < 0 || c.manifest.column_index("latent_path") < 0)
    fail(op, "manifest.csv lacks the split / latent_path columns");
  for (size_t row = 0; row < c.manifest.rows.size(); ++row) {
    const std::string& s = c.manifest.field(row, "split");
    if (s != "train" && s != "val" && s != "test")
      fail(op, "manifest.csv line " + std::to_string(c.manifest.rows[row].line) + ": split \"" + s +
                   "\" is not train, val or test");
  }
  return c;
}

Tensor read_latent(const LatentCache& c, size_t row) {
  check(row < c.manifest.rows.size(), "read_latent", "row " + std::to_string(row) + " is not in the cache");
  const std::string file = (fs::path(c.folder) / c.manifest.field(row, "latent_path")).string();
  SafetensorsFile f = read_safetensors(file);
  auto it = f.tensors.find("latent");
  check(it != f.tensors.end(), "read_latent", file + " holds no tensor \"latent\"");
  check(it->second.shape() == c.latent_shape, "read_latent",
        file + " has shape " + shape_str(it->second.shape()) + ", the cache's latents are " + shape_str(c.latent_shape));
  return it->second.to(DType::F32);
}

Tensor read_scaled_latent(const LatentCache& c, size_t row) {
  return mul_scalar(read_latent(c, row), c.scale_factor).contiguous();
}

std::vector<size_t> rows_of_split(const LatentCache& c, const std::string& split) {
  check(split == "train" || split == "val" || split == "test", "rows_of_split",
        "split must be train, val or test, not \"" + split + "\"");
  std::vector<size_t> rows;
  for (size_t row = 0; row < c.manifest.rows.size(); ++row)
    if (c.manifest.field(row, "split") == split) rows.push_back(row);
  return rows;
}

}  // namespace ldae::stages
