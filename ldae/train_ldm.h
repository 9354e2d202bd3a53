// Stage 2 of LDAE, `ldae train-ldm`: the latent DDPM (ldae-reference 4), a UNet trained to
// predict the noise of scaled latents, in a run folder (ldae/run/run_folder.h).
//
// Data: z0 = scale_factor * latent of the cache's `train` rows (ldae/latent_cache.h), all
// held in memory, shuffled per epoch from (seed, epoch).
// The loop, per micro-batch z0: (B, C, D, H, W):
//   t ~ Uniform{0..T-1}, eps ~ N(0, I)  (both from the "noise" generator)
//   z_t = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps
//   loss = mean((UNet(z_t, t) - eps)^2)  -> backward(loss / accumulate)
//   every `accumulate` micro-batches (and at an epoch's end): clip the gradient norm,
//   Adam step, zero the gradients, EMA update (one optimizer step; with ema_per_batch the
//   EMA is updated after every micro-batch instead, as published).
// At each epoch's end: validation = the eps-MSE on the `val` rows at fixed seeded
// timesteps and noises (deterministic; with the raw and with the EMA weights), best
// checkpoint by the EMA's; a few DDIM samples from fixed noise with the EMA weights,
// decoded by the stage-1 autoencoder (latent / scale_factor), in figures/epoch_NNN.png.
//
// On an image-space cache (`cache-latents --image-space`: the image-space diffusion
// autoencoder baseline) the same loop trains the preset's UNet on the image
// (nets::image_space_unet_options: 1 channel, isotropic resampling); the samples are images
// (no autoencoder); config.json records data.space "image" (absent: latent).
//
// Checkpoints (nn/checkpoint.h): "model.<unet key>", "ema.<unet key>", "optim.*", the
// generators "noise" and "dropout", the epoch and batch position: the same command after
// a crash continues bit-identically to an uninterrupted run.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/schedule.h"
#include "ldae/run/early_stop.h"
#include "ldae/run/run_folder.h"
#include "ldae/run/settings.h"
#include "ldae/unet.h"

namespace ldae::stages {

struct TrainLdmRequest {
  std::string latents;     // LAT, a complete `ldae cache-latents` folder
  std::string out;         // the run folder RUN2
  std::string preset;      // tiny, course or paper; must equal LAT's preset
  run::Settings settings;  // resolved from train_ldm_settings()
  bool progress = true;    // a progress line with ETA on stderr
  Device device = cpu_device();  // where the UNet trains (a GPU: --device cuda)
  run::EarlyStop early_stop;     // --time-limit, --stop-after-epoch (ldae/run/early_stop.h)
};

struct TrainLdmResult {
  run::RunStart start = run::RunStart::Fresh;
  int64_t steps = 0;          // optimizer steps done (in total)
  int64_t steps_run = 0;      // by this call
  double best_val_mse = 0;    // EMA weights' validation eps-MSE at best_step
  int64_t best_step = 0;
  double last_val_mse = 0;      // raw weights, last validation
  double last_val_mse_ema = 0;  // EMA weights, last validation
  int64_t epochs = 0;           // epochs trained (done.json's "epochs")
  std::string stopped_early;    // why it trained fewer than planned (done.json); empty: all
};

// Runs (or resumes, or finds finished) stage 2. Everything that can be refused is checked
// before the first step: the latent cache (complete, its preset equal to `preset`, its
// latents fitting the preset's UNet, non-empty train and val splits, batch_size), the
// autoencoder run when samples are drawn, and the run folder (writable; a different
// configuration in it). Throws ldae::Error for those, for a non-finite loss (naming the
// step; the last checkpoint is kept) and for I/O failures.
TrainLdmResult train_ldm(const TrainLdmRequest& request);

// The noise schedule of the settings ("schedule", "timesteps").
diffusion::Schedule ldm_schedule(const run::Settings& settings);
// The noise schedule a finished (or started) train-ldm run folder was trained with (its
// config.json's settings.schedule and settings.timesteps).
diffusion::Schedule trained_ldm_schedule(const std::string& run2);

// RUN2/checkpoints/<which>.safetensors ("best" or "last").
std::string trained_unet_path(const std::string& run2, const std::string& which = "last");

// True when a train-ldm config.json (data.space) says the run diffused images.
bool is_image_space_run(const nlohmann::json& config);
// The UNet options a train-ldm run was built with: nets::unet_options(preset), made
// image-space (nets::image_space_unet_options) for an image-space run; dropout not applied.
nets::UNetOptions trained_unet_options(const std::string& run2, const std::string& preset);

// For stage 3: the UNet of a finished train-ldm run folder, built at `preset`
// (trained_unet_options) and loaded from its "best" or "last" checkpoint, the EMA weights
// ("ema.*") by default or the raw ones ("model.*"); in eval mode. Throws ldae::Error when
// the folder is missing, not a finished train-ldm run, trained at another preset, or its
// checkpoint does not fit.
std::shared_ptr<nets::UNet> load_trained_unet(const std::string& run2, const std::string& preset,
                                              const std::string& which = "last", bool ema = true);

// The log.csv columns after "step".
const std::vector<std::string>& train_ldm_log_columns();

}  // namespace ldae::stages
