#include "ldae/train_ae.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <map>
#include <sstream>
#include <memory>

#include "autograd/no_grad.h"
#include "data/figures.h"
#include "data/loader.h"
#include "data/manifest.h"
#include "data/nifti.h"
#include "data/preprocess.h"
#include "ldae/ae_gan_step.h"
#include "ldae/autoencoder_kl.h"
#include "ldae/lpips.h"
#include "ldae/metrics.h"
#include "ldae/patch_discriminator.h"
#include "ldae/presets.h"
#include "ldae/run/checkpoint_book.h"
#include "ldae/run/checkpoint_values.h"
#include "ldae/train_ae_settings.h"
#include "nn/adam.h"
#include "nn/checkpoint.h"
#include "nn/clip_grad.h"
#include "nn/csv_log.h"
#include "nn/lr_schedule.h"
#include "nn/progress.h"
#include "tensor/ops.h"

namespace ldae::stages {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

const char* kTrainAeStage = "train-ae";

// Both networks under one module, so that one checkpoint holds them:
// "model.autoencoder.*" and "model.discriminator.*".
class AeGanPair : public nn::Module {
 public:
  AeGanPair(const nets::AutoencoderKLOptions& ae_options, const nets::PatchDiscriminatorOptions& d_options,
            Generator& init) {
    ae = register_module("autoencoder", std::make_shared<nets::AutoencoderKL>(ae_options, init));
    disc = register_module("discriminator", std::make_shared<nets::PatchDiscriminator>(d_options, init));
  }
  std::shared_ptr<nets::AutoencoderKL> ae;
  std::shared_ptr<nets::PatchDiscriminator> disc;
};

// Exact numbers in checkpoint metadata (ldae/run/checkpoint_values.h).
using run::exact;

// The volume as the networks see it: min-max scaled to [0, 1] (ldae-reference 1.4 step 5).
data::Volume to_unit_range(const data::Volume& v) { return data::normalize_intensity(v); }

struct AeValidation {
  double l1 = 0, psnr = 0, ssim = 0;
  double lpips = 0;  // 0 without an LPIPS network
};

// The 2.5D LPIPS of the validation (lpips null: none). Its slice choice comes from a fresh
// Generator(seed, kValLpipsOffset) at every validation, so each epoch scores the same
// slices of the same scans: deterministic, comparable across epochs, nothing to checkpoint.
struct ValidationLpips {
  const nets::Lpips* lpips = nullptr;
  double ratio = 0.5;
  uint64_t seed = 0;
};
constexpr uint64_t kValLpipsOffset = uint64_t{3} << 60;

// L1, PSNR and 3D SSIM (data range 1, decodings not clipped, as the reference's metrics;
// SSIM with ldae/metrics.h's default window, size 3 and sigma 1.5, ldae-reference 7.6) of
// decode(mu) over the validation rows, and with an LPIPS network the 2.5D LPIPS at the
// training's fake_3d_ratio (ldae-reference 7.6, but with the fixed slice choice above); the
// first row's figure goes to `figure`.
// The autoencoder (and the LPIPS network) are on `device`; the scores and the figure are
// computed on the CPU.
AeValidation validate(const nets::AutoencoderKL& ae, const data::Manifest& m, const std::vector<size_t>& rows,
                      const std::string& figure, const ValidationLpips& vl, Device device) {
  NoGrad no_grad;
  AeValidation v;
  Generator lpips_gen(vl.seed, kValLpipsOffset);
  for (size_t i = 0; i < rows.size(); ++i) {
    data::ReadOptions quiet;
    quiet.quiet = true;
    const data::Volume vol = to_unit_range(data::read_nifti(m.rows[rows[i]].full_path, quiet));
    const Shape s = vol.voxels.shape();                                 // (X, Y, Z)
    const Tensor x = vol.voxels.reshape({1, 1, s[0], s[1], s[2]});      // (1, 1, X, Y, Z)
    const Tensor x_on = x.to(device);
    const Tensor x_hat_on = ae.reconstruct(x_on);
    const Tensor x_hat = x_hat_on.to(cpu_device());
    const Tensor d = sub(x_hat, x);
    const double l1 = mean(abs(d)).item();
    const double mse = mean(mul(d, d)).item();
    v.l1 += l1;
    v.psnr += mse > 0 ? 10.0 * std::log10(1.0 / mse) : 100.0;
    v.ssim += metrics::ssim3d(x_hat, x).mean;
    if (vl.lpips) v.lpips += nets::perceptual_loss_25d(x_hat_on, x_on, *vl.lpips, vl.ratio, lpips_gen).item();
    if (i == 0) {
      data::Volume rec = vol;
      rec.voxels = x_hat.reshape({s[0], s[1], s[2]}).contiguous();
      data::write_png(figure, data::comparison_figure(vol, rec, "input", "reconstruction"));
    }
  }
  v.l1 /= static_cast<double>(rows.size());
  v.psnr /= static_cast<double>(rows.size());
  v.ssim /= static_cast<double>(rows.size());
  v.lpips /= static_cast<double>(rows.size());
  return v;
}

}  // namespace

std::shared_ptr<nets::AutoencoderKL> load_trained_autoencoder(const std::string& run, const std::string& preset,
                                                              const std::string& which) {
  check(which == "best" || which == "last", "load_trained_autoencoder",
        "which must be \"best\" or \"last\", not \"" + which + "\"");
  nets::check_preset(preset);
  run::require_finished_stage(run, kTrainAeStage, {{"preset", preset}});
  Generator init(0);
  auto ae = std::make_shared<nets::AutoencoderKL>(nets::autoencoder_kl_preset(preset), init);
  const run::RunPaths paths = run::run_paths(run);
  nn::load_weights(which == "best" ? paths.best : paths.last, *ae, "model.autoencoder");
  ae->eval();
  return ae;
}

const std::vector<std::string>& train_ae_log_columns() {
  static const std::vector<std::string> c = {"epoch",       "loss_g",      "l1",     "kl",       "perceptual",
                                             "g_adv",       "loss_d",      "d_fake", "d_real",   "grad_norm_g",
                                             "grad_norm_d", "val_l1",      "val_psnr", "val_ssim", "val_lpips"};
  return c;
}

TrainAeResult train_ae(const TrainAeRequest& r) {
  const run::EarlyStopper stopper(r.early_stop);  // its clock starts with the command
  const run::Settings& s = r.settings;
  nets::check_preset(r.preset);
  require_usable_device(kTrainAeStage, r.device);
  // ---- The perceptual term: the LPIPS network of --lpips, loaded strictly ----
  // (ldae/lpips.h; tools/convert_lpips.py writes the file from the published weights).
  const bool use_lpips = !r.lpips.empty();
  std::unique_ptr<nets::Lpips> lpips;
  std::string lpips_path, lpips_fingerprint;
  if (use_lpips) {
    lpips_path = fs::absolute(r.lpips).lexically_normal().string();
    Generator unused(0);  // the constructor's random weights are all replaced by the file's
    lpips = std::make_unique<nets::Lpips>(unused);
    try {
      load_lpips_weights(*lpips, r.lpips);  // names the file and every bad key
    } catch (const Error& e) {
      fail(kTrainAeStage, std::string("cannot use the --lpips file (LPIPS SqueezeNet weights, as tools/convert_lpips.py "
                               "writes them): ") + e.what());
    }
    lpips_fingerprint = run::file_fingerprint(r.lpips, kTrainAeStage);
  }
  const int64_t batch_size = s.get_int("batch_size"), accumulate = s.get_int("accumulate");
  const int64_t epochs = s.get_int("epochs");
  const uint64_t seed = static_cast<uint64_t>(s.get_int("seed"));

  // ---- Data and split ----
  const data::Manifest m = data::read_manifest(r.manifest);
  const data::Split split =
      data::split_by_subject(m, s.get_float("val_fraction"), s.get_float("test_fraction"),
                             static_cast<uint64_t>(s.get_int("split_seed")), s.get_bool("split_stratify"));
  if (split.val.empty())
    fail(kTrainAeStage, "the validation split is empty (" + r.manifest + ", val_fraction " +
                     nn::format_number(s.get_float("val_fraction")) + "): raise val_fraction or add subjects");
  if (static_cast<int64_t>(split.train.size()) < batch_size)
    fail(kTrainAeStage, "batch_size " + std::to_string(batch_size) + " is larger than the training split (" +
                     std::to_string(split.train.size()) + " scans)");

  // ---- Sizes against the networks ----
  const nets::AutoencoderKLOptions ae_options = nets::autoencoder_kl_preset(r.preset);
  const nets::PatchDiscriminatorOptions d_options = nets::patch_discriminator_preset(r.preset);
  const data::Volume header = data::read_nifti_header(m.rows[split.train[0]].full_path);
  const Shape vol = {header.meta.dim[1], header.meta.dim[2], header.meta.dim[3]};  // (X, Y, Z)
  if (header.meta.dim[0] != 3)
    fail(kTrainAeStage, m.rows[split.train[0]].full_path + " is not a 3D volume (" + std::to_string(header.meta.dim[0]) +
                     " dimensions)");
  {
    const Shape preset_image = nets::preset_image_shape(r.preset);
    const Shape image = {1, 1, vol[0], vol[1], vol[2]};
    const Shape latent = nets::autoencoder_kl_latent_shape(ae_options, image);
    const int64_t factor = int64_t{1} << (ae_options.num_channels.size() - 1);
    bool fits = true;
    for (int a = 0; a < 3; ++a) fits = fits && latent[2 + a] >= 1 && latent[2 + a] * factor == vol[a];
    if (!fits)
      fail(kTrainAeStage, "the volumes (" + shape_str(vol) + ", " + m.rows[split.train[0]].full_path +
                       ") do not fit the autoencoder of preset " + r.preset + ": each axis must be a multiple of " +
                       std::to_string(factor) + " so that the reconstruction has the input's size (the preset's "
                       "image is " + shape_str(Shape(preset_image.begin() + 2, preset_image.end())) + ")");
    // Every scan the run reads must have that size (headers only; a mismatch would
    // otherwise stop the run in the middle of an epoch).
    for (const auto* part : {&split.train, &split.val})
      for (size_t row : *part) {
        const data::Volume h = data::read_nifti_header(m.rows[row].full_path);
        const Shape hs = {h.meta.dim[1], h.meta.dim[2], h.meta.dim[3]};
        if (h.meta.dim[0] != 3 || hs != vol)
          fail(kTrainAeStage, m.source + ":" + std::to_string(m.rows[row].line) + ": " + m.rows[row].full_path +
                           " has shape " + shape_str(hs) + " but " + m.rows[split.train[0]].full_path + " has " +
                           shape_str(vol) + "; every scan must have the same size (ldae preprocess --shape)");
      }
    if (Shape(preset_image.begin() + 2, preset_image.end()) != vol)
      std::cerr << "train-ae: warning: the volumes are " << shape_str(vol) << ", the " << r.preset
                << " preset's image is " << shape_str(Shape(preset_image.begin() + 2, preset_image.end()))
                << "; the later stages' networks are sized for the preset's latent\n";
    for (const auto& sz : nets::patch_discriminator_sizes(d_options, {vol[0], vol[1], vol[2]}))
      for (int64_t n : sz)
        if (n < 1)
          fail(kTrainAeStage, "the volumes (" + shape_str(vol) + ") are too small for the discriminator of preset " +
                           r.preset + " (a layer's output would be empty)");
    if (use_lpips) {
      // The 2.5D LPIPS scores 2D slices along every axis: each is at least 17 x 17, and
      // fake_3d_ratio picks at least one slice per axis of one scan (validation scores one
      // scan at a time; a training batch holds at least one).
      const int64_t smallest = std::min({vol[0], vol[1], vol[2]});
      if (smallest < 17)
        fail(kTrainAeStage, "the volumes " + shape_str(vol) + " are too small for the LPIPS perceptual term (--lpips): "
                     "its SqueezeNet needs slices of at least 17 x 17, so every axis must be at least 17 voxels");
      const double ratio = s.get_float("fake_3d_ratio");
      if (std::floor(static_cast<double>(smallest) * ratio) < 1)
        fail(kTrainAeStage, "fake_3d_ratio " + nn::format_number(ratio) + " selects no slice of the " +
                         std::to_string(smallest) + " along the shortest axis of " + shape_str(vol) +
                         "; with --lpips it must be at least 1/" + std::to_string(smallest));
    }
  }

  // ---- The run folder and its configuration ----
  const run::RunPaths paths = run::run_paths(r.out);
  run::prepare_run_folder(paths);
  const std::string perceptual = use_lpips ? "lpips " + lpips_path : "off (no --lpips file)";
  ordered_json config;
  config["stage"] = kTrainAeStage;
  config["preset"] = r.preset;
  config["settings"] = s.json();
  config["perceptual"] = perceptual;
  if (use_lpips) config["perceptual_fnv1a64"] = lpips_fingerprint;  // another file there: refused on resume
  config["data"] = {{"manifest", fs::absolute(r.manifest).lexically_normal().string()},
                    {"manifest_fnv1a64", run::file_fingerprint(r.manifest, kTrainAeStage)},
                    {"image_shape", vol},
                    {"transform", "per-volume min-max to [0, 1]"},
                    {"split", {{"train", split.train.size()}, {"val", split.val.size()}, {"test", split.test.size()}}}};
  config["networks"] = {{"autoencoder", "AutoencoderKL, preset " + r.preset},
                        {"discriminator", "PatchDiscriminator, preset " + r.preset}};
  config["environment"] = run::environment_json(r.device);
  TrainAeResult result;
  result.start = run::open_run(paths, config, r.early_stop.continue_stopped);
  if (result.start == run::RunStart::Finished) {
    const nlohmann::json done = run::read_json(paths.done);
    result.steps = done.value("steps", int64_t{0});
    result.epochs = done.value("epochs", int64_t{0});
    result.stopped_early = done.value("stopped_early", std::string());
    result.best_val_l1 = done.value("best_val_l1", 0.0);
    result.best_step = done.value("best_step", int64_t{0});
    result.last_val_l1 = done.value("val_l1", 0.0);
    result.last_val_psnr = done.value("val_psnr", 0.0);
    result.last_val_ssim = done.value("val_ssim", 0.0);
    result.last_val_lpips = done.value("val_lpips", 0.0);
    std::cerr << "train-ae: " << r.out << " is already complete (done.json); nothing to do\n";
    return result;
  }

  // ---- Networks, optimizers, generators ----
  Generator init(seed, 0);
  Generator noise(seed, uint64_t{1} << 60);  // the posterior samples z = mu + sigma eps
  Generator slices(seed, uint64_t{2} << 60);  // the 2.5D LPIPS's slice choice (with --lpips)
  AeGanPair nets(ae_options, d_options, init);
  nets.to(r.device);  // before the optimizers, which keep their state beside the weights
  if (lpips) lpips->to(r.device);
  nn::Adam opt_g(nets.ae->named_parameters(), nn::AdamOptions{s.get_float("lr_g")});
  nn::Adam opt_d(nets.disc->named_parameters(), nn::AdamOptions{s.get_float("lr_d")});
  nets.train();

  data::LoaderOptions lo;
  lo.batch_size = batch_size;
  lo.shuffle = true;
  lo.seed = seed;
  lo.prefetch = 2;
  lo.transform = to_unit_range;
  data::BatchLoader loader(m, split.train, lo);
  const int64_t batches = loader.batches_per_epoch();
  const int64_t steps_per_epoch = (batches + accumulate - 1) / accumulate;
  const int64_t total_steps = epochs * steps_per_epoch;
  // The rates of both optimizers at each optimizer step (constant: lr_g and lr_d throughout).
  nn::LrSchedule schedule_g, schedule_d;
  schedule_g.base_lr = s.get_float("lr_g");
  schedule_d.base_lr = s.get_float("lr_d");
  schedule_g.decay = schedule_d.decay = nn::parse_lr_decay(s.get_string("lr_decay"));
  schedule_g.total_steps = schedule_d.total_steps = total_steps;

  int64_t step = 0, epoch = 0, first_batch = 0;
  run::CheckpointBook book(run::CheckpointBook::Better::Lower);  // by the validation L1
  AeValidation last_val;
  if (run::resumes(result.start)) {
    const nn::TrainingState st =
        nn::load_checkpoint(paths.last, nets, nn::NamedMutableOptimizers{{"g", &opt_g}, {"d", &opt_d}}, nullptr);
    check(st.metadata.count("stage") && st.metadata.at("stage") == kTrainAeStage, kTrainAeStage,
          paths.last + " is not a train-ae checkpoint");
    check(st.generators.count("noise") == 1, kTrainAeStage, paths.last + " lacks the noise generator");
    step = st.step;
    noise = st.generators.at("noise");
    if (use_lpips) {
      check(st.generators.count("perceptual") == 1, kTrainAeStage, paths.last + " lacks the perceptual slice generator");
      slices = st.generators.at("perceptual");
    }
    epoch = run::parse_count(st.metadata, "epoch", kTrainAeStage);
    first_batch = run::parse_count(st.metadata, "batch", kTrainAeStage);
    last_val.l1 = run::parse_exact(st.metadata, "val_l1", kTrainAeStage);
    last_val.psnr = run::parse_exact(st.metadata, "val_psnr", kTrainAeStage);
    last_val.ssim = run::parse_exact(st.metadata, "val_ssim", kTrainAeStage);
    if (use_lpips) last_val.lpips = run::parse_exact(st.metadata, "val_lpips", kTrainAeStage);
    check(first_batch <= batches && epoch <= epochs, kTrainAeStage, paths.last + " holds a position outside this run");
    book.resume(run::parse_exact(st.metadata, "best_val_l1", kTrainAeStage),
                run::parse_count(st.metadata, "best_step", kTrainAeStage), step);
    std::cerr << "train-ae: " << run::resume_word(result.start) << " " << r.out << " from step " << step
              << " (epoch " << epoch + 1 << ", batch " << first_batch << ")\n";
  } else {
    std::cerr << "train-ae: new run in " << r.out << ": " << split.train.size() << " training / " << split.val.size()
              << " validation scans of " << shape_str(vol) << ", " << total_steps << " optimizer steps\n";
  }
  std::cerr << "train-ae: perceptual term " << perceptual << "\n";
  nn::CsvLog log(paths.log, train_ae_log_columns(), run::resumes(result.start) ? step : -1);

  auto save = [&](const std::string& path, int64_t next_epoch, int64_t next_batch) {
    nn::TrainingState st;
    st.step = step;
    st.generators = {{"noise", noise}};
    if (use_lpips) st.generators["perceptual"] = slices;
    st.metadata = {{"stage", kTrainAeStage},
                   {"preset", r.preset},
                   {"epoch", std::to_string(next_epoch)},
                   {"batch", std::to_string(next_batch)},
                   {"best_val_l1", exact(book.best())},
                   {"best_step", std::to_string(book.best_step())},
                   {"val_l1", exact(last_val.l1)},
                   {"val_psnr", exact(last_val.psnr)},
                   {"val_ssim", exact(last_val.ssim)}};
    if (use_lpips) st.metadata["val_lpips"] = exact(last_val.lpips);
    nn::save_checkpoint(path, nets, nn::NamedOptimizers{{"g", &opt_g}, {"d", &opt_d}}, nullptr, st);
  };
  auto stop_on = [&](const std::string& what, double value, int64_t ep, int64_t b) {
    fail(kTrainAeStage, run::non_finite_stop_message(what, value, step, ep, b, batches, book.kept(paths.last)));
  };

  nets::AeGanLossOptions lopt;
  lopt.kl_weight = s.get_float("kl_weight");
  lopt.adv_weight = s.get_float("adv_weight");
  lopt.perceptual_weight = s.get_float("perceptual_weight");
  lopt.faithful_disc_grad_leak = s.get_bool("faithful_disc_grad_leak");
  const double fake_3d_ratio = s.get_float("fake_3d_ratio");
  if (use_lpips)
    lopt.perceptual = [&](const Tensor& x_hat, const Tensor& x) {
      return nets::perceptual_loss_25d(x_hat, x, *lpips, fake_3d_ratio, slices);
    };
  const ValidationLpips val_lpips{lpips.get(), fake_3d_ratio, seed};
  const double clip = s.get_float("clip_grad_norm");
  const int64_t warmup = s.get_int("adv_warmup_steps"), nan_at = s.get_int("debug_nan_at_step");
  const int64_t checkpoint_every = s.get_int("checkpoint_every"), log_every = s.get_int("log_every");
  const double scale = 1.0 / static_cast<double>(accumulate);

  nn::ProgressOptions po;
  std::ostringstream sink;
  if (!r.progress) po.out = &sink;
  nn::Progress progress("train-ae", total_steps, step, po);
  const int64_t start_step = step;

  run::EpochsTrained trained{epochs, epochs, ""};
  for (; epoch < epochs; ++epoch, first_batch = 0) {
    loader.start_epoch(static_cast<uint64_t>(epoch), first_batch);
    data::Batch batch;
    int64_t b = first_batch;
    std::map<std::string, double> sums;
    int64_t in_window = 0;
    while (loader.next(&batch)) {
      const bool adv_on = step >= warmup;
      const Tensor images = batch.images.to(r.device);  // (N, 1, X, Y, Z)
      const nets::GeneratorPass g = nets::generator_backward(*nets.ae, *nets.disc, images, noise, lopt, adv_on,
                                                             scale, step + 1 == nan_at && in_window == 0);
      if (!std::isfinite(g.loss)) stop_on("the generator loss", g.loss, epoch, b);
      sums["loss_g"] += g.loss;
      sums["l1"] += g.l1;
      sums["kl"] += g.kl;
      if (lopt.perceptual) sums["perceptual"] += g.perceptual;
      if (adv_on) {
        sums["g_adv"] += g.adversarial;
        const nets::DiscriminatorPass d =
            nets::discriminator_backward(*nets.disc, images, g.reconstruction, lopt, scale);
        if (!std::isfinite(d.loss)) stop_on("the discriminator loss", d.loss, epoch, b);
        sums["loss_d"] += d.loss;
        sums["d_fake"] += d.fake;
        sums["d_real"] += d.real;
      }
      ++in_window;
      ++b;
      if (b % accumulate != 0 && b != batches) continue;

      // ---- One optimizer step ----
      std::map<std::string, double> row;
      for (const auto& [k, v] : sums) row[k] = v / static_cast<double>(in_window);
      const double gn_g = nn::clip_grad_norm(nets.ae->parameters(), clip);
      if (!std::isfinite(gn_g)) stop_on("the autoencoder's gradient norm", gn_g, epoch, b - 1);
      row["grad_norm_g"] = gn_g;
      if (adv_on) {
        const double gn_d = nn::clip_grad_norm(nets.disc->parameters(), clip);
        if (!std::isfinite(gn_d)) stop_on("the discriminator's gradient norm", gn_d, epoch, b - 1);
        row["grad_norm_d"] = gn_d;
      }
      opt_g.set_lr(schedule_g.at(step));
      opt_d.set_lr(schedule_d.at(step));
      opt_g.step();
      if (adv_on) opt_d.step();
      nets.ae->zero_grad();
      nets.disc->zero_grad();
      ++step;
      sums.clear();
      in_window = 0;
      row["epoch"] = static_cast<double>(epoch + 1);
      if (step % log_every == 0 || b == batches) log.log(step, row);
      progress.update(step, {{"loss_g", row["loss_g"]}, {"l1", row["l1"]}});

      if (b == batches) {
        // ---- End of the epoch: validation, figure, best, last ----
        const std::string figure = (fs::path(paths.figures) / run::epoch_figure_name(epoch + 1)).string();
        last_val = validate(*nets.ae, m, split.val, figure, val_lpips, r.device);
        std::map<std::string, double> val_row = {{"epoch", static_cast<double>(epoch + 1)},
                                                 {"val_l1", last_val.l1},
                                                 {"val_psnr", last_val.psnr},
                                                 {"val_ssim", last_val.ssim}};
        if (use_lpips) val_row["val_lpips"] = last_val.lpips;
        log.log(step, val_row);
        if (book.improves(last_val.l1, step)) save(paths.best, epoch + 1, 0);
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

  ordered_json last = {{"val_l1", last_val.l1}, {"val_psnr", last_val.psnr}, {"val_ssim", last_val.ssim}};
  if (use_lpips) last["val_lpips"] = last_val.lpips;
  last["perceptual"] = perceptual;
  run::write_done(paths, kTrainAeStage, run::finished_summary(step, trained, "val_l1", book, last));

  result.steps = step;
  result.steps_run = step - start_step;
  result.epochs = trained.done;
  result.stopped_early = trained.stopped_early;
  result.best_val_l1 = book.best();
  result.best_step = book.best_step();
  result.last_val_l1 = last_val.l1;
  result.last_val_psnr = last_val.psnr;
  result.last_val_ssim = last_val.ssim;
  result.last_val_lpips = last_val.lpips;
  return result;
}

}  // namespace ldae::stages
