#include "ldae/probe_common.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <set>

#include "autograd/no_grad.h"

namespace ldae::probe {

using json = nlohmann::ordered_json;

Generator stream(uint64_t seed, uint64_t id) { return Generator(seed, id << 40); }

std::vector<size_t> permutation(size_t n, Generator& gen) {
  const std::vector<double> u = rand({static_cast<int64_t>(n)}, gen, DType::F64).to_vector();
  std::vector<size_t> p(n);
  std::iota(p.begin(), p.end(), size_t{0});
  std::stable_sort(p.begin(), p.end(), [&](size_t a, size_t b) { return u[a] < u[b]; });
  return p;
}

double sigmoid(double z) { return z >= 0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z)); }

std::map<std::string, Tensor> copy_state(const nn::Module& m) {
  NoGrad no_grad;
  std::map<std::string, Tensor> s;
  for (const auto& [k, v] : m.state_dict()) s[k] = v.detach().clone();
  return s;
}

int64_t count_subjects(const FeatureTable& table, const std::vector<size_t>& rows) {
  std::set<std::string> s;
  for (size_t r : rows) s.insert(table.subject[r]);
  return static_cast<int64_t>(s.size());
}

namespace {

// The classification metrics in the order of TestScores::classification_intervals.
const std::vector<std::string> kClassificationNames = {"auc",         "accuracy", "precision", "recall",
                                                       "specificity", "f1",       "mcc"};
std::vector<double> classification_values(const BinaryMetrics& m) {
  return {m.auc, m.accuracy, m.precision, m.recall, m.specificity, m.f1, m.mcc};
}

json interval_json(const Interval& in) { return json{{"low", in.low}, {"high", in.high}, {"valid_resamples", in.valid}}; }

}  // namespace

TestScores score_test_predictions(const FeatureTable& table, const ProbeTasks& tasks,
                                  const std::vector<Prediction>& predictions, const ScoringOptions& o) {
  std::map<size_t, size_t> pos;  // table row -> index in predictions
  for (size_t i = 0; i < predictions.size(); ++i) pos[predictions[i].row] = i;
  TestScores s;

  std::vector<std::string> cls_subjects;
  for (size_t r : tasks.classification.test) {
    s.ad_probability.push_back(predictions[pos.at(r)].ad_probability);
    s.is_ad.push_back(table.diagnosis[r] == "AD" ? 1 : 0);
    cls_subjects.push_back(table.subject[r]);
  }
  s.classification = binary_metrics(s.ad_probability, s.is_ad, o.threshold);
  if (o.bootstrap > 0) {
    s.classification_intervals = bootstrap_intervals(
        cls_subjects, o.bootstrap, o.seed, o.classification_stream,
        [&](const std::vector<size_t>& rows) {
          std::vector<double> p;
          std::vector<int> l;
          for (size_t i : rows) {
            p.push_back(s.ad_probability[i]);
            l.push_back(s.is_ad[i]);
          }
          return classification_values(binary_metrics(p, l, o.threshold));
        },
        o.level);
  }

  std::vector<double> age_pred, age_true;
  std::vector<std::string> age_subjects;
  for (size_t r : tasks.age.test) {
    age_pred.push_back(predictions[pos.at(r)].age_predicted);
    age_true.push_back(table.age[r]);
    age_subjects.push_back(table.subject[r]);
  }
  s.age = regression_metrics(age_pred, age_true);
  if (o.bootstrap > 0)
    s.age_intervals = regression_intervals(age_subjects, age_pred, age_true, o.bootstrap, o.seed, o.age_stream, o.level);
  return s;
}

void add_classification_scores(json& c, const FeatureTable& table, const ProbeTasks& tasks, const TestScores& s) {
  const TaskRows& cls = tasks.classification;
  const BinaryMetrics& bm = s.classification;
  c["scans"] = json{{"train", cls.train.size()}, {"val", cls.val.size()}, {"test", cls.test.size()}};
  json test;
  test["scans"] = cls.test.size();
  test["subjects"] = count_subjects(table, cls.test);
  test["AD"] = tasks.test_ad;
  test["CN"] = tasks.test_cn;
  test["AD_subjects"] = tasks.test_ad_subjects;
  test["CN_subjects"] = tasks.test_cn_subjects;
  const std::vector<double> values = classification_values(bm);
  for (size_t k = 0; k < kClassificationNames.size(); ++k) test[kClassificationNames[k]] = values[k];
  test["confusion"] =
      json{{"tp", bm.confusion.tp}, {"fp", bm.confusion.fp}, {"tn", bm.confusion.tn}, {"fn", bm.confusion.fn}};
  c["test"] = test;
  if (!s.classification_intervals.empty()) {
    json intervals;
    for (size_t k = 0; k < kClassificationNames.size(); ++k)
      intervals[kClassificationNames[k]] = interval_json(s.classification_intervals[k]);
    intervals["subjects"] = count_subjects(table, cls.test);
    c["intervals"] = intervals;
  }
}

void add_age_scores(json& a, const FeatureTable& table, const ProbeTasks& tasks, const TestScores& s) {
  const TaskRows& age = tasks.age;
  const int64_t subjects = count_subjects(table, age.test);
  a["scans"] = json{{"train", age.train.size()}, {"val", age.val.size()}, {"test", age.test.size()}};
  a["test"] = json{{"scans", age.test.size()}, {"subjects", subjects}, {"mae", s.age.mae}, {"rmse", s.age.rmse}};
  if (!s.age_intervals.empty())
    a["intervals"] = json{{"mae", interval_json(s.age_intervals[0])},
                          {"rmse", interval_json(s.age_intervals[1])},
                          {"subjects", subjects}};
}

EpochSelector::EpochSelector(bool classification, double threshold, double age_scale, AgeError age_error)
    : classification_(classification),
      threshold_(threshold),
      age_scale_(age_scale),
      age_error_(age_error),
      last_value_(std::nan("")),
      last_bce_(std::nan("")),
      best_score_{-std::numeric_limits<double>::infinity(), std::numeric_limits<double>::infinity()},
      best_error_(std::numeric_limits<double>::infinity()) {}

bool EpochSelector::improves(const std::vector<double>& outputs, const std::vector<double>& y_val) {
  bool better;
  if (classification_) {
    const ValidationScore score = validation_score(outputs, y_val, threshold_);
    last_value_ = score.mcc;
    last_bce_ = score.bce;
    better = ranks_above(score, best_score_);
    if (better) best_score_ = score;
  } else {
    std::vector<double> predicted, target;
    for (size_t i = 0; i < outputs.size(); ++i) {
      predicted.push_back(outputs[i] * age_scale_);
      target.push_back(y_val[i] * age_scale_);
    }
    const RegressionMetrics m = regression_metrics(predicted, target);
    last_value_ = age_error_ == AgeError::Rmse ? m.rmse : m.mae;
    better = last_value_ < best_error_;
    if (better) best_error_ = last_value_;
  }
  return better;
}

}  // namespace ldae::probe
