#include "ldae/train_ldm_settings.h"

namespace ldae::stages {

const run::SettingsTable& train_ldm_settings() {
  using namespace run;
  constexpr double kMaxSeed = 4294967295.0, kHuge = 1e300, kMaxSteps = 1e12;
  static const SettingsTable table = {
      int_setting("seed", 42, 42, 42, 0, kMaxSeed,
                  "initialisation, dropout, timesteps, noise and data order (the reference: seed_everything(42))"),
      string_setting("schedule", "linear", "linear", "linear", {"linear", "cosine"},
                     "noise schedule (the reference: linear, beta 1e-4 to 0.02)"),
      int_setting("timesteps", 1000, 1000, 1000, 2, 100000, "diffusion steps T (the reference: 1000)"),
      int_setting("epochs", 4, 12, 500, 1, 1e6,
                  "passes over the training split's latents (course: 12, about 16 s each on 2 idle cores with the "
                  "course demo's 112 training latents: the 336 optimizer steps of 25 epochs over the earlier "
                  "40-subject demo's 52 latents, where 15 epochs left the validation eps-MSE (EMA) still falling, "
                  "0.081, and y_sem-only reconstructions at SSIM 0.11-0.16; 25 gave 0.056 and 0.33-0.42)"),
      int_setting("batch_size", 4, 4, 128, 1, 4096,
                  "latents per micro-batch (the reference: 64 per GPU on 2 GPUs)"),
      int_setting("accumulate", 1, 1, 1, 1, 1024,
                  "micro-batches per optimizer step (each loss divided by it; an epoch's last, shorter window "
                  "steps too)"),
      float_setting("lr", 1e-3, 1e-3, 2.5e-5, 0.0, kHuge, "Adam learning rate (no schedule, as published)"),
      float_setting("dropout", 0.1, 0.1, 0.1, 0.0, 0.99,
                    "dropout in the UNet's ResBlocks during training (the reference: 0.1; does not change the "
                    "weights' layout)"),
      float_setting("clip_grad_norm", 1.0, 1.0, 1.0, 1e-12, kHuge, "gradient-norm clipping"),
      float_setting("ema_decay", 0.9, 0.95, 0.999, 0.0, 1.0,
                    "decay of the EMA of the UNet's weights (tiny 0.9 and course 0.95, as their runs are only a "
                    "few dozen to a few hundred steps long)"),
      bool_setting("ema_warmup", false, false, false,
                   "true: EMA decay min(ema_decay, (1 + n) / (10 + n)) at update n (false: the reference)"),
      bool_setting("ema_per_batch", false, false, false,
                   "true: update the EMA after every micro-batch, as published under gradient accumulation "
                   "(ldae-reference 10.1 item 6); false: once per optimizer step"),
      int_setting("val_every", 1, 3, 1, 1, 1e6,
                  "epochs between validations (the eps-MSE of both weights, the sample figure and the best "
                  "checkpoint); the last epoch always validates. Course: 3, as one validation (about 6 s on 2 "
                  "cores: 40 UNet calls of 2 samples for each set of weights, then 10 DDIM calls of 2 samples and "
                  "3 decodes for the figure) cost 40 % of a 16 s epoch; the training itself, and so the last "
                  "checkpoint that stage 3 reads, is the same whatever the value"),
      int_setting("val_timesteps", 4, 2, 10, 1, 1000,
                  "validation: fixed seeded timesteps (and noises) per validation latent for the eps-MSE"),
      int_setting("sample_count", 2, 2, 4, 0, 64,
                  "validation: DDIM samples drawn with the EMA weights, decoded and drawn in "
                  "figures/epoch_NNN.png (0: none, and the autoencoder run is not needed)"),
      int_setting("sample_steps", 5, 10, 50, 1, 10000, "validation: DDIM steps of those samples (the reference: 50)"),
      int_setting("checkpoint_every", 1, 4, 500, 1, kMaxSteps,
                  "optimizer steps between checkpoints (also at the end of every epoch)"),
      int_setting("log_every", 1, 1, 10, 1, kMaxSteps,
                  "optimizer steps between rows of log.csv (an epoch's last step is always logged)"),
      int_setting("debug_nan_at_step", -1, -1, -1, -1, kMaxSteps,
                  "testing: make the loss NaN at this optimizer step (-1: never)"),
  };
  return table;
}

}  // namespace ldae::stages
