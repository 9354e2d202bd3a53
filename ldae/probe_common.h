// What the linear probes (ldae/probe.cpp) and the supervised baseline
// (ldae/supervised_baseline.cpp) share, so that their numbers mean the same: the random
// streams and batch order of training, the choice and a snapshot of the best epoch, and how
// the test predictions are scored and written into the report.
#pragma once
#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ldae/feature_table.h"
#include "ldae/probe.h"
#include "ldae/probe_metrics.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace ldae::probe {

// Random stream `id` of `seed`: Philox offsets 2^40 apart, so streams never overlap in practice.
Generator stream(uint64_t seed, uint64_t id);

// A permutation of 0..n-1: n uniforms from gen, stably sorted (the batch order of an epoch).
std::vector<size_t> permutation(size_t n, Generator& gen);

// The logistic function, without overflow for either sign of z.
double sigmoid(double z);

// A detached copy of every tensor of m's state dict (the weights of the best epoch so far).
std::map<std::string, Tensor> copy_state(const nn::Module& m);

// The number of distinct subjects among `rows` of the table.
int64_t count_subjects(const FeatureTable& table, const std::vector<size_t>& rows);

// Model selection over the epochs of a fit, on the validation split (ldae-reference 7.2, 7.8):
// a classifier by the highest validation MCC, equal MCCs to the lower validation BCE
// (ranks_above); an age model by the lowest validation error in years (its outputs times
// age_scale): the RMSE for the linear probe, the MAE for the supervised baseline, as published.
class EpochSelector {
 public:
  enum class AgeError { Rmse, Mae };
  EpochSelector(bool classification, double threshold, double age_scale, AgeError age_error);

  // Scores one epoch's validation outputs (logits, or normalised ages) against y_val; true when
  // the epoch beats every epoch scored before it, which it then becomes the best of.
  bool improves(const std::vector<double>& outputs, const std::vector<double>& y_val);

  double last_value() const { return last_value_; }  // the epoch just scored: MCC, or error in years
  double last_bce() const { return last_bce_; }      // its validation BCE (classifier; else NaN)
  // The best epoch's MCC or error (-infinity or +infinity before any).
  double best_value() const { return classification_ ? best_score_.mcc : best_error_; }

 private:
  bool classification_;
  double threshold_, age_scale_;
  AgeError age_error_;
  double last_value_, last_bce_;
  ValidationScore best_score_;  // the classifier's best epoch
  double best_error_;           // the age model's best epoch
};

// How the test predictions are scored: the AD threshold and the bootstrap over test subjects.
struct ScoringOptions {
  double threshold = 0.5;       // on the AD probability
  int64_t bootstrap = 1000;     // resamples of test subjects (0: no intervals)
  uint64_t seed = 42;
  double level = 0.95;          // of the intervals
  uint64_t classification_stream = 0, age_stream = 0;  // bootstrap streams of the two tasks
};

// The test scores of one classifier and age regressor.
struct TestScores {
  std::vector<double> ad_probability;  // one per AD or CN test scan (tasks.classification.test)
  std::vector<int> is_ad;              // its label: 1 AD, 0 CN
  BinaryMetrics classification;
  std::vector<Interval> classification_intervals;  // auc, accuracy, precision, recall, specificity, f1,
                                                    // mcc (empty when bootstrap is 0)
  RegressionMetrics age;                           // over the test scans with an age
  std::vector<Interval> age_intervals;             // mae, rmse (empty when bootstrap is 0)
};

// Scores `predictions` (one per test scan, in tasks.test_rows order): AD vs CN on the AD and
// CN test scans, age on those with an age, with bootstrap intervals over test subjects.
TestScores score_test_predictions(const FeatureTable& table, const ProbeTasks& tasks,
                                  const std::vector<Prediction>& predictions, const ScoringOptions& options);

// Adds "scans", "test" and "intervals" (without bootstrap: no "intervals") to a report's
// "classification" object `c` and its "age" object `a`.
void add_classification_scores(nlohmann::ordered_json& c, const FeatureTable& table, const ProbeTasks& tasks,
                               const TestScores& scores);
void add_age_scores(nlohmann::ordered_json& a, const FeatureTable& table, const ProbeTasks& tasks,
                    const TestScores& scores);

}  // namespace ldae::probe
