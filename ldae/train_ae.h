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
// validation (L1, PSNR and 3D SSIM of decode(mu) on the validation split, and its 2.5D
// LPIPS with --lpips), a tri-planar figure of input / reconstruction / difference,
// best.safetensors when the validation L1 improved, then last.safetensors. At the end
// RUN/done.json.
//
// The perceptual term (ldae-reference 2.3): with an LPIPS weights file (request.lpips) the
// generator loss adds perceptual_weight times the 2.5D LPIPS of ldae/lpips.h at
// fake_3d_ratio, its slices drawn from the generator "perceptual" (seed, offset 2^61);
// config.json records the file's absolute path and FNV-1a 64 fingerprint. Without one the
// term is off, and config.json and done.json say so.
//
// Exact resume: checkpoints are written at optimizer-step boundaries and hold both
// networks, both optimizers, the noise generator (and the perceptual slice generator), the
// epoch and the batch position; the data order is a function of (seed, epoch). The same
// command after a crash continues from last.safetensors, drops the log rows written after
// it, and ends bit-identical to an uninterrupted run.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ldae/autoencoder_kl.h"
#include "ldae/run/early_stop.h"
#include "ldae/run/run_folder.h"
#include "ldae/run/settings.h"

namespace ldae::stages {

struct TrainAeRequest {
  std::string manifest;    // the cohort's manifest.csv
  std::string out;         // the run folder
  std::string preset;      // tiny, course or paper (the networks' sizes)
  run::Settings settings;  // resolved from train_ae_settings()
  std::string lpips;       // LPIPS SqueezeNet weights (ldae/lpips.h); empty: no perceptual term
  bool progress = true;    // a progress line with ETA on stderr
  Device device = cpu_device();  // where the networks train (a GPU: --device cuda)
  run::EarlyStop early_stop;     // --time-limit, --stop-after-epoch (ldae/run/early_stop.h)
};

struct TrainAeResult {
  run::RunStart start = run::RunStart::Fresh;
  int64_t steps = 0;        // optimizer steps done (in total)
  int64_t steps_run = 0;    // by this call
  double best_val_l1 = 0;   // at best_step
  int64_t best_step = 0;
  double last_val_l1 = 0, last_val_psnr = 0, last_val_ssim = 0;
  double last_val_lpips = 0;  // the validation's 2.5D LPIPS; 0 without --lpips
  int64_t epochs = 0;           // epochs trained (done.json's "epochs")
  std::string stopped_early;    // why it trained fewer than planned (done.json); empty: all
};

// Runs (or resumes, or finds finished) stage 1. Everything that can be refused is checked
// before the first step: the LPIPS file (missing, not LPIPS weights), the manifest and
// split, the volumes' size against the networks (and against LPIPS: every axis >= 17, and
// fake_3d_ratio picking at least one slice per axis), the run folder (writable; a different configuration in it). Throws ldae::Error (exit 1)
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
