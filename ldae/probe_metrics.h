// The metrics of the linear probes (ldae-reference 7.2, 7.7): ROC-AUC, accuracy, precision,
// recall, specificity, F1 and MCC of a binary classifier at a threshold, MAE and RMSE of a
// regression, and percentile bootstrap intervals that resample SUBJECTS (every scan of a
// drawn subject), since scans of one subject are not independent.
//
// Labels are 1 (positive) and 0 (negative). In the probe the positive class is AD.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ldae::probe {

// Counts at a threshold: a scan is predicted positive when its score is > threshold
// (torchmetrics' rule for probabilities).
struct Confusion {
  int64_t tp = 0, fp = 0, tn = 0, fn = 0;
};

// scores and labels of the same length; labels 0 or 1 (else ldae::Error).
Confusion confusion_at(const std::vector<double>& scores, const std::vector<int>& labels, double threshold);

// From the counts; a ratio whose denominator is 0 is 0 (torchmetrics' zero_division=0),
// and so is the MCC when any of its four marginal sums is 0.
double accuracy(const Confusion& c);
double precision(const Confusion& c);    // tp / (tp + fp)
double recall(const Confusion& c);       // tp / (tp + fn): sensitivity
double specificity(const Confusion& c);  // tn / (tn + fp)
double f1_score(const Confusion& c);     // 2 tp / (2 tp + fp + fn)
double mcc(const Confusion& c);          // (tp tn - fp fn) / sqrt((tp+fp)(tp+fn)(tn+fp)(tn+fn))

// Mean binary cross-entropy of logits z against labels y (0/1), in the overflow-free form
// max(z, 0) - z y + log(1 + exp(-|z|)). Sizes equal and >= 1, logits finite (else ldae::Error).
double mean_bce_with_logits(const std::vector<double>& logits, const std::vector<int>& labels);

// One epoch of a classifier on the validation split, as model selection ranks it: the higher
// MCC at the threshold wins and equal MCCs go to the lower mean BCE. The BCE matters on tiny
// validation splits, where the MCC can be flat over all epochs (every scan in one class: MCC 0);
// ranking by the MCC alone would then keep the first epoch, an almost untrained probe.
struct ValidationScore {
  double mcc = 0, bce = 0;
};
bool ranks_above(const ValidationScore& candidate, const ValidationScore& incumbent);

// The ValidationScore of a classifier's validation logits against 0/1 labels (labels are
// given as 0.0 / 1.0, as the probes store them): the MCC of sigmoid(logits) at the threshold
// and the mean BCE of the logits.
ValidationScore validation_score(const std::vector<double>& logits, const std::vector<double>& labels,
                                 double threshold);

// The area under the ROC curve: the probability that a random positive scores above a
// random negative, ties counting one half (Mann-Whitney U / (n_pos n_neg)). NaN when
// there is no positive or no negative; ldae::Error on mismatched sizes, labels other than
// 0/1 or non-finite scores.
double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels);

// The ROC curve: (false positive rate, true positive rate) from (0, 0) to (1, 1), one point
// per distinct score (descending), so tied scores give one diagonal step. Needs both classes.
struct RocPoint {
  double fpr = 0, tpr = 0;
};
std::vector<RocPoint> roc_curve(const std::vector<double>& scores, const std::vector<int>& labels);

// Every metric of a binary classifier whose scores are probabilities of the positive class.
struct BinaryMetrics {
  Confusion confusion;
  double auc = 0, accuracy = 0, precision = 0, recall = 0, specificity = 0, f1 = 0, mcc = 0;
};
BinaryMetrics binary_metrics(const std::vector<double>& probabilities, const std::vector<int>& labels,
                             double threshold = 0.5);

// Mean absolute and root-mean-square error; sizes equal and >= 1 (else ldae::Error).
struct RegressionMetrics {
  double mae = 0, rmse = 0;
};
RegressionMetrics regression_metrics(const std::vector<double>& predicted, const std::vector<double>& target);

// The q-quantile (q in [0, 1]) of `values` with linear interpolation between order
// statistics (numpy's default): position q * (n - 1). NaN entries are ignored; NaN when
// none is left.
double percentile(std::vector<double> values, double q);

// Bootstrap over subjects. `subjects` gives each row's subject; a resample draws as many
// subjects as there are distinct ones, uniformly with replacement, and takes ALL rows of
// each drawn subject (a subject drawn twice contributes its rows twice). Returns B
// resamples, each a list of row indices (subjects in drawn order, each subject's rows in
// row order). Deterministic in (subjects, B, seed, stream); different `stream`s give
// independent draws. Requires B >= 1 and at least one row.
std::vector<std::vector<size_t>> subject_bootstrap_samples(const std::vector<std::string>& subjects, int64_t B,
                                                           uint64_t seed, uint64_t stream = 0);

// A percentile interval [low, high] (2.5 and 97.5 percentiles for 95 %) of a statistic
// over the resamples that gave a finite value (`valid` of them).
struct Interval {
  double low = 0, high = 0;
  int64_t valid = 0;
};

// Evaluates `statistic` (row indices -> a vector of K numbers) on every resample of
// subject_bootstrap_samples and returns K percentile intervals at `level` (e.g. 0.95).
// A NaN from the statistic (e.g. an AUC of a resample with one class) is left out of
// that component's interval and its `valid` count.
std::vector<Interval> bootstrap_intervals(const std::vector<std::string>& subjects, int64_t B, uint64_t seed,
                                          uint64_t stream,
                                          const std::function<std::vector<double>(const std::vector<size_t>&)>& statistic,
                                          double level = 0.95);

// The two intervals {MAE, RMSE} of `predicted` against `target` (one entry per row, the
// row's subject in `subjects`): bootstrap_intervals with regression_metrics as the statistic.
std::vector<Interval> regression_intervals(const std::vector<std::string>& subjects,
                                           const std::vector<double>& predicted, const std::vector<double>& target,
                                           int64_t B, uint64_t seed, uint64_t stream, double level = 0.95);

}  // namespace ldae::probe
