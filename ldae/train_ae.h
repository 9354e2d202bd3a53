// Stage 1 of LDAE, `ldae train-ae`: the AutoencoderKL trained with a PatchDiscriminator
// (ldae-reference 2), in a run folder (ldae/run/run_folder.h).
//
// The loop, per micro-batch of the training split (subject-level split, seeded):
//   generator pass (ldae/ae_gan_step.h) -> backward(loss_g / accumulate)
//   discriminator pass                  -> backward(loss_d / accumulate)
//   every `accumulate` micro-batches (and at an epoch's end): clip each network's
//   gradients to clip_grad_norm, Adam steps, zero the gradients: one optimizer step.
// After every optimizer step a row of log.csv (the window's mean losses); every
// checkpoint_every steps RUN/checkpoints/last.safetensors. At each epoch's end:
// validation (L1 and PSNR of decode(mu) on the validation split), a tri-planar figure of
// input / reconstruction / difference, best.safetensors when the validation L1 improved,
// then last.safetensors. At the end RUN/done.json.
//
// Exact resume: checkpoints are written at optimizer-step boundaries and hold both
// networks, both optimizers, the noise generator, the epoch and the batch position; the
// data order is a function of (seed, epoch). The same command after a crash continues
// from last.safetensors, drops the log rows written after it, and ends bit-identical to an
// uninterrupted run.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ldae/autoencoder_kl.h"
#include "ldae/run/run_folder.h"
#include "ldae/run/settings.h"

namespace ldae::stages {

struct TrainAeRequest {
  std::string manifest;    // the cohort's manifest.csv
  std::string out;         // the run folder
  std::string preset;      // tiny, course or paper (the networks' sizes)
  run::Settings settings;  // resolved from train_ae_settings()
  std::string lpips;       // an LPIPS weights file; empty: no perceptual term
  bool progress = true;    // a progress line with ETA on stderr
};

struct TrainAeResult {
  run::RunStart start = run::RunStart::Fresh;
  int64_t steps = 0;        // optimizer steps done (in total)
  int64_t steps_run = 0;    // by this call
  double best_val_l1 = 0;   // at best_step
  int64_t best_step = 0;
  double last_val_l1 = 0, last_val_psnr = 0, last_val_ssim = 0;
};

// Runs (or resumes, or finds finished) stage 1. Everything that can be refused is checked
// before the first step: the manifest and split, the volumes' size against the networks,
// the run folder (writable; a different configuration in it). Throws ldae::Error (exit 1)
// for those, for a non-finite loss (naming the step; the last checkpoint is kept) and
// for I/O failures.
TrainAeResult train_ae(const TrainAeRequest& request);

// For the later stages: the autoencoder of a finished train-ae run folder, built at
// `preset` and loaded from its "best" or "last" checkpoint (the tensors under
// "model.autoencoder."). Throws ldae::Error when the folder is missing, not a finished
// train-ae run, trained at another preset, or its checkpoint does not fit.
std::shared_ptr<nets::AutoencoderKL> load_trained_autoencoder(const std::string& run, const std::string& preset,
                                                              const std::string& which = "best");

// The log.csv columns after "step".
const std::vector<std::string>& train_ae_log_columns();

}  // namespace ldae::stages
