// ldae train-repr --ldm RUN2 --out RUN3 [--preset tiny|course|paper] [--config FILE]
// [--set key=value ...]: stage 3 of LDAE, the semantic encoder and the ShiftUNet's shift
// branch on top of the frozen stage-2 UNet (ldae/train_repr.h), in the run folder RUN3.
// The same command again resumes an interrupted run exactly, or says that it is complete.
#include <cstdio>
#include <memory>

#include "apps/command.h"
#include "apps/stage_args.h"
#include "ldae/train_repr.h"
#include "ldae/train_repr_settings.h"

namespace {

struct TrainReprArgs {
  ldae::app::StageArgs stage;
  std::string ldm, out;
  bool quiet = false;
};

void run_train_repr(const TrainReprArgs& a) {
  const auto& table = ldae::stages::train_repr_settings();
  const ldae::run::Settings settings = ldae::app::resolve_stage_settings(a.stage, table);
  if (a.stage.list_settings) {
    ldae::app::print_settings(settings);
    return;
  }
  if (a.ldm.empty()) throw CLI::RequiredError("--ldm");
  if (a.out.empty()) throw CLI::RequiredError("--out");
  ldae::stages::TrainReprRequest req;
  req.ldm_run = a.ldm;
  req.out = a.out;
  req.preset = a.stage.preset;
  req.settings = settings;
  req.progress = !a.quiet;
  req.device = ldae::parse_device("--device", a.stage.device);  // checked by the option
  req.early_stop = {a.stage.time_limit_min, a.stage.stop_after_epoch, a.stage.continue_stopped};
  const ldae::stages::TrainReprResult r = ldae::stages::train_repr(req);
  if (r.start == ldae::run::RunStart::Finished)
    std::printf("%s: already complete, %lld steps; best validation SSIM %.6g at step %lld\n",
                a.out.c_str(), static_cast<long long>(r.steps), r.best_val_ssim,
                static_cast<long long>(r.best_step));
  else
    std::printf(
        "%s: %lld steps (%lld in this run); validation SSIM %.6g, MSE %.6g; best SSIM %.6g at step "
        "%lld\n",
        a.out.c_str(), static_cast<long long>(r.steps), static_cast<long long>(r.steps_run),
        r.last_val_ssim, r.last_val_mse, r.best_val_ssim, static_cast<long long>(r.best_step));
  ldae::app::print_stopped_early(a.out, r.stopped_early);
}

void add_train_repr_command(CLI::App& app) {
  auto a = std::make_shared<TrainReprArgs>();
  CLI::App* sub =
      app.add_subcommand("train-repr",
                         "Stage 3: train the semantic encoder (AttentionSemanticEncoder on the "
                         "axial slices) and the ShiftUNet's "
                         "shift branch with the PDAE loss, on top of the frozen stage-2 UNet (EMA "
                         "weights of RUN2's last "
                         "checkpoint). Validation: SSIM of the y_sem-only reconstruction against "
                         "the autoencoder's. Writes the run "
                         "folder OUT (config.json, log.csv, checkpoints/last|best.safetensors, "
                         "figures/, done.json); the same "
                         "command again resumes an interrupted run bit for bit");
  sub->add_option(
      "--ldm", a->ldm,
      "A finished 'ldae train-ldm' run folder (its latent cache and autoencoder run come with it); "
      "required");
  sub->add_option(
      "--out", a->out,
      "The run folder (created; an existing one is resumed if its config matches); required");
  sub->add_flag("--quiet", a->quiet, "No progress line on stderr");
  ldae::app::add_stage_options(sub, a->stage, ldae::stages::train_repr_settings());
  sub->callback([a] { run_train_repr(*a); });
}

const ldae::app::Registration train_repr_registration("train-repr", 65, add_train_repr_command);

}  // namespace
