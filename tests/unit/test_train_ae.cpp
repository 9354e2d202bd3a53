// Stage 1 in process (ldae/train_ae.h) on a tiny phantom cohort: one epoch runs, the run
// folder is complete, the same request again finds it finished, and a later stage loads
// the trained autoencoder from it (refusing another preset or an unfinished folder). The
// kill -9 resume, the NaN stop and the refusals are in tests/cli/test_train_ae.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "common/tiny_cohort.h"
#include "data/manifest.h"
#include "data/nifti.h"
#include "data/preprocess.h"
#include "ldae/train_ae.h"
#include "ldae/train_ae_settings.h"
#include "tensor/ops.h"

using namespace ldae;
using ldae::testing::expect_error;
using ldae::testing::make_tiny_cohort;
namespace fs = std::filesystem;

TEST(TrainAe, OneEpochThenALaterStageLoadsTheAutoencoder) {
  const fs::path dir = fs::temp_directory_path() / ("ldae_train_ae_" + std::to_string(::getpid()));
  make_tiny_cohort(dir);

  stages::TrainAeRequest req;
  req.manifest = (dir / "cohort" / "manifest.csv").string();
  req.out = (dir / "run").string();
  req.preset = "tiny";
  req.settings = run::resolve_settings(stages::train_ae_settings(), "tiny", "", {"epochs=1", "val_fraction=0.2"});
  req.progress = false;
  const stages::TrainAeResult r = stages::train_ae(req);
  EXPECT_EQ(r.start, run::RunStart::Fresh);
  EXPECT_EQ(r.steps, 2);  // 6 subjects: 1 test, 1 validation, 4 training scans; accumulate 2
  EXPECT_EQ(r.steps_run, 2);
  EXPECT_EQ(r.best_step, 2);
  EXPECT_GT(r.last_val_l1, 0);
  for (const char* f : {"config.json", "log.csv", "done.json", "checkpoints/last.safetensors",
                        "checkpoints/best.safetensors", "figures/epoch_001.png"})
    EXPECT_TRUE(fs::exists(dir / "run" / f)) << f;

  const stages::TrainAeResult again = stages::train_ae(req);
  EXPECT_EQ(again.start, run::RunStart::Finished);
  EXPECT_EQ(again.steps, 2);
  EXPECT_EQ(again.last_val_l1, r.last_val_l1);

  // The loaded autoencoder reproduces the run's validation L1 exactly.
  const auto ae = stages::load_trained_autoencoder(req.out, "tiny");
  const data::Manifest m = data::read_manifest(req.manifest);
  const data::Split split = data::split_by_subject(m, 0.2, 0.1, 42);
  ASSERT_EQ(split.val.size(), 1u);
  const data::Volume v = data::normalize_intensity(data::read_nifti(m.rows[split.val[0]].full_path));
  NoGrad no_grad;
  const Tensor x = v.voxels.reshape({1, 1, 16, 20, 16});
  EXPECT_EQ(mean(abs(sub(ae->reconstruct(x), x))).item(), r.last_val_l1);

  expect_error([&] { stages::load_trained_autoencoder(req.out, "course"); },
               {"does not match this run", "preset: the folder's \"tiny\", this run's \"course\""});
  fs::remove(dir / "run" / "done.json");
  expect_error([&] { stages::load_trained_autoencoder(req.out, "tiny"); }, {"was not finished (no done.json)"});
  fs::remove_all(dir);
}

// lr_decay=cosine sets both rates per optimizer step, lr * (1 + cos(pi step / steps)) / 2:
// a one-step run (step 0, the full rate) ends with the same weights as the constant rate,
// a two-step run (its second step at half the rate) with different ones.
TEST(TrainAe, CosineDecayChangesTheRateAfterTheFirstStep) {
  const fs::path dir = fs::temp_directory_path() / ("ldae_train_ae_cos_" + std::to_string(::getpid()));
  make_tiny_cohort(dir);
  // The weights of a finished tiny run with these settings.
  auto train = [&](const std::string& name, const std::vector<std::string>& sets) {
    stages::TrainAeRequest req;
    req.manifest = (dir / "cohort" / "manifest.csv").string();
    req.out = (dir / name).string();
    req.preset = "tiny";
    std::vector<std::string> all = {"epochs=1", "val_fraction=0.2"};
    all.insert(all.end(), sets.begin(), sets.end());
    req.settings = run::resolve_settings(stages::train_ae_settings(), "tiny", "", all);
    req.progress = false;
    const stages::TrainAeResult r = stages::train_ae(req);
    std::map<std::string, std::vector<double>> w;
    for (const auto& [k, v] : stages::load_trained_autoencoder(req.out, "tiny", "last")->state_dict())
      w[k] = v.to_vector();
    return std::make_pair(r.steps, w);
  };
  const auto one_const = train("one_const", {"accumulate=4", "lr_decay=constant"});
  const auto one_cos = train("one_cos", {"accumulate=4", "lr_decay=cosine"});
  ASSERT_EQ(one_const.first, 1);  // 4 training scans in one window
  EXPECT_TRUE(one_cos.second == one_const.second);
  const auto two_const = train("two_const", {"accumulate=2", "lr_decay=constant"});
  const auto two_cos = train("two_cos", {"accumulate=2", "lr_decay=cosine"});
  ASSERT_EQ(two_const.first, 2);
  EXPECT_FALSE(two_cos.second == two_const.second);
  EXPECT_FALSE(two_const.second == one_const.second);
  fs::remove_all(dir);
}
