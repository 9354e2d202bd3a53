// ldae train-ldm --latents LAT --out RUN2 [--preset tiny|course|paper] [--config FILE]
// [--set key=value ...]: stage 2 of LDAE, the latent DDPM (ldae/train_ldm.h), in the run
// folder RUN2. The same command again resumes an interrupted run exactly, or says that
// the run is complete.
#include <cstdio>
#include <memory>

#include "apps/command.h"
#include "apps/stage_args.h"
#include "ldae/train_ldm.h"
#include "ldae/train_ldm_settings.h"

namespace {

struct TrainLdmArgs {
  ldae::app::StageArgs stage;
  std::string latents, out;
  bool quiet = false;
};

void run_train_ldm(const TrainLdmArgs& a) {
  const auto& table = ldae::stages::train_ldm_settings();
  const ldae::run::Settings settings = ldae::app::resolve_stage_settings(a.stage, table);
  if (a.stage.list_settings) {
    ldae::app::print_settings(settings);
    return;
  }
  if (a.latents.empty()) throw CLI::RequiredError("--latents");
  if (a.out.empty()) throw CLI::RequiredError("--out");
  ldae::stages::TrainLdmRequest req;
  req.latents = a.latents;
  req.out = a.out;
  req.preset = a.stage.preset;
  req.settings = settings;
  req.progress = !a.quiet;
  req.device = ldae::parse_device("--device", a.stage.device);  // checked by the option
  req.early_stop = {a.stage.time_limit_min, a.stage.stop_after_epoch, a.stage.continue_stopped};
  const ldae::stages::TrainLdmResult r = ldae::stages::train_ldm(req);
  if (r.start == ldae::run::RunStart::Finished)
    std::printf("%s: already complete, %lld steps; best validation eps-MSE (EMA) %.6g at step %lld\n", a.out.c_str(),
                static_cast<long long>(r.steps), r.best_val_mse, static_cast<long long>(r.best_step));
  else
    std::printf("%s: %lld steps (%lld in this run); validation eps-MSE %.6g, EMA %.6g; best (EMA) %.6g at step %lld\n",
                a.out.c_str(), static_cast<long long>(r.steps), static_cast<long long>(r.steps_run), r.last_val_mse,
                r.last_val_mse_ema, r.best_val_mse, static_cast<long long>(r.best_step));
  ldae::app::print_stopped_early(a.out, r.stopped_early);
}

void add_train_ldm_command(CLI::App& app) {
  auto a = std::make_shared<TrainLdmArgs>();
  CLI::App* sub = app.add_subcommand(
      "train-ldm",
      "Stage 2: train the latent diffusion model (a UNet predicting the noise of scaled latents, eps-MSE, Adam, "
      "gradient clipping, EMA) on a latent cache from 'ldae cache-latents'. Writes the run folder OUT "
      "(config.json, log.csv, checkpoints/last|best.safetensors with the EMA weights, figures/ of decoded DDIM "
      "samples, done.json); the same command again resumes an interrupted run bit for bit");
  sub->add_option("--latents", a->latents, "A latent cache folder from 'ldae cache-latents'; required");
  sub->add_option("--out", a->out,
                  "The run folder (created; an existing one is resumed if its config matches); required");
  sub->add_flag("--quiet", a->quiet, "No progress line on stderr");
  ldae::app::add_stage_options(sub, a->stage, ldae::stages::train_ldm_settings());
  sub->callback([a] { run_train_ldm(*a); });
}

const ldae::app::Registration train_ldm_registration("train-ldm", 62, add_train_ldm_command);

}  // namespace
