// ldae evaluate --repr RUN3 --out DIR: scores a trained LDAE on its cohort (reconstructions,
// linear probes, baselines) and writes DIR/results.json, DIR/report.md, DIR/report.html and
// DIR/features.csv (ldae/evaluate.h).
#include <cstdio>
#include <memory>

#include "apps/command.h"
#include "ldae/evaluate.h"

namespace {

struct EvaluateArgs {
  ldae::stages::EvaluateRequest request;
  std::string steps, image_dae_steps;
  bool quiet = false;
};

void run_evaluate(EvaluateArgs& a) {
  ldae::stages::EvaluateRequest req = a.request;
  if (!a.steps.empty()) req.steps = ldae::app::parse_int_list(a.steps, "--steps");
  if (!a.image_dae_steps.empty())
    req.image_dae_steps = ldae::app::parse_int_list(a.image_dae_steps, "--image-dae-steps");
  req.progress = !a.quiet;
  ldae::stages::evaluate(req);
  std::printf("%s: results.json, report.md, report.html, features.csv written\n", req.out.c_str());
}

void add_evaluate_command(CLI::App& app) {
  auto a = std::make_shared<EvaluateArgs>();
  CLI::App* sub = app.add_subcommand(
      "evaluate",
      "Score a trained LDAE (a finished train-repr run, and through it the autoencoder, the latent model and the "
      "latent cache): test-split reconstructions (autoencoder; LDAE with encoded x_T, with y_sem only and with another "
      "subject's y_sem; the unconditional model) at several DDIM step counts, linear probes for AD vs CN and age on y_sem, and the "
      "baselines (PCA of the autoencoder latents and of the images, the true hippocampal volume, a "
      "supervised encoder and, with --image-dae, the image-space diffusion autoencoder). Writes OUT/results.json, "
      "OUT/report.md, OUT/report.html, OUT/features.csv and OUT/evaluation/");
  sub->add_option("--repr", a->request.repr_run, "The stage-3 run folder (ldae train-repr --out)")->required();
  sub->add_option("--out", a->request.out, "The output folder")->required();
  sub->add_option("--seed", a->request.seed, "Seed of the x_T draws, the probes and the bootstrap")
      ->capture_default_str();
  sub->add_option("--steps", a->steps, "DDIM step counts, e.g. 10,20,50,100 (default: the preset's)");
  sub->add_option("--max-reconstructions", a->request.max_reconstructions,
                  "At most this many test scans at each DDIM step count (default: the preset's budget, which gives the "
                  "cheaper step counts more scans; the autoencoder-alone row is not capped)");
  sub->add_option("--probe-epochs", a->request.probe_epochs, "Epochs of the linear probes (default: 200, published)");
  sub->add_option("--supervised-epochs", a->request.supervised_epochs,
                  "At most this many epochs of the supervised baseline per task (default: the preset's budget: "
                  "tiny 4, course 1, paper 50, published; early stopping on the validation split as published)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--image-dae", a->request.image_dae_run,
                  "A finished train-repr run of the image-space diffusion autoencoder (the paper's DAE baseline: "
                  "cache-latents --image-space from the same stage-1 run, train-ldm, train-repr): its y_sem gets the "
                  "same probes (baselines.image_dae); without it the baseline is skipped");
  sub->add_option("--image-dae-steps", a->image_dae_steps,
                  "DDIM step counts of the image DAE's reconstructions (default: those of --steps)");
  sub->add_option("--image-dae-reconstructions", a->request.image_dae_reconstructions,
                  "At most this many test scans per step count for the image DAE (default: as for the LDAE)");
  sub->add_flag("--quiet", a->quiet, "No progress lines on stderr");
  sub->callback([a] { run_evaluate(*a); });
}

const ldae::app::Registration evaluate_registration("evaluate", 90, add_evaluate_command);

}  // namespace
