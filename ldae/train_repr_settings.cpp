#include "ldae/train_repr_settings.h"

namespace ldae::stages {

const run::SettingsTable& train_repr_settings() {
  using namespace run;
  constexpr double kMaxSeed = 4294967295.0, kHuge = 1e300, kMaxSteps = 1e12;
  static const SettingsTable table = {
      int_setting("seed", 42, 42, 42, 0, kMaxSeed,
                  "initialisation, timesteps, noise, dropout and data order (the reference: "
                  "seed_everything(42)); "
                  "the split is the latent cache's (stage 1's)"),
      int_setting("epochs", 2, 5, 400, 1, 1e6,
                  "passes over the training split (course: five over the demo's 112 training scans, 560 "
                  "optimizer steps, about as many as the ten epochs over the earlier 40-subject demo's 52; "
                  "with a fifth of that the semantic code barely conditioned the decoder, see "
                  "docs/results.md)"),
      int_setting("batch_size", 1, 1, 8, 1, 1024,
                  "scans per micro-batch (the reference: 4 per GPU on 2 GPUs)"),
      int_setting("accumulate", 2, 1, 4, 1, 1024,
                  "micro-batches per optimizer step (each loss divided by it; an epoch's last, "
                  "shorter window "
                  "steps too)"),
      float_setting("lr", 1e-3, 5e-4, 2.5e-5, 0.0, kHuge,
                    "Adam learning rate of the shift branch (no weight decay, no schedule; the "
                    "reference: one rate for the branch and the encoder)"),
      float_setting("encoder_lr", 1e-3, 2.5e-5, 2.5e-5, 0.0, kHuge,
                    "Adam learning rate of the semantic encoder (course: the published 2.5e-5, 20x "
                    "below the branch's; at the branch's 5e-4 the codes of all scans collapse onto "
                    "one, see docs/results.md; 0: the encoder frozen, no gradient)"),
      int_setting("noise_draws", 1, 1, 1, 1, 64,
                  "noise draws (t, eps) per scan and micro-batch: the scan is encoded once and its "
                  "code conditions this many noisy copies of its latent, one batch through the "
                  "ShiftUNet (1: the reference); the same loss, estimated with less variance, for "
                  "less than the cost of as many scans"),
      string_setting("code_norm", "off", "off", "off", {"off", "running", "batch"},
                     "y_sem standardised per component before the shift branch's label_emb "
                     "(ldae/code_norm.h; not published): off (the reference), running (by running "
                     "statistics of the training codes, saved in the checkpoints) or batch (in training "
                     "centred on the micro-batch's own mean, gradient through it; needs batch_size "
                     ">= 2). On our cohorts the codes of all scans differ by 1-3 %, and off leaves the "
                     "branch nearly blind to them (docs/results.md)"),
      float_setting("loss_gamma", 0.1, 0.1, 0.1, 0.0, kHuge,
                    "gamma of the loss weight lambda_t = SNR^gamma / (1 + SNR)"),
      bool_setting("loss_weighted", true, true, true,
                   "weight the PDAE loss by lambda_t (false: unweighted, an ablation)"),
      float_setting("clip_grad_norm", 1.0, 1.0, 1.0, 1e-12, kHuge,
                    "gradient-norm clipping over the encoder and the shift branch together"),
      float_setting("ema_decay", 0.9, 0.99, 0.999, 0.0, 1.0,
                    "EMA decay of the encoder and the shift branch (validation and "
                    "load_trained_ldae use the EMA)"),
      bool_setting(
          "ema_per_batch", false, false, false,
          "true: update the EMA after every micro-batch as published (4 updates per optimizer step "
          "with accumulate 4, ldae-reference 10.1 item 6); false: once per optimizer step (as "
          "train-ldm's "
          "setting of the same name)"),
      int_setting("val_ddim_steps", 5, 10, 100, 1, 999,
                  "DDIM steps of the validation's y_sem-only reconstruction (the reference: 100)"),
      string_setting("val_shift_coefficient", "training", "training", "reference",
                     {"training", "reference"},
                     "coefficient of the shift in validation sampling: training (k_t, as trained) "
                     "or reference "
                     "(-sqrt(1 - abar_t), the published sampler; ldae-reference 10.1 item 3)"),
      string_setting("val_x0_clamp", "off", "off", "reference", {"off", "reference", "dynamic"},
                     "clamp of the predicted x0 in validation sampling: off, reference ([-1, 1] on "
                     "scaled latents, "
                     "published) or dynamic (per sample 99.5th percentile of |x0|, at least 1); with "
                     "off, an image-space run still keeps x0 in the data range [-1, 1]"),
      int_setting("val_scans", 0, 2, 0, 0, 1e9,
                  "validation scans per epoch, the first of the validation split (0: all of it)"),
      int_setting("spread_scans", 4, 16, 32, 2, 1e9,
                  "training scans (the first of the split) whose y_sem from the EMA encoder give "
                  "log.csv's y_sem_spread at the end of each epoch: the median over the code's "
                  "components of their std across these scans over the median |mean| (near 0: "
                  "every scan gets nearly the same code)"),
      int_setting("swap_timesteps", 2, 4, 8, 0, 64,
                  "timesteps per scan of log.csv's code-swap check at the end of each epoch "
                  "(ldae/code_swap.h): the PDAE loss of the spread scans with their own code, "
                  "another subject's and none; swap_share = (swapped - own) / (none - own), the "
                  "part of the branch's gain that needs the scan's own code (0: none of it; "
                  "0 here: no check; the timesteps of a scan go through the network as one batch, "
                  "hence at most 64)"),
      int_setting("checkpoint_every", 1, 20, 500, 1, kMaxSteps,
                  "optimizer steps between checkpoints (also at the end of every epoch)"),
      int_setting(
          "log_every", 1, 1, 10, 1, kMaxSteps,
          "optimizer steps between rows of log.csv (an epoch's last step is always logged)"),
      int_setting("debug_nan_at_step", -1, -1, -1, -1, kMaxSteps,
                  "testing: make the loss NaN at this optimizer step (-1: never)"),
  };
  return table;
}

}  // namespace ldae::stages
