#include "ldae/train_repr.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <map>
#include <optional>
#include <sstream>

#include "autograd/no_grad.h"
#include "data/figures.h"
#include "data/loader.h"
#include "data/nifti.h"
#include "data/preprocess.h"
#include "diffusion/ddim.h"
#include "ldae/autoencoding.h"
#include "ldae/code_swap.h"
#include "ldae/feature_table.h"
#include "ldae/latent_cache.h"
#include "ldae/metrics.h"
#include "ldae/pdae_step.h"
#include "ldae/presets.h"
#include "ldae/run/checkpoint_book.h"
#include "ldae/run/checkpoint_values.h"
#include "ldae/train_ae.h"
#include "ldae/train_ldm.h"
#include "ldae/train_repr_settings.h"
#include "nn/adam.h"
#include "nn/checkpoint.h"
#include "nn/clip_grad.h"
#include "nn/csv_log.h"
#include "nn/progress.h"
#include "tensor/ops.h"

namespace ldae::stages {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

const char* kTrainReprStage = "train-repr";
const char* kLdmStage = "train-ldm";

// Existing modules under new names, sharing their tensors: one checkpoint, optimizer and
// EMA over the encoder and the shift branch together.
class ModuleView : public nn::Module {
 public:
  explicit ModuleView(
      const std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>>& children) {
    for (const auto& [name, child] : children) register_module(name, child);
  }
};

// The trainable parts: "encoder.*" and "shift_unet.<label_emb|shift_*>.*" (the ShiftUNet's
// own key names below "shift_unet.").
std::shared_ptr<ModuleView> trainable_view(
    const std::shared_ptr<nets::AttentionSemanticEncoder>& encoder,
    const std::shared_ptr<nets::ShiftUNet>& net) {
  std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>> shift;
  for (const auto& [name, child] : net->named_children())
    if (!nets::ShiftUNet::is_frozen_key(name + ".")) shift.push_back({name, child});
  auto shift_view = std::make_shared<ModuleView>(shift);
  return std::make_shared<ModuleView>(
      std::vector<std::pair<std::string, std::shared_ptr<nn::Module>>>{{"encoder", encoder},
                                                                       {"shift_unet", shift_view}});
}

// Exact numbers in checkpoint metadata (ldae/run/checkpoint_values.h).
using run::exact;
const std::string& meta(const std::map<std::string, std::string>& m, const std::string& key,
                        const std::string& path) {
  auto it = m.find(key);
  check(it != m.end(), kTrainReprStage, path + " lacks metadata \"" + key + "\"");
  return it->second;
}

// Everything train_repr and load_trained_ldae read from RUN2, LAT and RUN1.
struct Upstream {
  std::string ldm_run, latents, autoencoder_run, autoencoder_checkpoint;
  std::string ldm_checkpoint;  // RUN2's last.safetensors
  nlohmann::json ldm_config;
  LatentCache cache;
  bool image_space = false;  // the image-space DAE baseline: no autoencoder, the image is diffused
};

Upstream open_upstream(const std::string& run2, const std::string& preset) {
  Upstream u;
  u.ldm_run = fs::absolute(run2).lexically_normal().string();
  u.ldm_config = run::require_finished_stage(run2, kLdmStage, {{"preset", preset}});
  const nlohmann::json d = u.ldm_config.value("data", nlohmann::json::object());
  check(d.contains("latents") && d["latents"].is_string(), kTrainReprStage,
        "run folder " + run2 + ": its config.json does not name the latent cache (data.latents)");
  u.latents = d["latents"].get<std::string>();
  u.cache = open_latent_cache(u.latents);
  if (u.cache.preset != preset)
    fail(kTrainReprStage, "the latent cache " + u.latents + " was made at preset \"" + u.cache.preset +
                     "\", this run is \"" + preset + "\"");
  u.autoencoder_run = fs::absolute(u.cache.autoencoder_run).lexically_normal().string();
  u.autoencoder_checkpoint = u.cache.info.value("autoencoder_checkpoint", std::string("best"));
  u.ldm_checkpoint = trained_unet_path(run2, "last");
  u.image_space = u.cache.image_space;
  if (is_image_space_run(u.ldm_config) != u.image_space)
    fail(kTrainReprStage, "run folder " + run2 + " was trained in " + (u.image_space ? "latent" : "image") +
                     " space, but its cache " + u.latents + " is in " + (u.image_space ? "image" : "latent") +
                     " space (the cache was rebuilt?)");
  return u;
}

// The ShiftUNet of `preset` (on the image for an image-space RUN2) with RUN2's UNet arguments
// where its settings change them (the dropout, which the shift branch uses too: the published
// ShiftUNet takes the UNet's args).
nets::ShiftUNetOptions shift_unet_options_for(const std::string& preset,
                                              const nlohmann::json& ldm_config,
                                              const std::string& code_norm) {
  nets::ShiftUNetOptions o = nets::shift_unet_preset(preset);
  o.code_norm = nets::parse_code_norm(code_norm);
  if (is_image_space_run(ldm_config)) o.unet = nets::image_space_unet_options(o.unet);  // as train-ldm built it
  const nlohmann::json st = ldm_config.value("settings", nlohmann::json::object());
  if (st.contains("dropout") && st["dropout"].is_number())
    o.unet.dropout = st["dropout"].get<double>();
  return o;
}

struct ReprValidation {
  double ssim = 0, mse = 0;
  double y_sem_spread = std::numeric_limits<double>::quiet_NaN();  // probe::feature_spread ratio of the spread scans' codes
  std::optional<nets::CodeSwap> swap;  // the code-swap check (none: off or one subject)
};

// Scan `row` of the cache's manifest as the encoder reads it: min-max to [0, 1], (X, Y, Z).
data::Volume read_unit_scan(const LatentCache& cache, size_t row) {
  data::ReadOptions quiet;
  quiet.quiet = true;
  return data::normalize_intensity(data::read_nifti(cache.manifest.rows[row].full_path, quiet));
}

// The codes (N, E), on the CPU, that the encoder gives the scans `rows` (on `device`, the
// encoder's). Their probe::feature_spread ratio is log.csv's y_sem_spread: near 0, the
// encoder gives every scan nearly the same code (the codes have collapsed).
Tensor spread_codes(nets::AttentionSemanticEncoder& encoder, const LatentCache& cache,
                    const std::vector<size_t>& rows, Device device) {
  std::vector<Tensor> codes;
  for (size_t row : rows) {
    const data::Volume vol = read_unit_scan(cache, row);
    const Shape s = vol.voxels.shape();  // (X, Y, Z)
    const Tensor x = vol.voxels.reshape({1, 1, s[0], s[1], s[2]}).to(device);
    codes.push_back(infer::semantic_code(encoder, x).to(cpu_device()));
  }
  return cat(codes, 0);  // (N, E)
}

// The code-swap check (ldae/code_swap.h) on the scans `rows` with their codes (N, E): each
// scan's partner is the next of another subject; none when they are all one subject's or
// timesteps is 0. The noise is the same at every call (a fixed stream), so that the epochs'
// rows compare the networks, not the draws.
std::optional<nets::CodeSwap> code_swap_check(const nets::ShiftUNet& net,
                                              const diffusion::Schedule& schedule,
                                              const LatentCache& cache,
                                              const std::vector<size_t>& rows, const Tensor& codes,
                                              int64_t timesteps, const nets::PdaeLossOptions& o,
                                              Device device) {
  if (timesteps < 1 || rows.size() < 2) return std::nullopt;
  std::vector<std::string> subjects;
  for (size_t row : rows) subjects.push_back(cache.manifest.rows[row].subject);
  const std::vector<size_t> partner = nets::other_subject_partners(subjects);
  if (partner.empty()) return std::nullopt;
  const Shape& ls = cache.latent_shape;  // (C, D, H, W)
  std::vector<Tensor> z0;
  for (size_t row : rows)
    z0.push_back(read_scaled_latent(cache, row).reshape({1, ls[0], ls[1], ls[2], ls[3]}).to(device));
  Generator gen(0x5EED5A9, 0);
  const std::vector<int64_t> t = nets::stratified_timesteps(timesteps, schedule.T(), gen);
  return nets::code_swap(net, schedule, z0, codes, partner, t, gen, o);
}

// The y_sem-only reconstruction of each validation scan (ldae-reference 5.5): y_sem from
// the encoder, a shifted DDIM sample from x_T ~ N(0, I) drawn from `gen`, decoded; scored
// by SSIM (ldae/metrics.h defaults) and MSE against the autoencoder's decoding of the true
// latent (in image space: against the image itself). The networks are used as they are (the
// caller puts the EMA weights in and sets eval mode). The first scan's figure goes to `figure`.
// The networks (and the autoencoder) are on `device`; the scores and the figure are computed
// on the CPU.
ReprValidation validate(const nets::AttentionSemanticEncoder& encoder, const nets::ShiftUNet& net,
                        const infer::DiffusionSpace& space, const LatentCache& cache,
                        const std::vector<size_t>& rows, const diffusion::Schedule& schedule,
                        const diffusion::DdimOptions& ddim, Generator gen, const std::string& figure,
                        Device device) {
  NoGrad no_grad;
  ReprValidation v;
  const Shape& ls = cache.latent_shape;  // (C, D, H, W)
  for (size_t i = 0; i < rows.size(); ++i) {
    const data::Volume vol = read_unit_scan(cache, rows[i]);
    const Shape s = vol.voxels.shape();                             // (X, Y, Z)
    const Tensor x = vol.voxels.reshape({1, 1, s[0], s[1], s[2]}).to(device);  // (1, 1, X, Y, Z)
    const Tensor y = encoder.forward(nets::axial_slices(x));                    // (1, E)
    const Tensor z0 = read_scaled_latent(cache, rows[i]).reshape({1, ls[0], ls[1], ls[2], ls[3]}).to(device);
    const Tensor x_T = randn(z0.shape(), gen, z0.dtype(), 0.0, 1.0, device);
    auto fn = [&](const Tensor& x_t, int64_t t) {
      const auto [eps, shift] =
          net.forward(x_t, Tensor::full({x_t.size(0)}, static_cast<double>(t), x_t.dtype(), device), y);
      return diffusion::EpsAndShift{eps, shift};
    };
    const Tensor z_hat = diffusion::ddim_sample_shifted(schedule, x_T, fn, ddim);
    const Tensor generated = infer::to_image(space, z_hat).to(cpu_device());  // (1, 1, X, Y, Z)
    const Tensor reference = (space.image_space() ? x : infer::to_image(space, z0)).to(cpu_device());
    v.ssim += metrics::ssim3d(generated, reference).mean;
    v.mse += metrics::mse(generated, reference).mean;
    if (i == 0) {
      data::Volume a = vol, b = vol;
      a.voxels = reference.reshape({s[0], s[1], s[2]}).contiguous();
      b.voxels = generated.reshape({s[0], s[1], s[2]}).contiguous();
      data::write_png(figure, data::comparison_figure(a, b, space.image_space() ? "image" : "autoencoder",
                                                      "y_sem only"));
    }
  }
  v.ssim /= static_cast<double>(rows.size());
  v.mse /= static_cast<double>(rows.size());
  return v;
}

// The validation's DDIM options. With val_x0_clamp "off", the data range's clamp
// (infer::data_range_clamp: [-1, 1] in image space, none in latent space), as in inference.
diffusion::DdimOptions validation_ddim(const run::Settings& s, bool image_space) {
  diffusion::DdimOptions o;
  o.steps = s.get_int("val_ddim_steps");
  o.shift_coefficient = s.get_string("val_shift_coefficient") == "reference"
                            ? diffusion::ShiftCoefficient::Reference
                            : diffusion::ShiftCoefficient::Training;
  const std::string clamp = s.get_string("val_x0_clamp");
  o.clamp = clamp == "reference" ? diffusion::X0Clamp::at(1.0)
            : clamp == "dynamic" ? diffusion::X0Clamp::dynamic(0.995)
                                 : infer::data_range_clamp(image_space);
  return o;
}

}  // namespace

const std::vector<std::string>& train_repr_log_columns() {
  static const std::vector<std::string> c = {"epoch",     "loss",      "loss_frozen", "shift_rms",
                                             "y_sem_std", "grad_norm", "val_ssim",    "val_mse",
                                             "y_sem_spread", "swap_loss_own", "swap_loss_swapped",
                                             "swap_loss_none", "swap_share"};
  return c;
}

TrainedLdae load_trained_ldae(const std::string& run3, const std::string& which, bool ema) {
  check(which == "best" || which == "last", "load_trained_ldae",
        "which must be \"best\" or \"last\", not \"" + which + "\"");
  const nlohmann::json config = run::require_finished_stage(run3, kTrainReprStage);
  TrainedLdae out;
  out.preset = config.value("preset", std::string());
  nets::check_preset(out.preset);
  const nlohmann::json d = config.value("data", nlohmann::json::object());
  const std::string run2 = d.value("ldm_run", std::string());
  const Upstream u = open_upstream(run2, out.preset);
  const std::string fp = run::file_fingerprint(u.ldm_checkpoint, kTrainReprStage);
  if (fp != d.value("ldm_checkpoint_fnv1a64", std::string()))
    fail("load_trained_ldae",
         "run folder " + run3 + ": the stage-2 checkpoint " + u.ldm_checkpoint +
             " has changed since this run was trained (fingerprint " + fp + ", recorded " +
             d.value("ldm_checkpoint_fnv1a64", std::string("(none)")) + ")");
  if (!u.image_space)  // image space: autoencoder stays null (infer::DiffusionSpace)
    out.autoencoder =
        load_trained_autoencoder(u.autoencoder_run, out.preset, u.autoencoder_checkpoint);
  out.schedule = trained_ldm_schedule(u.ldm_run);
  out.scale_factor = u.cache.scale_factor;
  // Run folders from before the setting have no code_norm: theirs was off.
  const std::string code_norm =
      config.value("settings", nlohmann::json::object()).value("code_norm", std::string("off"));
  Generator init(0);
  out.encoder = std::make_shared<nets::AttentionSemanticEncoder>(
      nets::attention_semantic_encoder_preset(out.preset), init);
  out.shift_unet =
      std::make_shared<nets::ShiftUNet>(shift_unet_options_for(out.preset, u.ldm_config, code_norm), init);
  nets::load_frozen_unet(*out.shift_unet, u.ldm_checkpoint, "ema.");
  const auto view = trainable_view(out.encoder, out.shift_unet);
  const run::RunPaths paths = run::run_paths(run3);
  nn::load_weights(which == "best" ? paths.best : paths.last, *view, ema ? "ema" : "model");
  out.encoder->eval();
  out.shift_unet->train_shift(false);
  if (out.autoencoder) out.autoencoder->eval();
  return out;
}

TrainReprResult train_repr(const TrainReprRequest& r) {
  const run::EarlyStopper stopper(r.early_stop);  // its clock starts with the command
  const run::Settings& s = r.settings;
  nets::check_preset(r.preset);
  require_usable_device(kTrainReprStage, r.device);
  const int64_t batch_size = s.get_int("batch_size"), accumulate = s.get_int("accumulate");
  const int64_t epochs = s.get_int("epochs");
  const uint64_t seed = static_cast<uint64_t>(s.get_int("seed"));

  // ---- RUN2, LAT, RUN1 ----
  const Upstream u = open_upstream(r.ldm_run, r.preset);
  const LatentCache& cache = u.cache;
  const std::vector<size_t> train_rows = rows_of_split(cache, "train");
  std::vector<size_t> val_rows = rows_of_split(cache, "val");
  if (val_rows.empty())
    fail(kTrainReprStage, "the latent cache " + u.latents + " has no validation scans (the split of " +
                     u.autoencoder_run + "): validation needs at least one");
  if (static_cast<int64_t>(train_rows.size()) < batch_size)
    fail(kTrainReprStage, "batch_size " + std::to_string(batch_size) +
                     " is larger than the training split (" + std::to_string(train_rows.size()) +
                     " scans)");
  const int64_t val_scans = s.get_int("val_scans");
  if (val_scans > 0 && static_cast<int64_t>(val_rows.size()) > val_scans)
    val_rows.resize(static_cast<size_t>(val_scans));

  // ---- Sizes against the networks ----
  const nets::AttentionSemanticEncoderOptions enc_options =
      nets::attention_semantic_encoder_preset(r.preset);
  const nets::ShiftUNetOptions net_options = shift_unet_options_for(r.preset, u.ldm_config, s.get_string("code_norm"));
  if (net_options.code_norm == nets::CodeNorm::Batch && batch_size < 2)
    fail(kTrainReprStage, "code_norm=batch centres the codes on their micro-batch, which needs batch_size 2 or more (got " +
                     std::to_string(batch_size) + "); use code_norm=running for single scans");
  const nets::AutoencoderKLOptions ae_options = nets::autoencoder_kl_preset(r.preset);
  const data::Manifest& m = cache.manifest;
  const data::Volume header = data::read_nifti_header(m.rows[train_rows[0]].full_path);
  const Shape vol = {header.meta.dim[1], header.meta.dim[2], header.meta.dim[3]};  // (X, Y, Z)
  const Shape& ls = cache.latent_shape;                                            // (C, D, H, W)
  {
    for (const std::vector<size_t>* part :
         std::vector<const std::vector<size_t>*>{&train_rows, &val_rows})
      for (size_t row : *part) {
        const data::Volume h = data::read_nifti_header(m.rows[row].full_path);
        const Shape hs = {h.meta.dim[1], h.meta.dim[2], h.meta.dim[3]};
        if (h.meta.dim[0] != 3 || hs != vol)
          fail(kTrainReprStage, m.source + ":" + std::to_string(m.rows[row].line) + ": " +
                           m.rows[row].full_path + " has shape " + shape_str(hs) + " but " +
                           m.rows[train_rows[0]].full_path + " has " + shape_str(vol) +
                           "; every scan must have the same size");
      }
    if (vol[2] > enc_options.seq_len)
      fail(kTrainReprStage, "the volumes (" + shape_str(vol) + ") have " + std::to_string(vol[2]) +
                       " axial slices, more than the semantic encoder of preset " + r.preset +
                       " takes (" + std::to_string(enc_options.seq_len) + ")");
    try {
      nets::convnext_feature_size(nets::backbone_options(enc_options), vol[0], vol[1]);
    } catch (const Error& e) {
      fail(kTrainReprStage, "the axial slices (" + std::to_string(vol[0]) + "x" + std::to_string(vol[1]) +
                       ") are too small for the semantic encoder of preset " + r.preset + ": " +
                       e.what());
    }
    const Shape want = u.image_space ? Shape{1, 1, vol[0], vol[1], vol[2]}
                                     : nets::autoencoder_kl_latent_shape(ae_options, {1, 1, vol[0], vol[1], vol[2]});
    if (ls.size() != 4 || Shape{1, ls[0], ls[1], ls[2], ls[3]} != want)
      fail(kTrainReprStage, "the latent cache's latents are " + shape_str(ls) + " but " +
                       (u.image_space ? std::string("image space") : "the autoencoder of preset " + r.preset) +
                       " gives " +
                       shape_str(Shape(want.begin() + 1, want.end())) + " for the " +
                       shape_str(vol) + " volumes");
    const nets::UNetOptions& uo = net_options.unet;
    const int64_t factor = int64_t{1} << (uo.channel_multiplier.size() - 1);
    bool fits = ls[0] == uo.input_channel;
    for (int a = uo.isotropic_resampling ? 1 : 2; a < 4; ++a) fits = fits && ls[a] % factor == 0;
    if (!fits)
      fail(kTrainReprStage, "the latents " + shape_str(ls) + " do not fit the UNet of preset " + r.preset +
                       " (" + std::to_string(uo.input_channel) +
                       " channels, resampled axes divisible by " + std::to_string(factor) + ")");
  }

  // ---- Networks (the frozen UNet and the autoencoder are loaded, and checked, before the run
  // folder) ----
  Generator init(seed, 0);
  Generator noise(seed, uint64_t{1} << 60);  // timesteps and eps
  auto encoder_drop = std::make_shared<Generator>(seed, uint64_t{2} << 60);
  auto shift_drop = std::make_shared<Generator>(seed, uint64_t{3} << 60);
  const Generator val_noise(seed, uint64_t{4} << 60);  // x_T of validation: the same every epoch
  auto encoder = std::make_shared<nets::AttentionSemanticEncoder>(enc_options, init, encoder_drop);
  auto net = std::make_shared<nets::ShiftUNet>(net_options, init, shift_drop);
  nets::load_frozen_unet(*net, u.ldm_checkpoint, "ema.");
  infer::DiffusionSpace space;  // image space: no autoencoder, the validation reference is the image
  space.scale_factor = cache.scale_factor;
  if (!u.image_space)
    space.autoencoder = load_trained_autoencoder(u.autoencoder_run, r.preset, u.autoencoder_checkpoint);
  const diffusion::Schedule schedule = trained_ldm_schedule(u.ldm_run);
  // Everything on the training device before the optimizer and the EMA take their state.
  encoder->to(r.device);
  net->to(r.device);
  if (space.autoencoder) space.autoencoder->to(r.device);
  const auto trainable = trainable_view(encoder, net);

  // ---- The run folder and its configuration ----
  const run::RunPaths paths = run::run_paths(r.out);
  run::prepare_run_folder(paths);
  ordered_json config;
  config["stage"] = kTrainReprStage;
  config["preset"] = r.preset;
  config["settings"] = s.json();
  // code_norm is recorded only when it is not off: run folders written before the setting
  // existed have none (and were off), so they still resume and reopen as finished;
  // load_trained_ldae reads an absent code_norm as off.
  if (net_options.code_norm == nets::CodeNorm::Off) config["settings"].erase("code_norm");
  config["data"] = {
      {"ldm_run", u.ldm_run},
      {"ldm_checkpoint", "checkpoints/last.safetensors, EMA weights (the frozen UNet)"},
      {"ldm_checkpoint_fnv1a64", run::file_fingerprint(u.ldm_checkpoint, kTrainReprStage)},
      {"latents", fs::absolute(u.latents).lexically_normal().string()},
      {"autoencoder_run", u.autoencoder_run},
      {"autoencoder_checkpoint", u.autoencoder_checkpoint},
      {"scale_factor", cache.scale_factor},
      {"image_shape", vol},
      {"latent_shape", ls},
      {"encoder_input", "per-volume min-max to [0, 1], axial slices (B, 1, Z, X, Y)"},
      {"split", {{"train", train_rows.size()}, {"val", val_rows.size()}}}};
  if (u.image_space) config["data"]["space"] = "image";  // absent: latent (older run folders resume)
  config["schedule"] = {
      {"from", "the train-ldm run's settings"},
      {"schedule", u.ldm_config.value("settings", nlohmann::json::object()).value("schedule", "")},
      {"T", schedule.T()}};
  config["networks"] = {
      {"encoder", "AttentionSemanticEncoder, preset " + r.preset + " (randomly initialised)"},
      {"shift_unet", "ShiftUNet, preset " + r.preset + ", latent_dim " +
                         std::to_string(net_options.latent_dim) + ", dropout " +
                         nn::format_number(net_options.unet.dropout) + " (RUN2's)" +
                         (u.image_space ? ", on the image (1 channel, isotropic resampling)" : "")}};
  config["environment"] = run::environment_json(r.device);
  TrainReprResult result;
  result.start = run::open_run(paths, config, r.early_stop.continue_stopped);
  if (result.start == run::RunStart::Finished) {
    const nlohmann::json done = run::read_json(paths.done);
    result.steps = done.value("steps", int64_t{0});
    result.epochs = done.value("epochs", int64_t{0});
    result.stopped_early = done.value("stopped_early", std::string());
    result.best_val_ssim = done.value("best_val_ssim", 0.0);
    result.best_step = done.value("best_step", int64_t{0});
    result.last_val_ssim = done.value("val_ssim", 0.0);
    result.last_val_mse = done.value("val_mse", 0.0);
    std::cerr << "train-repr: " << r.out << " is already complete (done.json); nothing to do\n";
    return result;
  }

  // ---- Optimizer, EMA ----
  // One Adam over the encoder and the shift branch, each at its own learning rate: the larger
  // rate is Adam's, the other a factor of it (nn::Optimizer::set_lr_factor).
  const double branch_lr = s.get_float("lr"), encoder_lr = s.get_float("encoder_lr");
  const double adam_lr = std::max(branch_lr, encoder_lr);
  nn::Adam opt(trainable->named_parameters(), nn::AdamOptions{adam_lr});
  if (adam_lr > 0) {
    opt.set_lr_factor("encoder.", encoder_lr / adam_lr);
    opt.set_lr_factor("shift_unet.", branch_lr / adam_lr);
  }
  // encoder_lr 0 freezes the encoder: no gradient at all, so that the gradient-norm clip sees
  // only the branch's. (A freshly initialised encoder on the scans' empty slices gives
  // gradients of 1e9 at every step - its zero-bias stem makes the LayerNorms divide by
  // sqrt(eps) - and clipping those together with the branch's would leave the branch none.)
  if (encoder_lr == 0)
    for (const auto& [name, p] : trainable->named_parameters())
      if (name.rfind("encoder.", 0) == 0) Tensor(p).set_requires_grad(false);
  nn::EmaOptions eo;
  eo.decay = s.get_float("ema_decay");
  // The code standardiser's statistics (code_norm) describe the current codes: copied, not
  // averaged. (The encoder's other buffer, its positional encoding, never changes.)
  eo.average_buffers = false;
  nn::Ema ema(*trainable, eo);
  encoder->train();
  net->train_shift(true);

  data::LoaderOptions lo;
  lo.batch_size = batch_size;
  lo.shuffle = true;
  lo.seed = seed;
  lo.prefetch = 2;
  lo.transform = [](const data::Volume& v) { return data::normalize_intensity(v); };  // [0, 1], as stage 1
  data::BatchLoader loader(m, train_rows, lo);
  const int64_t batches = loader.batches_per_epoch();
  const int64_t steps_per_epoch = (batches + accumulate - 1) / accumulate;
  const int64_t total_steps = epochs * steps_per_epoch;

  int64_t step = 0, epoch = 0, first_batch = 0;
  run::CheckpointBook book(run::CheckpointBook::Better::Higher);  // by the EMA validation SSIM
  ReprValidation last_val;
  if (run::resumes(result.start)) {
    const nn::TrainingState st = nn::load_checkpoint(paths.last, *trainable, &opt, &ema);
    check(meta(st.metadata, "stage", paths.last) == kTrainReprStage, kTrainReprStage,
          paths.last + " is not a train-repr checkpoint");
    for (const char* g : {"noise", "encoder_dropout", "shift_dropout"})
      check(st.generators.count(g) == 1, kTrainReprStage,
            paths.last + " lacks the " + std::string(g) + " generator");
    step = st.step;
    noise = st.generators.at("noise");
    *encoder_drop = st.generators.at("encoder_dropout");
    *shift_drop = st.generators.at("shift_dropout");
    epoch = std::stoll(meta(st.metadata, "epoch", paths.last));
    first_batch = std::stoll(meta(st.metadata, "batch", paths.last));
    last_val.ssim = std::strtod(meta(st.metadata, "val_ssim", paths.last).c_str(), nullptr);
    last_val.mse = std::strtod(meta(st.metadata, "val_mse", paths.last).c_str(), nullptr);
    check(first_batch <= batches && epoch <= epochs, kTrainReprStage,
          paths.last + " holds a position outside this run");
    book.resume(std::strtod(meta(st.metadata, "best_val_ssim", paths.last).c_str(), nullptr),
                std::stoll(meta(st.metadata, "best_step", paths.last)), step);
    std::cerr << "train-repr: " << run::resume_word(result.start) << " " << r.out << " from step " << step
              << " (epoch " << epoch + 1 << ", batch " << first_batch << ")\n";
  } else {
    std::cerr << "train-repr: new run in " << r.out << ": " << train_rows.size() << " training / "
              << val_rows.size() << " validation scans of " << shape_str(vol) << " (latents "
              << shape_str(ls) << ", scale factor " << nn::format_number(cache.scale_factor)
              << "), " << total_steps << " optimizer steps\n";
  }
  nn::CsvLog log(paths.log, train_repr_log_columns(),
                 run::resumes(result.start) ? step : -1);

  auto save = [&](const std::string& path, int64_t next_epoch, int64_t next_batch) {
    nn::TrainingState st;
    st.step = step;
    st.generators = {
        {"noise", noise}, {"encoder_dropout", *encoder_drop}, {"shift_dropout", *shift_drop}};
    st.metadata = {{"stage", kTrainReprStage},
                   {"preset", r.preset},
                   {"epoch", std::to_string(next_epoch)},
                   {"batch", std::to_string(next_batch)},
                   {"best_val_ssim", exact(book.best())},
                   {"best_step", std::to_string(book.best_step())},
                   {"val_ssim", exact(last_val.ssim)},
                   {"val_mse", exact(last_val.mse)}};
    nn::save_checkpoint(path, *trainable, &opt, &ema, st);
  };
  auto stop_on = [&](const std::string& what, double value, int64_t ep, int64_t b) {
    fail(kTrainReprStage, run::non_finite_stop_message(what, value, step, ep, b, batches, book.kept(paths.last)));
  };
  nets::PdaeLossOptions lopt;
  lopt.gamma = s.get_float("loss_gamma");
  lopt.weighted = s.get_bool("loss_weighted");
  lopt.noise_draws = s.get_int("noise_draws");
  // The training scans whose codes give log.csv's y_sem_spread (the first of the split).
  const std::vector<size_t> spread_rows(
      train_rows.begin(),
      train_rows.begin() + static_cast<std::ptrdiff_t>(std::min<size_t>(
                               train_rows.size(), static_cast<size_t>(s.get_int("spread_scans")))));
  // Validation with the EMA weights, then the training weights and modes back, bit for bit.
  auto validate_ema = [&](const std::string& figure) {
    std::map<std::string, Tensor> saved;
    {
      NoGrad no_grad;
      for (const auto& [k, v] : trainable->state_dict()) saved[k] = v.detach().clone();
      ema.copy_to(*trainable);
    }
    encoder->eval();
    net->train_shift(false);
    ReprValidation v = validate(*encoder, *net, space, cache, val_rows, schedule,
                                validation_ddim(s, u.image_space), val_noise, figure, r.device);
    if (spread_rows.size() >= 2) {
      const Tensor codes = spread_codes(*encoder, cache, spread_rows, r.device);  // (N, E)
      v.y_sem_spread = probe::feature_spread(codes).ratio();
      v.swap = code_swap_check(*net, schedule, cache, spread_rows, codes,
                               s.get_int("swap_timesteps"), lopt, r.device);
    }
    {
      NoGrad no_grad;
      trainable->load_state_dict(saved);
    }
    encoder->train();
    net->train_shift(true);
    return v;
  };

  const bool ema_per_batch = s.get_bool("ema_per_batch");
  const double clip = s.get_float("clip_grad_norm");
  const int64_t nan_at = s.get_int("debug_nan_at_step");
  const int64_t checkpoint_every = s.get_int("checkpoint_every"),
                log_every = s.get_int("log_every");
  const double scale = 1.0 / static_cast<double>(accumulate);
  const std::vector<Tensor> params = trainable->parameters();

  nn::ProgressOptions po;
  std::ostringstream sink;
  if (!r.progress) po.out = &sink;
  nn::Progress progress("train-repr", total_steps, step, po);
  const int64_t start_step = step;

  run::EpochsTrained trained{epochs, epochs, ""};
  for (; epoch < epochs; ++epoch, first_batch = 0) {
    loader.start_epoch(static_cast<uint64_t>(epoch), first_batch);
    data::Batch batch;
    int64_t b = first_batch;
    std::map<std::string, double> sums;
    int64_t in_window = 0;
    while (loader.next(&batch)) {
      std::vector<Tensor> latents;
      for (size_t row : batch.rows) {
        const Tensor z = read_scaled_latent(cache, row);  // (C, D, H, W)
        latents.push_back(z.reshape({1, ls[0], ls[1], ls[2], ls[3]}));
      }
      const Tensor z0 = (latents.size() == 1 ? latents[0] : cat(latents, 0)).to(r.device);  // (N, C, D, H, W)
      const Tensor images = batch.images.to(r.device);                                     // (N, 1, X, Y, Z)
      const nets::PdaePass p =
          nets::pdae_backward(*encoder, *net, schedule, nets::axial_slices(images), z0, noise,
                              lopt, scale, step + 1 == nan_at && in_window == 0);
      if (!std::isfinite(p.loss)) stop_on("the loss", p.loss, epoch, b);
      sums["loss"] += p.loss;
      sums["loss_frozen"] += p.loss_frozen;
      sums["shift_rms"] += p.shift_rms;
      sums["y_sem_std"] += p.y_sem_std;
      ++in_window;
      ++b;
      const bool window_done = b % accumulate == 0 || b == batches;
      if (!window_done) {
        if (ema_per_batch && step > 0) ema.update(*trainable);  // the published per-batch EMA
        continue;
      }

      // ---- One optimizer step ----
      std::map<std::string, double> row;
      for (const auto& [k, v] : sums) row[k] = v / static_cast<double>(in_window);
      const double gn = nn::clip_grad_norm(params, clip);
      if (!std::isfinite(gn)) stop_on("the gradient norm", gn, epoch, b - 1);
      row["grad_norm"] = gn;
      opt.step();
      ema.update(*trainable);
      trainable->zero_grad();
      ++step;
      sums.clear();
      in_window = 0;
      row["epoch"] = static_cast<double>(epoch + 1);
      if (step % log_every == 0 || b == batches) log.log(step, row);
      progress.update(step, {{"loss", row["loss"]}, {"loss_frozen", row["loss_frozen"]}});

      if (b == batches) {
        // ---- End of the epoch: validation (EMA), figure, best, last ----
        last_val = validate_ema((fs::path(paths.figures) / run::epoch_figure_name(epoch + 1)).string());
        std::map<std::string, double> epoch_row = {{"epoch", static_cast<double>(epoch + 1)},
                                                   {"val_ssim", last_val.ssim},
                                                   {"val_mse", last_val.mse}};
        if (std::isfinite(last_val.y_sem_spread)) epoch_row["y_sem_spread"] = last_val.y_sem_spread;
        if (last_val.swap) {
          epoch_row["swap_loss_own"] = last_val.swap->loss_own;
          epoch_row["swap_loss_swapped"] = last_val.swap->loss_swapped;
          epoch_row["swap_loss_none"] = last_val.swap->loss_frozen;
          const double share = last_val.swap->share();
          if (std::isfinite(share)) epoch_row["swap_share"] = share;
        }
        log.log(step, epoch_row);
        if (book.improves(last_val.ssim, step)) save(paths.best, epoch + 1, 0);
        save(paths.last, epoch + 1, 0);
        book.wrote(step);
      } else if (step % checkpoint_every == 0) {
        save(paths.last, epoch, b);
        book.wrote(step);
      }
    }
    if (stopper.stop_after(epoch + 1, epochs, trained)) break;  // at a whole epoch's end
  }
  progress.finish();

  const ordered_json last = {{"val_ssim", last_val.ssim}, {"val_mse", last_val.mse}};
  run::write_done(paths, kTrainReprStage, run::finished_summary(step, trained, "val_ssim", book, last));

  result.steps = step;
  result.steps_run = step - start_step;
  result.epochs = trained.done;
  result.stopped_early = trained.stopped_early;
  result.best_val_ssim = book.best();
  result.best_step = book.best_step();
  result.last_val_ssim = last_val.ssim;
  result.last_val_mse = last_val.mse;
  return result;
}

}  // namespace ldae::stages
