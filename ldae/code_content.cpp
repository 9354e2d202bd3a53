#include "ldae/code_content.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "tensor/error.h"

namespace ldae::probe {

namespace {

constexpr const char* kOp = "code_content";

// Solves a w = b for a symmetric positive definite (d, d) row-major `a` by its Cholesky factor
// a = L L^T (L lower triangular, computed in place of a's lower half), then L u = b and L^T w = u.
std::vector<double> cholesky_solve(std::vector<double> a, std::vector<double> b, int64_t d) {
  for (int64_t j = 0; j < d; ++j) {
    double diag = a[j * d + j];
    for (int64_t k = 0; k < j; ++k) diag -= a[j * d + k] * a[j * d + k];
    check(diag > 0, kOp, "the ridge system is not positive definite");
    const double l_jj = std::sqrt(diag);
    a[j * d + j] = l_jj;
    for (int64_t i = j + 1; i < d; ++i) {
      double v = a[i * d + j];
      for (int64_t k = 0; k < j; ++k) v -= a[i * d + k] * a[j * d + k];
      a[i * d + j] = v / l_jj;
    }
  }
  for (int64_t i = 0; i < d; ++i) {  // L u = b (u in b)
    for (int64_t k = 0; k < i; ++k) b[i] -= a[i * d + k] * b[k];
    b[i] /= a[i * d + i];
  }
  for (int64_t i = d - 1; i >= 0; --i) {  // L^T w = u (w in b)
    for (int64_t k = i + 1; k < d; ++k) b[i] -= a[k * d + i] * b[k];
    b[i] /= a[i * d + i];
  }
  return b;
}

}  // namespace

std::vector<double> out_of_fold_r2(const FeatureTable& table, const std::vector<double>& target,
                                   const std::vector<double>& penalties, int folds) {
  const int64_t n = table.rows(), d = table.dim();
  check(static_cast<int64_t>(target.size()) == n, kOp,
        "the target has " + std::to_string(target.size()) + " values for " + std::to_string(n) + " rows");
  check(folds >= 2, kOp, "at least 2 folds are needed");
  for (double v : target) check(std::isfinite(v), kOp, "the target has a value that is not finite");
  for (double p : penalties) check(p > 0 && std::isfinite(p), kOp, "a ridge penalty must be > 0");
  // Fold of each row: its subject's rank in sorted order, modulo `folds`.
  std::map<std::string, int> fold_of;
  for (const std::string& s : table.subject) fold_of[s] = 0;
  check(static_cast<int>(fold_of.size()) >= folds, kOp,
        std::to_string(fold_of.size()) + " subjects, fewer than the " + std::to_string(folds) + " folds");
  int rank = 0;
  for (auto& [subject, fold] : fold_of) fold = rank++ % folds;
  std::vector<int> fold(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) fold[static_cast<size_t>(i)] = fold_of[table.subject[static_cast<size_t>(i)]];

  const Tensor xc = table.x.contiguous();
  const double* x = xc.data<double>();  // x: (N, d), row-major
  double y_all = 0;
  for (double v : target) y_all += v;
  y_all /= static_cast<double>(n);
  double total = 0;
  for (double v : target) total += (v - y_all) * (v - y_all);
  check(total > 0, kOp, "the target is constant");

  std::vector<std::vector<double>> predicted(penalties.size(), std::vector<double>(static_cast<size_t>(n), 0.0));
  for (int k = 0; k < folds; ++k) {
    std::vector<int64_t> train, test;
    for (int64_t i = 0; i < n; ++i) (fold[static_cast<size_t>(i)] == k ? test : train).push_back(i);
    if (test.empty()) continue;
    const int64_t m = static_cast<int64_t>(train.size());
    // z-score with the training rows' mean and population std (a constant feature stays 0).
    std::vector<double> mean(static_cast<size_t>(d), 0.0), scale(static_cast<size_t>(d), 0.0);
    for (int64_t i : train)
      for (int64_t c = 0; c < d; ++c) mean[static_cast<size_t>(c)] += x[i * d + c] / static_cast<double>(m);
    for (int64_t i : train)
      for (int64_t c = 0; c < d; ++c) {
        const double e = x[i * d + c] - mean[static_cast<size_t>(c)];
        scale[static_cast<size_t>(c)] += e * e / static_cast<double>(m);
      }
    for (double& s : scale) s = s > 0 ? 1.0 / std::sqrt(s) : 0.0;
    auto z = [&](int64_t i, int64_t c) { return (x[i * d + c] - mean[static_cast<size_t>(c)]) * scale[static_cast<size_t>(c)]; };
    // The normal equations of the training rows: (Z^T Z + penalty I) w = Z^T (y - mean y).
    double y_mean = 0;
    for (int64_t i : train) y_mean += target[static_cast<size_t>(i)] / static_cast<double>(m);
    std::vector<double> gram(static_cast<size_t>(d * d), 0.0), rhs(static_cast<size_t>(d), 0.0), zi(static_cast<size_t>(d));
    for (int64_t i : train) {
      for (int64_t c = 0; c < d; ++c) zi[static_cast<size_t>(c)] = z(i, c);
      const double yi = target[static_cast<size_t>(i)] - y_mean;
      for (int64_t r = 0; r < d; ++r) {
        rhs[static_cast<size_t>(r)] += zi[static_cast<size_t>(r)] * yi;
        for (int64_t c = 0; c <= r; ++c) gram[static_cast<size_t>(r * d + c)] += zi[static_cast<size_t>(r)] * zi[static_cast<size_t>(c)];
      }
    }
    for (size_t p = 0; p < penalties.size(); ++p) {
      std::vector<double> a = gram;  // only the lower half is filled, which is all cholesky_solve reads
      for (int64_t c = 0; c < d; ++c) a[static_cast<size_t>(c * d + c)] += penalties[p];
      const std::vector<double> w = cholesky_solve(std::move(a), rhs, d);  // (d)
      for (int64_t i : test) {
        double value = y_mean;
        for (int64_t c = 0; c < d; ++c) value += z(i, c) * w[static_cast<size_t>(c)];
        predicted[p][static_cast<size_t>(i)] = value;
      }
    }
  }
  std::vector<double> r2;
  for (const std::vector<double>& pred : predicted) {
    double residual = 0;
    for (int64_t i = 0; i < n; ++i) {
      const double e = target[static_cast<size_t>(i)] - pred[static_cast<size_t>(i)];
      residual += e * e;
    }
    r2.push_back(1.0 - residual / total);
  }
  return r2;
}

}  // namespace ldae::probe
