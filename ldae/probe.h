// The linear probes of ldae-reference 7.2 on a feature table (ldae/feature_table.h), and
// the `ldae probe` stage.
//
// As published: each probe is a LinearProbe (d -> 1; features z-scored with the mean and
// population std of its probe-train rows), trained for 200 epochs in shuffled batches of
// 32; the AD-vs-CN probe with BCE-with-logits and Adam (lr 1e-3), the age probe with MSE on
// min-max normalised age and SGD (lr 1e-3, no momentum), on all diagnoses. The weights of
// the epoch with the best validation MCC (threshold 0.5) / the lowest validation RMSE
// (years) are kept, and the test split is scored with them.
//
// Changed from the published script (ldae-reference 10.1 item 10), and recorded in
// probe.json:
//   * the positive class is AD (label 1), so precision, recall (sensitivity), F1 and the
//     ROC curve are about detecting AD; the published probe had CN positive;
//   * validation for model selection is the table's `val` split, by subject, instead of
//     an image-level random 70/30 split of the training scans (train = the `train` split);
//   * the age min and max of the normalisation come from the probe-train rows only, not
//     train + val + test (no test information in training);
//   * scans without an age are dropped from the age probe only (the published script
//     dropped them from the AD-vs-CN probe too);
//   * every test metric has a 95 % percentile bootstrap interval over test SUBJECTS.
// Validation splits without both classes (or without ages) cannot select: then the last
// epoch is kept and probe.json says so.
//
// Deterministic: the same table and options give the same report, bit for bit.
#pragma once
#include <cstdint>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "ldae/feature_table.h"
#include "ldae/linear_probe.h"
#include "ldae/probe_metrics.h"

namespace ldae::probe {

struct ProbeOptions {
  uint64_t seed = 42;          // initialisation, batch order and bootstrap (published: 42)
  int64_t epochs = 200;        // published: 200
  int64_t batch_size = 32;     // published: 32
  double lr_classifier = 1e-3; // Adam, published
  double lr_age = 1e-3;        // SGD, published
  double threshold = 0.5;      // on the AD probability
  int64_t bootstrap = 1000;    // resamples of test subjects (0: no intervals)
  double level = 0.95;         // of the intervals
  bool progress = false;       // one line per probe on stderr
};

// One test scan's predictions.
struct Prediction {
  size_t row = 0;              // in the feature table
  double ad_probability = 0;   // sigmoid of the AD-vs-CN probe's logit (for every test scan, MCI too)
  double age_predicted = 0;    // years
};

struct ProbeOutcome {
  nlohmann::ordered_json report;            // what probe.json holds
  std::vector<Prediction> predictions;      // one per test scan, in table order
  std::vector<RocPoint> roc;                // test ROC curve of AD vs CN
  double auc = 0;
  Interval auc_interval;
  std::shared_ptr<nets::LinearProbe> classifier, age_regressor;  // the selected weights
  double age_min = 0, age_max = 0;          // age = age_min + output * (age_max - age_min)
};

// The rows of the two probe tasks (the linear probes and the supervised baseline share them).
struct TaskRows {
  std::vector<size_t> train, val, test;  // table rows
  std::vector<double> y_train, y_val;    // targets: class (1 = AD, 0 = CN), or age min-max normalised on train
};
struct ProbeTasks {
  TaskRows classification;          // AD and CN scans by split
  TaskRows age;                     // scans with a finite age (every diagnosis) by split
  std::vector<size_t> test_rows;    // every test scan
  double age_min = 0, age_max = 0;  // over the train scans with an age
  bool val_has_both_classes = false;  // the val split has AD and CN scans: model selection on val
  int64_t test_ad = 0, test_cn = 0;   // AD and CN scans in the test split
  int64_t test_ad_subjects = 0, test_cn_subjects = 0;  // their subjects
};

// Splits `table` by its split column into the AD-vs-CN and the age task, and throws
// ldae::Error "<op>: ..." before any training when: the train or test split lacks AD or CN
// scans, the test split is empty, fewer than 2 train scans have an age, they all have the
// same age, or no test scan has one. `classifier` and `regressor` name the models in the
// messages.
ProbeTasks split_probe_tasks(const FeatureTable& table, const std::string& op, const std::string& classifier,
                             const std::string& regressor);

// Trains and evaluates both probes. Throws ldae::Error "probe: ..." before any training
// for: an invalid table (validate_features), no AD or no CN scan in the train split, an
// empty test split or one without AD or without CN scans, fewer than 2 train scans with
// an age or all of them the same age, no test scan with an age, and bad options.
ProbeOutcome run_probes(const FeatureTable& table, const ProbeOptions& options);

// The floor every age model must beat: the mean age of the age probe's training scans
// (split_probe_tasks' age.train), predicted for every test scan with an age. Returns
// {"mae", "mae_ci", "rmse", "rmse_ci", "test_scans", "train_mean_age"}, the intervals from
// the age probe's own bootstrap resamples of test subjects (same seed: the same resamples),
// so its row reads beside the probes'. Throws as split_probe_tasks.
nlohmann::ordered_json mean_age_floor(const FeatureTable& table, const ProbeOptions& options);

// Writes DIR/probe.json, DIR/predictions.csv (subject, session, diagnosis, age,
// ad_probability, predicted (AD/CN at the threshold), age_predicted; one row per test scan),
// DIR/roc.png and DIR/probes.safetensors (the two LinearProbes' state, "classifier.*" and
// "age.*", with the age range in the metadata). Creates DIR.
void write_probe_outputs(const std::string& dir, const FeatureTable& table, const ProbeOutcome& outcome);

// The AD-vs-CN probe of a probes.safetensors that write_probe_outputs wrote (the
// "classifier.*" tensors: its weight, bias and z-scoring mean and std; AD the positive
// class). Throws ldae::Error("<op>: FILE: ...") when the file cannot be read, lacks the
// classifier, says another positive class, or its tensors do not fit one LinearProbe.
std::shared_ptr<nets::LinearProbe> load_classifier(const std::string& op, const std::string& path);

}  // namespace ldae::probe

namespace ldae::stages {

// `ldae probe`: either a features.csv, or the oracle baseline (one numeric column of a
// manifest; the split from its `split` column, else split_by_subject with the fractions
// and seed below, the defaults of `ldae train-ae`).
struct ProbeRequest {
  std::string features;          // features.csv (or empty with oracle_column)
  std::string manifest;          // with oracle_column: the manifest holding it
  std::string oracle_column;     // e.g. hippocampus_ml
  double val_fraction = 0.1, test_fraction = 0.1;
  uint64_t split_seed = 42;
  int64_t pca_components = 0;    // > 0: PCA (fitted on train) of the features first
  std::string out;               // the output folder
  probe::ProbeOptions options;
  bool progress = true;
};

struct ProbeResult {
  nlohmann::ordered_json report;  // probe.json
};

// Reads the input, runs the probes and writes the outputs (probe::write_probe_outputs).
// Everything refusable is checked before training (see run_probes).
ProbeResult probe(const ProbeRequest& request);

}  // namespace ldae::stages
