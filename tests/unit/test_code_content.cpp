// out_of_fold_r2 (ldae/code_content.h): what a table of codes carries about a per-scan quantity.
//   - a quantity linear in the features is recovered (R^2 near 1);
//   - a quantity unrelated to them is not (R^2 near or below 0);
//   - the folds are by subject: a code that only identifies the subject cannot predict a per-subject
//     quantity of a subject it never saw (with folds by scan it would, perfectly);
//   - bad input is refused with the reason.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "ldae/code_content.h"
#include "common/test_helpers.h"

namespace ldae {
namespace {

using namespace probe;
using testing::expect_error;

// `subjects` subjects x `scans` scans, d features. feature(s, scan, j) comes from `value`.
template <typename F>
FeatureTable table_of(int subjects, int scans, int d, F value) {
  FeatureTable t;
  t.source = "synthetic";
  for (int j = 0; j < d; ++j) t.feature_names.push_back("y" + std::to_string(j));
  std::vector<double> x;
  for (int s = 0; s < subjects; ++s)
    for (int v = 0; v < scans; ++v) {
      t.subject.push_back("sub-" + std::to_string(100 + s));
      t.session.push_back(std::to_string(6 * v));
      t.diagnosis.push_back("CN");
      t.split.push_back("train");
      t.age.push_back(70);
      for (int j = 0; j < d; ++j) x.push_back(value(s, v, j));
    }
  t.x = Tensor::from_vector(x, {t.rows(), d}, DType::F64);
  return t;
}

TEST(CodeContent, ALinearQuantityIsRecoveredAndNoiseIsNot) {
  std::mt19937 rng(3);
  std::normal_distribution<double> normal(0.0, 1.0);
  const FeatureTable t = table_of(20, 3, 5, [&](int, int, int) { return normal(rng); });
  const double* x = t.x.data<double>();
  std::vector<double> linear, unrelated;
  for (int64_t i = 0; i < t.rows(); ++i) {
    linear.push_back(2.0 * x[i * 5 + 0] - 0.5 * x[i * 5 + 3] + 10.0);
    unrelated.push_back(normal(rng));
  }
  const std::vector<double> r2 = out_of_fold_r2(t, linear, {1e-3, 1.0, 1e4});
  ASSERT_EQ(r2.size(), 3u);
  EXPECT_GT(r2[0], 0.999);
  EXPECT_GT(r2[1], 0.99);
  EXPECT_LT(r2[2], 0.5);  // a penalty far above the 48 training rows' Gram diagonal shrinks it to the mean
  for (double v : out_of_fold_r2(t, unrelated, {1e-3, 1.0, 1e4})) EXPECT_LT(v, 0.15);
}

TEST(CodeContent, FoldsAreBySubject) {
  // Each subject's code is its own random vector (the same at every scan), and the quantity is a
  // random number per subject: knowing the subject is all the code offers.
  std::mt19937 rng(5);
  std::normal_distribution<double> normal(0.0, 1.0);
  std::vector<std::vector<double>> code(30, std::vector<double>(30));
  std::vector<double> per_subject(30);
  for (int s = 0; s < 30; ++s) {
    for (double& c : code[s]) c = normal(rng);
    per_subject[s] = normal(rng);
  }
  const FeatureTable t = table_of(30, 4, 30, [&](int s, int, int j) { return code[s][j]; });
  std::vector<double> target;
  for (int64_t i = 0; i < t.rows(); ++i) target.push_back(per_subject[static_cast<size_t>(i / 4)]);
  // Within the training folds the code fits the quantity exactly (30 codes of 30 dimensions), yet a
  // left-out subject's value is not predicted.
  EXPECT_LT(out_of_fold_r2(t, target, {1e-3})[0], 0.3);
}

TEST(CodeContent, BadInputIsRefused) {
  const FeatureTable t = table_of(6, 2, 2, [](int s, int v, int j) { return s + 0.1 * v + j; });
  std::vector<double> ok(static_cast<size_t>(t.rows()));
  for (size_t i = 0; i < ok.size(); ++i) ok[i] = static_cast<double>(i % 5);
  expect_error([&] { out_of_fold_r2(t, {1.0, 2.0}, {1.0}); }, {"values for 12 rows"});
  std::vector<double> with_nan = ok;
  with_nan[3] = std::nan("");
  expect_error([&] { out_of_fold_r2(t, with_nan, {1.0}); }, {"not finite"});
  expect_error([&] { out_of_fold_r2(t, ok, {0.0}); }, {"penalty must be > 0"});
  expect_error([&] { out_of_fold_r2(t, ok, {1.0}, 7); }, {"6 subjects, fewer than the 7 folds"});
  expect_error([&] { out_of_fold_r2(t, std::vector<double>(ok.size(), 4.0), {1.0}); }, {"constant"});
  EXPECT_EQ(out_of_fold_r2(t, ok, {1.0, 2.0}).size(), 2u);
}

}  // namespace
}  // namespace ldae
