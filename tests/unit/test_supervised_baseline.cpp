// ldae/supervised_baseline.h at the tiny preset: the end-to-end classifier learns an easy
// image difference (AUC 1), the report has the probe report's layout, a seed gives the same
// numbers twice, and bad input is refused before training.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "common/test_helpers.h"
#include "ldae/presets.h"
#include "ldae/supervised_baseline.h"

namespace ldae {
namespace {

using namespace probe;
using testing::expect_error;

struct Cohort {
  FeatureTable table;
  std::vector<Tensor> images;  // (X, Y, Z) each
};

// `subjects` subjects with 2 scans each, diagnosis cycling CN, AD, MCI, split by subject
// (60 % train, 20 % val, 20 % test). Every tiny image (16 x 20 x 16) is noise in [0, 0.2];
// AD scans have a bright slab (+0.7) in the first half of X, CN scans in the second half,
// MCI scans none: an AD/CN difference in every axial slice.
Cohort tiny_cohort(int subjects, uint32_t seed = 3) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 0.2), age_dist(60.0, 90.0);
  const Shape s = nets::preset_image_shape("tiny");  // (1, 1, 16, 20, 16)
  const int64_t X = s[2], Y = s[3], Z = s[4];
  Cohort c;
  FeatureTable& t = c.table;
  t.source = "tiny cohort";
  t.feature_names = {"y0"};
  std::vector<double> dummy;
  for (int k = 0; k < subjects; ++k) {
    const std::string dx = k % 3 == 0 ? "CN" : (k % 3 == 1 ? "AD" : "MCI");
    const int m = k % 10;
    const std::string split = m < 6 ? "train" : (m < 8 ? "val" : "test");
    const double age0 = age_dist(rng);
    for (int ses = 0; ses < 2; ++ses) {
      t.subject.push_back("sub-" + std::to_string(k));
      t.session.push_back(std::to_string(12 * ses));
      t.diagnosis.push_back(dx);
      t.split.push_back(split);
      t.age.push_back(age0 + ses);
      t.line.push_back(static_cast<int64_t>(t.subject.size()) + 1);
      dummy.push_back(0.0);
      std::vector<double> v(static_cast<size_t>(X * Y * Z));
      for (int64_t x = 0; x < X; ++x)
        for (int64_t y = 0; y < Y; ++y)
          for (int64_t z = 0; z < Z; ++z) {
            double val = u(rng);
            if ((dx == "AD" && x < X / 2) || (dx == "CN" && x >= X / 2)) val += 0.7;
            v[static_cast<size_t>((x * Y + y) * Z + z)] = val;
          }
      c.images.push_back(Tensor::from_vector(v, {X, Y, Z}, DType::F32));
    }
  }
  t.x = Tensor::from_vector(dummy, {static_cast<int64_t>(dummy.size()), 1}, DType::F64);
  return c;
}

SupervisedOptions quick(int64_t epochs) {
  SupervisedOptions o;
  o.epochs = epochs;
  o.patience_classifier = epochs;
  o.patience_age = epochs;
  o.bootstrap = 50;
  return o;
}

TEST(SupervisedBaseline, LearnsAnEasyImageDifferenceEndToEnd) {
  const Cohort c = tiny_cohort(20);
  const SupervisedOutcome out = run_supervised(c.table, c.images, "tiny", quick(6));
  const auto& cls = out.report["classification"];
  // The probe report's layout, which evaluate's summary reads.
  ASSERT_TRUE(cls.contains("test") && cls.contains("intervals") && cls.contains("selected_epoch"));
  ASSERT_TRUE(out.report["age"].contains("test") && out.report["age"].contains("intervals"));
  // Test subjects 8 (MCI), 9 (CN), 18 (CN), 19 (AD), two scans each.
  EXPECT_EQ(cls["test"]["scans"].get<int64_t>(), 6);
  EXPECT_EQ(cls["test"]["AD"].get<int64_t>(), 2);
  EXPECT_EQ(cls["test"]["CN"].get<int64_t>(), 4);
  EXPECT_DOUBLE_EQ(cls["test"]["auc"].get<double>(), 1.0);
  EXPECT_DOUBLE_EQ(cls["validation_mcc"].get<double>(), 1.0);
  EXPECT_EQ(cls["validation_mcc_per_epoch"].size(), cls["epochs_run"].get<size_t>());
  // The selection's tie-break: the validation BCE of every epoch, and the kept epoch has the lowest
  // BCE among those with the kept (highest) MCC.
  const std::vector<double> mccs = cls["validation_mcc_per_epoch"].get<std::vector<double>>();
  const std::vector<double> bces = cls["validation_bce_per_epoch"].get<std::vector<double>>();
  ASSERT_EQ(bces.size(), mccs.size());
  const size_t kept = cls["selected_epoch"].get<size_t>() - 1;
  for (size_t e = 0; e < mccs.size(); ++e) {
    EXPECT_LE(mccs[e], mccs[kept]);
    if (mccs[e] == mccs[kept]) {
      EXPECT_GE(bces[e], bces[kept]);
    }
  }
  // It learned: the training loss fell well below its first epoch's (a random head at
  // threshold 0.5 would not give a validation MCC of 1 by chance either).
  const auto& loss = cls["train_loss_per_epoch"];
  EXPECT_LT(loss.back().get<double>(), 0.5 * loss.front().get<double>()) << loss.dump();
  // Every test scan (MCI too) gets both predictions.
  EXPECT_EQ(out.predictions.size(), c.table.rows_of_split("test").size());
  for (const Prediction& p : out.predictions) {
    EXPECT_TRUE(p.ad_probability >= 0 && p.ad_probability <= 1);
    EXPECT_TRUE(std::isfinite(p.age_predicted));
  }
  EXPECT_TRUE(std::isfinite(out.report["age"]["test"]["mae"].get<double>()));
}

TEST(SupervisedBaseline, SameSeedSameNumbers) {
  const Cohort c = tiny_cohort(20);
  const SupervisedOutcome a = run_supervised(c.table, c.images, "tiny", quick(2));
  const SupervisedOutcome b = run_supervised(c.table, c.images, "tiny", quick(2));
  for (const char* task : {"classification", "age"}) {
    EXPECT_EQ(a.report[task]["test"].dump(), b.report[task]["test"].dump()) << task;
    EXPECT_EQ(a.report[task]["intervals"].dump(), b.report[task]["intervals"].dump()) << task;
    EXPECT_EQ(a.report[task]["train_loss_per_epoch"].dump(), b.report[task]["train_loss_per_epoch"].dump()) << task;
  }
  ASSERT_EQ(a.predictions.size(), b.predictions.size());
  for (size_t i = 0; i < a.predictions.size(); ++i) {
    EXPECT_EQ(a.predictions[i].ad_probability, b.predictions[i].ad_probability);
    EXPECT_EQ(a.predictions[i].age_predicted, b.predictions[i].age_predicted);
  }
  // Another seed trains another model.
  SupervisedOptions o = quick(2);
  o.seed = 7;
  const SupervisedOutcome d = run_supervised(c.table, c.images, "tiny", o);
  EXPECT_NE(a.report["classification"]["train_loss_per_epoch"].dump(),
            d.report["classification"]["train_loss_per_epoch"].dump());
}

TEST(SupervisedBaseline, RefusesBadInputBeforeTraining) {
  const Cohort c = tiny_cohort(20);
  const SupervisedOptions o = quick(1);
  {  // no AD in train
    Cohort d = c;
    for (size_t i = 0; i < d.table.diagnosis.size(); ++i)
      if (d.table.split[i] == "train" && d.table.diagnosis[i] == "AD") d.table.diagnosis[i] = "MCI";
    expect_error([&] { run_supervised(d.table, d.images, "tiny", o); }, {"train split has no AD"});
  }
  {  // empty test split
    Cohort d = c;
    for (auto& s : d.table.split)
      if (s == "test") s = "val";
    expect_error([&] { run_supervised(d.table, d.images, "tiny", o); }, {"test split is empty"});
  }
  {  // one image short
    Cohort d = c;
    d.images.pop_back();
    expect_error([&] { run_supervised(d.table, d.images, "tiny", o); }, {"one per row"});
  }
  {  // an image of another size
    Cohort d = c;
    d.images[3] = Tensor::zeros({16, 20, 15});
    expect_error([&] { run_supervised(d.table, d.images, "tiny", o); }, {"encoder reads"});
  }
  {  // no ages
    Cohort d = c;
    for (auto& a : d.table.age) a = std::nan("");
    expect_error([&] { run_supervised(d.table, d.images, "tiny", o); }, {"at least 2 train scans with an age"});
  }
  SupervisedOptions bad = o;
  bad.accumulation = 0;
  expect_error([&] { run_supervised(c.table, c.images, "tiny", bad); }, {"accumulation must be >= 1"});
  expect_error([&] { run_supervised(c.table, c.images, "huge", o); }, {"huge"});
  data::Manifest m;
  m.source = "m.csv";
  m.columns = {"subject", "path", "diagnosis", "session", "age"};
  expect_error([&] { run_supervised(m, "tiny", o); }, {"no split column"});
}

}  // namespace
}  // namespace ldae
