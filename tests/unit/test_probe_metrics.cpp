// ldae/probe_metrics.h: the probe metrics against hand-computed values, and the bootstrap
// resampling subjects (not scans).
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "common/test_helpers.h"
#include "ldae/probe_metrics.h"

namespace ldae {
namespace {

using namespace probe;

TEST(ProbeMetrics, AucWithTiesByHand) {
  // Positives 0.35, 0.8, 0.4; negatives 0.1, 0.4. Pairs won: (0.35,0.1) (0.8,0.1) (0.8,0.4)
  // (0.4,0.1) = 4, the tie (0.4,0.4) = 1/2, (0.35,0.4) lost: 4.5 / 6.
  const std::vector<double> s = {0.1, 0.4, 0.35, 0.8, 0.4};
  const std::vector<int> l = {0, 0, 1, 1, 1};
  EXPECT_DOUBLE_EQ(roc_auc(s, l), 0.75);
  // Order of rows does not matter; all scores tied gives 1/2; perfect and inverted rankings.
  EXPECT_DOUBLE_EQ(roc_auc({0.4, 0.8, 0.35, 0.4, 0.1}, {1, 1, 1, 0, 0}), 0.75);
  EXPECT_DOUBLE_EQ(roc_auc({0.3, 0.3, 0.3}, {1, 0, 1}), 0.5);
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.2, 0.9}, {0, 0, 1}), 1.0);
  EXPECT_DOUBLE_EQ(roc_auc({0.1, 0.2, 0.9}, {1, 1, 0}), 0.0);
  EXPECT_TRUE(std::isnan(roc_auc({0.1, 0.2}, {1, 1})));  // one class: undefined
}

TEST(ProbeMetrics, RocCurveStepsAndTies) {
  const std::vector<RocPoint> c = roc_curve({0.1, 0.4, 0.35, 0.8, 0.4}, {0, 0, 1, 1, 1});
  // Descending distinct scores 0.8 (P), 0.4 (P + N), 0.35 (P), 0.1 (N).
  const std::vector<std::pair<double, double>> want = {{0, 0}, {0, 1.0 / 3}, {0.5, 2.0 / 3}, {0.5, 1}, {1, 1}};
  ASSERT_EQ(c.size(), want.size());
  for (size_t i = 0; i < c.size(); ++i) {
    EXPECT_DOUBLE_EQ(c[i].fpr, want[i].first) << i;
    EXPECT_DOUBLE_EQ(c[i].tpr, want[i].second) << i;
  }
  // The trapezoid area of the curve is the AUC (ties as diagonal steps).
  double area = 0;
  for (size_t i = 1; i < c.size(); ++i) area += (c[i].fpr - c[i - 1].fpr) * 0.5 * (c[i].tpr + c[i - 1].tpr);
  EXPECT_DOUBLE_EQ(area, 0.75);
}

TEST(ProbeMetrics, KnownConfusionMatrix) {
  // 5 positives (3 above the threshold), 5 negatives (1 above): tp 3, fn 2, fp 1, tn 4.
  const std::vector<double> s = {0.9, 0.8, 0.7, 0.2, 0.3, 0.6, 0.1, 0.2, 0.3, 0.4};
  const std::vector<int> l = {1, 1, 1, 1, 1, 0, 0, 0, 0, 0};
  const BinaryMetrics m = binary_metrics(s, l, 0.5);
  EXPECT_EQ(m.confusion.tp, 3);
  EXPECT_EQ(m.confusion.fn, 2);
  EXPECT_EQ(m.confusion.fp, 1);
  EXPECT_EQ(m.confusion.tn, 4);
  EXPECT_DOUBLE_EQ(m.accuracy, 0.7);
  EXPECT_DOUBLE_EQ(m.precision, 0.75);
  EXPECT_DOUBLE_EQ(m.recall, 0.6);
  EXPECT_DOUBLE_EQ(m.specificity, 0.8);
  EXPECT_DOUBLE_EQ(m.f1, 2 * 0.75 * 0.6 / (0.75 + 0.6));
  EXPECT_NEAR(m.mcc, (3.0 * 4 - 1.0 * 2) / std::sqrt(4.0 * 5 * 5 * 6), 1e-15);  // 0.4082...
  EXPECT_NEAR(m.mcc, 0.40824829046386307, 1e-15);
}

TEST(ProbeMetrics, ThresholdIsStrictAndZeroDivisionIsZero) {
  // A score equal to the threshold is negative (torchmetrics: preds > threshold).
  const Confusion c = confusion_at({0.5, 0.5}, {1, 0}, 0.5);
  EXPECT_EQ(c.tp, 0);
  EXPECT_EQ(c.fn, 1);
  EXPECT_EQ(c.tn, 1);
  EXPECT_DOUBLE_EQ(precision(c), 0.0);  // nothing predicted positive
  EXPECT_DOUBLE_EQ(f1_score(c), 0.0);
  EXPECT_DOUBLE_EQ(mcc(c), 0.0);        // a zero marginal
  // Perfect and perfectly wrong predictions: MCC +1 and -1.
  EXPECT_DOUBLE_EQ(mcc(confusion_at({0.9, 0.1}, {1, 0}, 0.5)), 1.0);
  EXPECT_DOUBLE_EQ(mcc(confusion_at({0.1, 0.9}, {1, 0}, 0.5)), -1.0);
}

TEST(ProbeMetrics, MeanBceWithLogitsByHand) {
  // z = 0: log 2 for either label; z = 2, y = 1: log(1 + e^-2); z = -800, y = 1: 800 (no overflow).
  EXPECT_NEAR(mean_bce_with_logits({0.0}, {1}), std::log(2.0), 1e-15);
  EXPECT_NEAR(mean_bce_with_logits({2.0, 0.0}, {1, 0}), 0.5 * (std::log1p(std::exp(-2.0)) + std::log(2.0)), 1e-15);
  EXPECT_NEAR(mean_bce_with_logits({-800.0}, {1}), 800.0, 1e-9);
  EXPECT_NEAR(mean_bce_with_logits({-3.0}, {0}), std::log1p(std::exp(-3.0)), 1e-15);
  testing::expect_error([] { mean_bce_with_logits({}, {}); }, {"no logits"});
  testing::expect_error([] { mean_bce_with_logits({1.0}, {2}); }, {"not 0 or 1"});
}

TEST(ProbeMetrics, SelectionRanksByMccThenBce) {
  EXPECT_TRUE(ranks_above({0.5, 0.9}, {0.4, 0.1}));   // higher MCC wins whatever the BCE
  EXPECT_FALSE(ranks_above({0.4, 0.1}, {0.5, 0.9}));
  EXPECT_TRUE(ranks_above({0.0, 0.3}, {0.0, 0.6}));   // equal MCC: lower BCE wins
  EXPECT_FALSE(ranks_above({0.0, 0.6}, {0.0, 0.6}));  // a full tie keeps the earlier epoch
}

TEST(ProbeMetrics, MaeAndRmse) {
  const RegressionMetrics m = regression_metrics({1, 2, 3}, {2, 2, 5});  // errors -1, 0, -2
  EXPECT_DOUBLE_EQ(m.mae, 1.0);
  EXPECT_DOUBLE_EQ(m.rmse, std::sqrt(5.0 / 3.0));
}

TEST(ProbeMetrics, PercentileInterpolatesLikeNumpy) {
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 0.25), 1.75);  // numpy.percentile([1,2,3,4], 25)
  EXPECT_DOUBLE_EQ(percentile({4, 1, 3, 2}, 0.975), 3.925);
  EXPECT_DOUBLE_EQ(percentile({5}, 0.5), 5.0);
  EXPECT_DOUBLE_EQ(percentile({1, std::nan(""), 3}, 0.5), 2.0);  // NaN ignored
  EXPECT_TRUE(std::isnan(percentile({std::nan("")}, 0.5)));
}

TEST(ProbeMetrics, RefusesBadInput) {
  using testing::expect_error;
  expect_error([] { roc_auc({0.1}, {0, 1}); }, {"roc_auc", "differ in length"});
  expect_error([] { roc_auc({0.1, 0.2}, {0, 2}); }, {"roc_auc", "not 0 or 1"});
  expect_error([] { roc_auc({0.1, std::nan("")}, {0, 1}); }, {"roc_auc", "not finite"});
  expect_error([] { roc_curve({0.1, 0.2}, {0, 0}); }, {"roc_curve", "one positive and one negative"});
  expect_error([] { regression_metrics({}, {}); }, {"regression_metrics", "non-empty"});
  expect_error([] { subject_bootstrap_samples({"a"}, 0, 1); }, {"subject_bootstrap_samples", "at least one resample"});
}

// Every resample is a sequence of whole subjects: each block is exactly the rows of one
// subject, and there are as many blocks as distinct subjects.
TEST(ProbeBootstrap, ResamplesWholeSubjects) {
  const std::vector<std::string> subjects = {"A", "B", "A", "C", "A", "C"};
  std::map<std::string, std::vector<size_t>> rows_of;
  for (size_t r = 0; r < subjects.size(); ++r) rows_of[subjects[r]].push_back(r);
  const auto samples = subject_bootstrap_samples(subjects, 200, 7);
  ASSERT_EQ(samples.size(), 200u);
  std::set<size_t> sizes;
  for (const auto& s : samples) {
    size_t i = 0, blocks = 0;
    while (i < s.size()) {
      const auto& block = rows_of.at(subjects[s[i]]);
      ASSERT_LE(i + block.size(), s.size());
      for (size_t k = 0; k < block.size(); ++k) ASSERT_EQ(s[i + k], block[k]) << "resample broke up a subject";
      i += block.size();
      ++blocks;
    }
    EXPECT_EQ(blocks, 3u);
    sizes.insert(s.size());
  }
  EXPECT_GT(sizes.size(), 1u);  // the resample size varies with the subjects drawn (not scans)
  // Deterministic in the seed and stream; other seeds or streams draw differently.
  EXPECT_EQ(samples, subject_bootstrap_samples(subjects, 200, 7));
  EXPECT_NE(samples, subject_bootstrap_samples(subjects, 200, 8));
  EXPECT_NE(samples, subject_bootstrap_samples(subjects, 200, 7, 1));
}

// Subject A has 9 scans of value 1, subject B one scan of value 0. Resampling subjects
// draws {B, B} with probability 1/4, whose mean is 0, so the 2.5th percentile of the mean
// is 0. Resampling the 10 scans would give a mean near 0.9 (2.5th percentile ~0.7).
TEST(ProbeBootstrap, IntervalReflectsSubjectsNotScans) {
  std::vector<std::string> subjects(9, "A");
  std::vector<double> values(9, 1.0);
  subjects.push_back("B");
  values.push_back(0.0);
  auto mean_of = [&](const std::vector<size_t>& rows) {
    double s = 0;
    for (size_t r : rows) s += values[r];
    return std::vector<double>{s / static_cast<double>(rows.size())};
  };
  const std::vector<Interval> in = bootstrap_intervals(subjects, 2000, 3, 0, mean_of, 0.95);
  ASSERT_EQ(in.size(), 1u);
  EXPECT_EQ(in[0].valid, 2000);
  EXPECT_DOUBLE_EQ(in[0].low, 0.0);
  EXPECT_DOUBLE_EQ(in[0].high, 1.0);
  // The only possible resample means are 0, 0.9 and 1.
  for (const auto& s : subject_bootstrap_samples(subjects, 500, 3)) {
    const double m = mean_of(s)[0];
    EXPECT_TRUE(m == 0.0 || std::abs(m - 0.9) < 1e-12 || m == 1.0) << m;
  }
}

TEST(ProbeBootstrap, NanStatisticsAreLeftOut) {
  // Two subjects, one per class: a resample with one class has no AUC.
  const std::vector<std::string> subjects = {"p", "n"};
  const std::vector<double> score = {0.9, 0.1};
  const std::vector<int> label = {1, 0};
  const auto in = bootstrap_intervals(subjects, 400, 11, 0, [&](const std::vector<size_t>& rows) {
    std::vector<double> s;
    std::vector<int> l;
    for (size_t r : rows) {
      s.push_back(score[r]);
      l.push_back(label[r]);
    }
    return std::vector<double>{roc_auc(s, l)};
  });
  EXPECT_GT(in[0].valid, 100);  // about half the resamples hold both subjects
  EXPECT_LT(in[0].valid, 300);
  EXPECT_DOUBLE_EQ(in[0].low, 1.0);
  EXPECT_DOUBLE_EQ(in[0].high, 1.0);
}

}  // namespace
}  // namespace ldae
