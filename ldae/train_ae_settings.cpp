#include "ldae/train_ae_settings.h"

namespace ldae::stages {

const run::SettingsTable& train_ae_settings() {
  using namespace run;
  constexpr double kMaxSeed = 4294967295.0, kHuge = 1e300, kMaxSteps = 1e12;
  static const SettingsTable table = {
      int_setting("seed", 42, 42, 42, 0, kMaxSeed,
                  "initialisation, sampling noise and data order (the reference: seed_everything(42))"),
      int_setting("split_seed", 42, 42, 42, 0, kMaxSeed,
                  "the subject-level split (keep it equal across the three stages)"),
      bool_setting("split_stratify", false, false, false,
                   "split each diagnosis's subjects separately (every diagnosis in every part; the reference "
                   "does not stratify)"),
      float_setting("val_fraction", 0.1, 0.1, 0.05, 0.0, 0.9,
                    "fraction of subjects for validation (of those left after test)"),
      float_setting("test_fraction", 0.1, 0.1, 0.1, 0.0, 0.9,
                    "fraction of subjects held out for testing (never trained on)"),
      int_setting("epochs", 3, 1, 100, 1, 1e6,
                  "passes over the training split (course: one, as one 64x80x64 micro-batch takes over a second "
                  "on a 2-core CPU; on the course demo's 112 training scans, seed 0, validation SSIM 0.626 "
                  "after one epoch, 191 s with the validation, on a 2-core Intel Xeon)"),
      int_setting("batch_size", 1, 1, 1, 1, 1024, "volumes per micro-batch"),
      int_setting("accumulate", 2, 1, 4, 1, 1024,
                  "micro-batches per optimizer step (each loss divided by it; an epoch's last, shorter window "
                  "steps too). Course: 1, as a short CPU run learns more from twice the optimizer steps (one "
                  "epoch of the course demo's cohort: validation SSIM 0.567 with 1 against 0.373 with 2)"),
      float_setting("lr_g", 1e-3, 3e-4, 5e-5, 0.0, kHuge, "Adam learning rate of the autoencoder"),
      float_setting("lr_d", 5e-4, 2e-4, 1e-4, 0.0, kHuge, "Adam learning rate of the discriminator"),
      string_setting("lr_decay", "constant", "cosine", "constant", {"constant", "cosine"},
                     "learning-rate schedule of both optimizers over the run's optimizer steps: constant "
                     "(published) or a cosine decay from lr_g / lr_d to 0 at the last step. Course: cosine, as "
                     "three epochs at a constant rate end wherever the oscillation leaves them (the course demo's "
                     "cohort, seed 0: validation SSIM 0.24 / 0.44 / 0.39 after epochs 1-3; cosine 0.39 / 0.70 / "
                     "0.73)"),
      float_setting("kl_weight", 1e-7, 1e-7, 1e-7, 0.0, kHuge, "weight of the KL term"),
      float_setting("perceptual_weight", 1e-3, 1e-3, 1e-3, 0.0, kHuge,
                    "weight of the 2.5D LPIPS term (used only with an LPIPS network; see --lpips)"),
      float_setting("fake_3d_ratio", 0.5, 0.5, 0.5, 0.0, 1.0, "fraction of slices per axis the 2.5D LPIPS scores (with --lpips; in training and validation)"),
      float_setting("adv_weight", 0.025, 0.025, 0.025, 0.0, kHuge,
                    "weight of the least-squares GAN terms (generator and discriminator)"),
      int_setting("adv_warmup_steps", 0, 0, 0, 0, kMaxSteps,
                  "optimizer steps before the adversarial terms start (the generator's term and the "
                  "discriminator's updates; 0 = published). Tried at the course preset: 1000 (no adversarial "
                  "terms in the demo's 112 steps) raised the autoencoder's validation SSIM from 0.626 to 0.680 "
                  "but blurred away the ventricles, and the demo's 10-step encoded reconstruction fell from "
                  "0.626 to 0.533 (docs/results.md, \"An autoencoder without the adversarial terms\"), so 0 stays"),
      bool_setting("faithful_disc_grad_leak", false, false, false,
                   "true: reproduce the published bug where the generator's adversarial backward also reaches "
                   "the discriminator's gradients (ldae-reference 10.1 item 1)"),
      float_setting("clip_grad_norm", 1.0, 1.0, 1.0, 1e-12, kHuge, "gradient-norm clipping of each network"),
      int_setting("checkpoint_every", 1, 20, 500, 1, kMaxSteps,
                  "optimizer steps between checkpoints (also at the end of every epoch)"),
      int_setting("log_every", 1, 1, 10, 1, kMaxSteps,
                  "optimizer steps between rows of log.csv (an epoch's last step is always logged)"),
      int_setting("debug_nan_at_step", -1, -1, -1, -1, kMaxSteps,
                  "testing: make the generator loss NaN at this optimizer step (-1: never)"),
  };
  return table;
}

}  // namespace ldae::stages
