#include "ldae/train_ae_settings.h"

namespace ldae::stages {

const run::SettingsTable& train_ae_settings() {
  using run::SettingType;
  static const run::SettingsTable table = {
      {"seed", SettingType::Int, 42, 42, 42,
       "initialisation, sampling noise and data order (the reference: seed_everything(42))", 0, 4294967295.0},
      {"split_seed", SettingType::Int, 42, 42, 42,
       "the subject-level split (keep it equal across the three stages)", 0, 4294967295.0},
      {"val_fraction", SettingType::Float, 0.1, 0.1, 0.05, "fraction of subjects for validation (of those left after test)",
       0.0, 0.9},
      {"test_fraction", SettingType::Float, 0.1, 0.1, 0.1, "fraction of subjects held out for testing (never trained on)",
       0.0, 0.9},
      {"epochs", SettingType::Int, 3, 20, 100, "passes over the training split", 1, 1e6},
      {"batch_size", SettingType::Int, 1, 1, 1, "volumes per micro-batch", 1, 1024},
      {"accumulate", SettingType::Int, 2, 2, 4,
       "micro-batches per optimizer step (each loss divided by it; an epoch's last, shorter window steps too)", 1,
       1024},
      {"lr_g", SettingType::Float, 1e-3, 3e-4, 5e-5, "Adam learning rate of the autoencoder", 0.0, 1e300},
      {"lr_d", SettingType::Float, 5e-4, 2e-4, 1e-4, "Adam learning rate of the discriminator", 0.0, 1e300},
      {"kl_weight", SettingType::Float, 1e-7, 1e-7, 1e-7, "weight of the KL term", 0.0, 1e300},
      {"perceptual_weight", SettingType::Float, 1e-3, 1e-3, 1e-3,
       "weight of the 2.5D LPIPS term (used only with an LPIPS network; see --lpips)", 0.0, 1e300},
      {"fake_3d_ratio", SettingType::Float, 0.5, 0.5, 0.5, "fraction of slices per axis the 2.5D LPIPS scores", 0.0,
       1.0},
      {"adv_weight", SettingType::Float, 0.025, 0.025, 0.025,
       "weight of the least-squares GAN terms (generator and discriminator)", 0.0, 1e300},
      {"adv_warmup_steps", SettingType::Int, 0, 0, 0,
       "optimizer steps before the adversarial terms start (generator term and discriminator updates; 0 = "
       "published)",
       0, 1e12},
      {"faithful_disc_grad_leak", SettingType::Bool, false, false, false,
       "true: reproduce the published bug where the generator's adversarial backward also reaches the "
       "discriminator's gradients (ldae-reference 10.1 item 1)"},
      {"clip_grad_norm", SettingType::Float, 1.0, 1.0, 1.0, "gradient-norm clipping of each network", 1e-12, 1e300},
      {"checkpoint_every", SettingType::Int, 1, 20, 500,
       "optimizer steps between checkpoints (also at the end of every epoch)", 1, 1e12},
      {"log_every", SettingType::Int, 1, 1, 10, "optimizer steps between rows of log.csv", 1, 1e12},
      {"debug_nan_at_step", SettingType::Int, -1, -1, -1,
       "testing: make the generator loss NaN at this optimizer step (-1: never)", -1, 1e12},
  };
  return table;
}

}  // namespace ldae::stages
