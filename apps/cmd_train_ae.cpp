// ldae train-ae --data MANIFEST.csv --out RUN [--preset tiny|course|paper] [--config FILE]
// [--set key=value ...] [--lpips WEIGHTS.safetensors]: stage 1 of LDAE, the autoencoder and its discriminator
// (ldae/train_ae.h), in the run folder RUN. The same command again resumes an interrupted
// run exactly, or says that the run is complete.
#include <cstdio>
#include <memory>

#include "apps/command.h"
#include "apps/stage_args.h"
#include "ldae/train_ae.h"
#include "ldae/train_ae_settings.h"

namespace {

struct TrainAeArgs {
  ldae::app::StageArgs stage;
  std::string data, out, lpips;
  bool quiet = false;
};

void run_train_ae(const TrainAeArgs& a) {
  const auto& table = ldae::stages::train_ae_settings();
  const ldae::run::Settings settings = ldae::app::resolve_stage_settings(a.stage, table);
  if (a.stage.list_settings) {
    ldae::app::print_settings(settings);
    return;
  }
  if (a.data.empty()) throw CLI::RequiredError("--data");
  if (a.out.empty()) throw CLI::RequiredError("--out");
  ldae::stages::TrainAeRequest req;
  req.manifest = a.data;
  req.out = a.out;
  req.preset = a.stage.preset;
  req.settings = settings;
  req.lpips = a.lpips;
  req.progress = !a.quiet;
  req.device = ldae::parse_device("--device", a.stage.device);  // checked by the option
  req.early_stop = {a.stage.time_limit_min, a.stage.stop_after_epoch, a.stage.continue_stopped};
  const ldae::stages::TrainAeResult r = ldae::stages::train_ae(req);
  if (r.start == ldae::run::RunStart::Finished)
    std::printf("%s: already complete, %lld steps; best validation L1 %.6g at step %lld\n", a.out.c_str(),
                static_cast<long long>(r.steps), r.best_val_l1, static_cast<long long>(r.best_step));
  else {
    char lpips[64] = "";
    if (!a.lpips.empty()) std::snprintf(lpips, sizeof lpips, ", 2.5D LPIPS %.6g", r.last_val_lpips);
    std::printf("%s: %lld steps (%lld in this run); validation L1 %.6g, PSNR %.2f dB%s; best L1 %.6g at step %lld\n",
                a.out.c_str(), static_cast<long long>(r.steps), static_cast<long long>(r.steps_run), r.last_val_l1,
                r.last_val_psnr, lpips, r.best_val_l1, static_cast<long long>(r.best_step));
  }
  ldae::app::print_stopped_early(a.out, r.stopped_early);
}

void add_train_ae_command(CLI::App& app) {
  auto a = std::make_shared<TrainAeArgs>();
  CLI::App* sub = app.add_subcommand(
      "train-ae",
      "Stage 1: train the autoencoder (AutoencoderKL) with its patch discriminator: L1 + KL + perceptual + "
      "least-squares GAN, two Adam optimizers, gradient accumulation and clipping. Writes the run folder OUT "
      "(config.json, log.csv, checkpoints/last|best.safetensors, figures/, done.json); the same command again "
      "resumes an interrupted run bit for bit");
  sub->add_option("--data", a->data, "The cohort's manifest.csv (e.g. from 'ldae synth'); required");
  sub->add_option("--out", a->out, "The run folder (created; an existing one is resumed if its config matches); required");
  sub->add_option("--lpips", a->lpips,
                  "LPIPS SqueezeNet weights (a safetensors file from tools/convert_lpips.py) for the 2.5D "
                  "perceptual term: perceptual_weight x LPIPS of fake_3d_ratio of the slices along each axis "
                  "(every axis of the volumes at least 17 voxels); the validation rows then also hold val_lpips. "
                  "Loaded strictly before any training; config.json records its path and fingerprint. "
                  "Without it the perceptual term is off, and config.json says so");
  sub->add_flag("--quiet", a->quiet, "No progress line on stderr");
  ldae::app::add_stage_options(sub, a->stage, ldae::stages::train_ae_settings());
  sub->callback([a] { run_train_ae(*a); });
}

const ldae::app::Registration train_ae_registration("train-ae", 60, add_train_ae_command);

}  // namespace
