// Stage 2 in process on a tiny phantom cohort: train-ae (1 epoch) -> cache_latents ->
// train_ldm (1 epoch). The cache holds the posterior means the autoencoder computes, the
// stage-1 split and the scale factor 1/std of the training latents; train_ldm writes a
// finished run whose UNet load_trained_unet gives back (EMA or raw weights). The kill -9
// resume, the NaN stop and the command-line refusals are in tests/cli/test_train_ldm.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "common/tiny_cohort.h"
#include "data/manifest.h"
#include "data/nifti.h"
#include "data/preprocess.h"
#include "ldae/latent_cache.h"
#include "ldae/run/run_folder.h"
#include "ldae/train_ae.h"
#include "ldae/train_ae_settings.h"
#include "ldae/train_ldm.h"
#include "ldae/train_ldm_settings.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"

using namespace ldae;
using ldae::testing::expect_error;
namespace fs = std::filesystem;

namespace {

std::string read_file_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), {});
}

bool same_values(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.to_vector() == b.to_vector();
}

}  // namespace

TEST(TrainLdm, CacheLatentsThenTrainThenLoadTheUnet) {
  const fs::path dir = fs::temp_directory_path() / ("ldae_train_ldm_" + std::to_string(::getpid()));
  ldae::testing::make_tiny_cohort(dir, {0, 12});

  stages::TrainAeRequest ae_req;
  ae_req.manifest = (dir / "cohort" / "manifest.csv").string();
  ae_req.out = (dir / "run1").string();
  ae_req.preset = "tiny";
  ae_req.settings = run::resolve_settings(stages::train_ae_settings(), "tiny", "", {"epochs=1", "val_fraction=0.2"});
  ae_req.progress = false;
  stages::train_ae(ae_req);

  // ---- The cache ----
  stages::CacheLatentsRequest cr;
  cr.ae_run = ae_req.out;
  cr.out = (dir / "lat").string();
  cr.progress = false;
  const stages::CacheLatentsResult c = stages::cache_latents(cr);
  EXPECT_FALSE(c.already_complete);
  EXPECT_EQ(c.count, 12);
  EXPECT_EQ(c.latent_shape, (Shape{3, 8, 10, 8}));
  EXPECT_TRUE(stages::cache_latents(cr).already_complete);

  const stages::LatentCache cache = stages::open_latent_cache(cr.out);
  EXPECT_EQ(cache.preset, "tiny");
  EXPECT_EQ(cache.scale_factor, c.scale_factor);
  const data::Manifest m = data::read_manifest(ae_req.manifest);
  const data::Split split = data::split_by_subject(m, 0.2, 0.1, 42);  // stage 1's split
  EXPECT_EQ(stages::rows_of_split(cache, "train"), split.train);
  EXPECT_EQ(stages::rows_of_split(cache, "val"), split.val);
  EXPECT_EQ(stages::rows_of_split(cache, "test"), split.test);
  expect_error([&] { stages::rows_of_split(cache, "validation"); }, {"split must be train, val or test"});

  // Each latent is the autoencoder's posterior mean of its (min-max scaled) scan.
  const auto ae = stages::load_trained_autoencoder(ae_req.out, "tiny", "best");
  {
    NoGrad no_grad;
    for (size_t row : {split.train[0], split.test[0]}) {
      const data::Volume v = data::normalize_intensity(data::read_nifti(m.rows[row].full_path));
      const auto [mu, sigma] = ae->encode(v.voxels.reshape({1, 1, 16, 20, 16}));
      EXPECT_TRUE(same_values(stages::read_latent(cache, row), mu.reshape({3, 8, 10, 8}))) << row;
    }
  }
  // The scale factor is 1 / the standard deviation of every training latent element.
  double n = 0, sum = 0, ss = 0;
  for (size_t row : split.train)
    for (double v : stages::read_latent(cache, row).to_vector()) {
      sum += v;
      n += 1;
    }
  for (size_t row : split.train)
    for (double v : stages::read_latent(cache, row).to_vector()) ss += (v - sum / n) * (v - sum / n);
  EXPECT_NEAR(c.scale_factor, 1.0 / std::sqrt(ss / (n - 1)), 1e-12 * c.scale_factor);
  const Tensor raw = stages::read_latent(cache, split.val[0]);
  EXPECT_TRUE(same_values(stages::read_scaled_latent(cache, split.val[0]), mul_scalar(raw, c.scale_factor)));

  expect_error([&] { stages::open_latent_cache((dir / "nowhere").string()); }, {"does not exist"});

  // An autoencoder whose latents are not finite is refused, and that cache stays incomplete.
  {
    const std::string best = (dir / "run1" / "checkpoints" / "best.safetensors").string();
    fs::copy_file(best, best + ".good");
    SafetensorsFile f = read_safetensors(best);
    int poisoned = 0;
    for (auto& [key, t] : f.tensors)
      if (key.rfind("model.autoencoder.quant_conv_mu", 0) == 0) {
        t.fill_(std::nan(""));
        ++poisoned;
      }
    ASSERT_GT(poisoned, 0);
    write_safetensors(best, f.tensors, f.metadata);
    stages::CacheLatentsRequest bad = cr;
    bad.out = (dir / "lat_nan").string();
    expect_error([&] { stages::cache_latents(bad); }, {"is not finite", "the cache is left incomplete"});
    EXPECT_FALSE(fs::exists(dir / "lat_nan" / "latents.json"));
    fs::rename(best + ".good", best);
  }

  // ---- Stage 2 ----
  stages::TrainLdmRequest req;
  req.latents = cr.out;
  req.out = (dir / "run2").string();
  req.preset = "tiny";
  req.settings = run::resolve_settings(stages::train_ldm_settings(), "tiny", "", {"epochs=1", "batch_size=3"});
  req.progress = false;
  const stages::TrainLdmResult r = stages::train_ldm(req);
  EXPECT_EQ(r.start, run::RunStart::Fresh);
  EXPECT_EQ(r.steps, static_cast<int64_t>((split.train.size() + 2) / 3));
  EXPECT_EQ(r.best_step, r.steps);
  EXPECT_GT(r.last_val_mse, 0);
  EXPECT_TRUE(fs::exists(dir / "run2" / "figures" / "epoch_001.png"));
  EXPECT_EQ(stages::train_ldm(req).start, run::RunStart::Finished);

  // The loaded UNet holds the checkpoint's EMA (default) or raw weights.
  const SafetensorsFile ck = read_safetensors(stages::trained_unet_path(req.out, "last"));
  const auto ema_net = stages::load_trained_unet(req.out, "tiny");
  const auto raw_net = stages::load_trained_unet(req.out, "tiny", "last", false);
  EXPECT_FALSE(ema_net->is_training());
  int differing = 0;
  for (const auto& [key, value] : ema_net->state_dict()) {
    EXPECT_TRUE(same_values(value, ck.tensors.at("ema." + key))) << key;
    EXPECT_TRUE(same_values(raw_net->state_dict().at(key), ck.tensors.at("model." + key))) << key;
    differing += same_values(value, raw_net->state_dict().at(key)) ? 0 : 1;
  }
  EXPECT_GT(differing, 0);  // decay 0.9: the EMA lags the raw weights
  EXPECT_EQ(stages::trained_ldm_schedule(req.out).T(), 1000);
  expect_error([&] { stages::load_trained_unet(req.out, "course"); },
               {"does not match this run", "preset: the folder's \"tiny\", this run's \"course\""});

  // A time limit (--time-limit) stops the run at the end of the first epoch that ends past
  // it: a limit of a nanosecond is past after epoch 1 of 3. The run is finished with the
  // epochs it trained (done.json says so), the UNet loads, and the same request finds it done.
  // --stop-after-epoch 1, which its done.json names, repeats it bit for bit.
  {
    stages::TrainLdmRequest limited = req;
    limited.out = (dir / "run2_limited").string();
    limited.settings = run::resolve_settings(stages::train_ldm_settings(), "tiny", "", {"epochs=3", "batch_size=3"});
    limited.early_stop.time_limit_min = 1e-9;
    const stages::TrainLdmResult l = stages::train_ldm(limited);
    EXPECT_EQ(l.steps, r.steps);  // one epoch's optimizer steps
    EXPECT_EQ(l.epochs, 1);
    EXPECT_EQ(l.stopped_early.rfind("the time limit of ", 0), 0u) << l.stopped_early;
    EXPECT_NE(l.stopped_early.find(" min (--time-limit) was reached after epoch 1 of 3 (--stop-after-epoch 1 repeats"),
              std::string::npos)
        << l.stopped_early;
    const nlohmann::json done = run::read_json((dir / "run2_limited" / "done.json").string());
    EXPECT_EQ(done["epochs"], 1);
    EXPECT_EQ(done["epochs_planned"], 3);
    EXPECT_EQ(done["stopped_early"], l.stopped_early);
    EXPECT_EQ(done["steps"], l.steps);
    EXPECT_FALSE(fs::exists(dir / "run2_limited" / "figures" / "epoch_002.png"));
    EXPECT_NO_THROW(stages::load_trained_unet(limited.out, "tiny"));
    const stages::TrainLdmResult again = stages::train_ldm(limited);
    EXPECT_EQ(again.start, run::RunStart::Finished);
    EXPECT_EQ(again.epochs, 1);
    EXPECT_EQ(again.stopped_early, l.stopped_early);

    stages::TrainLdmRequest repeat = limited;
    repeat.out = (dir / "run2_repeat").string();
    repeat.early_stop = {0, 1};
    const stages::TrainLdmResult rp = stages::train_ldm(repeat);
    EXPECT_EQ(rp.stopped_early, "--stop-after-epoch 1 of 3");
    for (const char* f : {"checkpoints/last.safetensors", "checkpoints/best.safetensors", "log.csv"})
      EXPECT_EQ(read_file_bytes(dir / "run2_limited" / f), read_file_bytes(dir / "run2_repeat" / f)) << f;

    // --continue trains the stopped run on: to epoch 2 under a new stop, then to the planned 3.
    // The result is the uninterrupted 3-epoch run's, byte for byte, done.json included.
    repeat.early_stop = {0, 2, true};
    const stages::TrainLdmResult c2 = stages::train_ldm(repeat);
    EXPECT_EQ(c2.start, run::RunStart::Continue);
    EXPECT_EQ(c2.stopped_early, "--stop-after-epoch 2 of 3");
    EXPECT_EQ(c2.steps, 2 * r.steps);
    repeat.early_stop = {0, 0, true};
    const stages::TrainLdmResult c3 = stages::train_ldm(repeat);
    EXPECT_EQ(c3.start, run::RunStart::Continue);
    EXPECT_EQ(c3.epochs, 3);
    EXPECT_EQ(c3.stopped_early, "");
    EXPECT_EQ(stages::train_ldm(repeat).start, run::RunStart::Finished);  // nothing left to continue
    stages::TrainLdmRequest full3 = limited;
    full3.out = (dir / "run2_full3").string();
    full3.early_stop = {};
    EXPECT_EQ(stages::train_ldm(full3).steps, c3.steps);
    for (const char* f : {"checkpoints/last.safetensors", "checkpoints/best.safetensors", "log.csv", "done.json"})
      EXPECT_EQ(read_file_bytes(dir / "run2_full3" / f), read_file_bytes(dir / "run2_repeat" / f)) << f;

    // Without a stop every planned epoch is trained and done.json has no stop fields.
    EXPECT_EQ(r.epochs, 1);
    EXPECT_EQ(r.stopped_early, "");
    const nlohmann::json full = run::read_json((dir / "run2" / "done.json").string());
    EXPECT_FALSE(full.contains("epochs_planned"));
    EXPECT_FALSE(full.contains("stopped_early"));
  }

  // A preset other than the cache's, and an unfinished cache, are refused.
  stages::TrainLdmRequest other = req;
  other.out = (dir / "run2_course").string();
  other.preset = "course";
  other.settings = run::resolve_settings(stages::train_ldm_settings(), "course", "", {});
  expect_error([&] { stages::train_ldm(other); }, {"made by an autoencoder of preset \"tiny\""});
  EXPECT_FALSE(fs::exists(other.out));
  fs::remove(dir / "lat" / "latents.json");
  expect_error([&] { stages::open_latent_cache(cr.out); }, {"is not complete (no latents.json)"});
  fs::remove_all(dir);
}
