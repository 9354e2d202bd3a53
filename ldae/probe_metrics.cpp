#include "ldae/probe_metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <numeric>

#include "tensor/error.h"
#include "tensor/random.h"

namespace ldae::probe {

namespace {

void check_binary(const std::vector<double>& scores, const std::vector<int>& labels, const std::string& op) {
  check(scores.size() == labels.size(), op,
        "scores and labels differ in length (" + std::to_string(scores.size()) + " vs " +
            std::to_string(labels.size()) + ")");
  for (size_t i = 0; i < labels.size(); ++i) {
    check(labels[i] == 0 || labels[i] == 1, op, "label " + std::to_string(i) + " is " + std::to_string(labels[i]) +
                                                    ", not 0 or 1");
    check(std::isfinite(scores[i]), op, "score " + std::to_string(i) + " is not finite");
  }
}

double ratio(double num, double den) { return den > 0 ? num / den : 0.0; }

}  // namespace

Confusion confusion_at(const std::vector<double>& scores, const std::vector<int>& labels, double threshold) {
  check_binary(scores, labels, "confusion_at");
  Confusion c;
  for (size_t i = 0; i < scores.size(); ++i) {
    const bool predicted = scores[i] > threshold;
    if (labels[i] == 1) {
      (predicted ? c.tp : c.fn)++;
    } else {
      (predicted ? c.fp : c.tn)++;
    }
  }
  return c;
}

double accuracy(const Confusion& c) {
  return ratio(static_cast<double>(c.tp + c.tn), static_cast<double>(c.tp + c.tn + c.fp + c.fn));
}
double precision(const Confusion& c) { return ratio(static_cast<double>(c.tp), static_cast<double>(c.tp + c.fp)); }
double recall(const Confusion& c) { return ratio(static_cast<double>(c.tp), static_cast<double>(c.tp + c.fn)); }
double specificity(const Confusion& c) { return ratio(static_cast<double>(c.tn), static_cast<double>(c.tn + c.fp)); }
double f1_score(const Confusion& c) {
  return ratio(2.0 * static_cast<double>(c.tp), static_cast<double>(2 * c.tp + c.fp + c.fn));
}
double mcc(const Confusion& c) {
  const double tp = static_cast<double>(c.tp), fp = static_cast<double>(c.fp);
  const double tn = static_cast<double>(c.tn), fn = static_cast<double>(c.fn);
  const double den = (tp + fp) * (tp + fn) * (tn + fp) * (tn + fn);
  return den > 0 ? (tp * tn - fp * fn) / std::sqrt(den) : 0.0;
}

double mean_bce_with_logits(const std::vector<double>& logits, const std::vector<int>& labels) {
  check_binary(logits, labels, "mean_bce_with_logits");
  check(!logits.empty(), "mean_bce_with_logits", "no logits");
  double sum = 0;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double z = logits[i];
    sum += std::max(z, 0.0) - z * labels[i] + std::log1p(std::exp(-std::abs(z)));
  }
  return sum / static_cast<double>(logits.size());
}

bool ranks_above(const ValidationScore& candidate, const ValidationScore& incumbent) {
  if (candidate.mcc != incumbent.mcc) return candidate.mcc > incumbent.mcc;
  return candidate.bce < incumbent.bce;
}

ValidationScore validation_score(const std::vector<double>& logits, const std::vector<double>& labels,
                                 double threshold) {
  std::vector<double> prob;
  std::vector<int> lab;
  for (size_t i = 0; i < logits.size(); ++i) {
    const double z = logits[i];
    prob.push_back(z >= 0 ? 1.0 / (1.0 + std::exp(-z)) : std::exp(z) / (1.0 + std::exp(z)));  // sigmoid
    lab.push_back(static_cast<int>(labels.at(i)));
  }
  return {mcc(confusion_at(prob, lab, threshold)), mean_bce_with_logits(logits, lab)};
}

double roc_auc(const std::vector<double>& scores, const std::vector<int>& labels) {
  check_binary(scores, labels, "roc_auc");
  // Rank-sum form: sort once, give tied scores their average rank.
  const size_t n = scores.size();
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] < scores[b]; });
  double rank_sum_pos = 0;
  int64_t n_pos = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) ++j;
    const double avg_rank = 0.5 * static_cast<double>(i + 1 + j);  // ranks i+1 .. j
    for (size_t k = i; k < j; ++k)
      if (labels[order[k]] == 1) {
        rank_sum_pos += avg_rank;
        ++n_pos;
      }
    i = j;
  }
  const int64_t n_neg = static_cast<int64_t>(n) - n_pos;
  if (n_pos == 0 || n_neg == 0) return std::numeric_limits<double>::quiet_NaN();
  const double u = rank_sum_pos - 0.5 * static_cast<double>(n_pos) * static_cast<double>(n_pos + 1);
  return u / (static_cast<double>(n_pos) * static_cast<double>(n_neg));
}

std::vector<RocPoint> roc_curve(const std::vector<double>& scores, const std::vector<int>& labels) {
  check_binary(scores, labels, "roc_curve");
  const size_t n = scores.size();
  int64_t n_pos = 0;
  for (int l : labels) n_pos += l;
  const int64_t n_neg = static_cast<int64_t>(n) - n_pos;
  check(n_pos > 0 && n_neg > 0, "roc_curve", "needs at least one positive and one negative");
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), size_t{0});
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) { return scores[a] > scores[b]; });
  std::vector<RocPoint> curve{{0.0, 0.0}};
  int64_t tp = 0, fp = 0;
  for (size_t i = 0; i < n;) {
    size_t j = i;
    while (j < n && scores[order[j]] == scores[order[i]]) {
      (labels[order[j]] == 1 ? tp : fp)++;
      ++j;
    }
    curve.push_back({static_cast<double>(fp) / static_cast<double>(n_neg),
                     static_cast<double>(tp) / static_cast<double>(n_pos)});
    i = j;
  }
  return curve;
}

BinaryMetrics binary_metrics(const std::vector<double>& probabilities, const std::vector<int>& labels,
                             double threshold) {
  BinaryMetrics m;
  m.confusion = confusion_at(probabilities, labels, threshold);
  m.auc = roc_auc(probabilities, labels);
  m.accuracy = accuracy(m.confusion);
  m.precision = precision(m.confusion);
  m.recall = recall(m.confusion);
  m.specificity = specificity(m.confusion);
  m.f1 = f1_score(m.confusion);
  m.mcc = mcc(m.confusion);
  return m;
}

RegressionMetrics regression_metrics(const std::vector<double>& predicted, const std::vector<double>& target) {
  check(predicted.size() == target.size() && !target.empty(), "regression_metrics",
        "needs equally long, non-empty predictions and targets (got " + std::to_string(predicted.size()) + " and " +
            std::to_string(target.size()) + ")");
  double abs_sum = 0, sq_sum = 0;
  for (size_t i = 0; i < target.size(); ++i) {
    const double e = predicted[i] - target[i];
    abs_sum += std::abs(e);
    sq_sum += e * e;
  }
  const double n = static_cast<double>(target.size());
  return {abs_sum / n, std::sqrt(sq_sum / n)};
}

double percentile(std::vector<double> values, double q) {
  check(q >= 0 && q <= 1, "percentile", "q must be in [0, 1], got " + std::to_string(q));
  values.erase(std::remove_if(values.begin(), values.end(), [](double v) { return std::isnan(v); }), values.end());
  if (values.empty()) return std::numeric_limits<double>::quiet_NaN();
  std::sort(values.begin(), values.end());
  const double pos = q * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, values.size() - 1);
  const double f = pos - static_cast<double>(lo);
  return values[lo] + f * (values[hi] - values[lo]);
}

std::vector<std::vector<size_t>> subject_bootstrap_samples(const std::vector<std::string>& subjects, int64_t B,
                                                           uint64_t seed, uint64_t stream) {
  check(B >= 1, "subject_bootstrap_samples", "needs at least one resample, got " + std::to_string(B));
  check(!subjects.empty(), "subject_bootstrap_samples", "needs at least one row");
  // Rows grouped by subject, subjects in order of first appearance (so the draw does not
  // depend on how subject names sort).
  std::map<std::string, size_t> index;
  std::vector<std::vector<size_t>> rows_of;
  for (size_t r = 0; r < subjects.size(); ++r) {
    auto it = index.find(subjects[r]);
    if (it == index.end()) {
      it = index.emplace(subjects[r], rows_of.size()).first;
      rows_of.emplace_back();
    }
    rows_of[it->second].push_back(r);
  }
  const int64_t s = static_cast<int64_t>(rows_of.size());
  // One Philox stream per (seed, stream): offsets 2^40 apart never overlap in practice.
  Generator gen(seed, stream << 40);
  std::vector<std::vector<size_t>> samples(static_cast<size_t>(B));
  for (int64_t b = 0; b < B; ++b) {
    const std::vector<double> u = rand({s}, gen, DType::F64).to_vector();
    auto& rows = samples[static_cast<size_t>(b)];
    for (double v : u) {
      const int64_t k = std::min<int64_t>(s - 1, static_cast<int64_t>(std::floor(v * static_cast<double>(s))));
      const auto& sub = rows_of[static_cast<size_t>(k)];
      rows.insert(rows.end(), sub.begin(), sub.end());
    }
  }
  return samples;
}

std::vector<Interval> bootstrap_intervals(const std::vector<std::string>& subjects, int64_t B, uint64_t seed,
                                          uint64_t stream,
                                          const std::function<std::vector<double>(const std::vector<size_t>&)>& statistic,
                                          double level) {
  check(level > 0 && level < 1, "bootstrap_intervals", "level must be in (0, 1), got " + std::to_string(level));
  const auto samples = subject_bootstrap_samples(subjects, B, seed, stream);
  std::vector<std::vector<double>> values;  // [component][resample]
  for (const auto& rows : samples) {
    const std::vector<double> v = statistic(rows);
    if (values.empty()) values.resize(v.size());
    check(v.size() == values.size(), "bootstrap_intervals", "the statistic returned a varying number of values");
    for (size_t k = 0; k < v.size(); ++k) values[k].push_back(std::isfinite(v[k]) ? v[k] : std::nan(""));
  }
  std::vector<Interval> out;
  const double tail = 0.5 * (1 - level);
  for (const auto& comp : values) {
    Interval in;
    in.valid = static_cast<int64_t>(std::count_if(comp.begin(), comp.end(), [](double x) { return !std::isnan(x); }));
    in.low = percentile(comp, tail);
    in.high = percentile(comp, 1 - tail);
    out.push_back(in);
  }
  return out;
}

std::vector<Interval> regression_intervals(const std::vector<std::string>& subjects,
                                           const std::vector<double>& predicted, const std::vector<double>& target,
                                           int64_t B, uint64_t seed, uint64_t stream, double level) {
  return bootstrap_intervals(
      subjects, B, seed, stream,
      [&](const std::vector<size_t>& rows) {
        std::vector<double> p, t;
        for (size_t i : rows) {
          p.push_back(predicted[i]);
          t.push_back(target[i]);
        }
        const RegressionMetrics m = regression_metrics(p, t);
        return std::vector<double>{m.mae, m.rmse};
      },
      level);
}

}  // namespace ldae::probe
