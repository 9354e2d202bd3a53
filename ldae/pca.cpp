#include "ldae/pca.h"

#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <cmath>
#include <string>

#include "tensor/error.h"

namespace ldae::probe {

namespace {

using RowMatrix = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

RowMatrix to_matrix(const Tensor& x) {
  const Tensor c = x.to(cpu_device()).to(DType::F64).contiguous();
  return Eigen::Map<const RowMatrix>(c.data<double>(), c.size(0), c.size(1));
}

Tensor to_tensor(const RowMatrix& m) {
  std::vector<double> v(m.data(), m.data() + m.size());
  return Tensor::from_vector(v, {m.rows(), m.cols()}, DType::F64);
}

}  // namespace

Pca fit_pca(const Tensor& train, int64_t k, PcaSolver solver) {
  check(train.defined() && train.dim() == 2, "fit_pca", "expects a (M, d) matrix");
  const int64_t m = train.size(0), d = train.size(1);
  check(m >= 2, "fit_pca", "needs at least 2 training rows, got " + std::to_string(m));
  check(k >= 1 && k <= d, "fit_pca",
        "k must be in [1, " + std::to_string(d) + "] (the feature dimension), got " + std::to_string(k));
  const bool gram = solver == PcaSolver::Gram || (solver == PcaSolver::Auto && m < d);
  check(!gram || k <= m - 1, "fit_pca",
        "k = " + std::to_string(k) + " components from " + std::to_string(m) + " training rows: at most " +
            std::to_string(m - 1) + " have a non-zero variance");
  const RowMatrix x = to_matrix(train);
  check(x.allFinite(), "fit_pca", "the training rows contain a non-finite value");
  const Eigen::RowVectorXd mu = x.colwise().mean();
  const RowMatrix centred = x.rowwise() - mu;  // C: (M, d)
  // The symmetric matrix to decompose: the covariance (d, d) or the Gram matrix (M, M).
  const Eigen::MatrixXd sym = gram ? Eigen::MatrixXd(centred * centred.transpose()) / static_cast<double>(m - 1)
                                   : Eigen::MatrixXd(centred.transpose() * centred) / static_cast<double>(m - 1);
  Eigen::SelfAdjointEigenSolver<Eigen::MatrixXd> eig(sym);
  check(eig.info() == Eigen::Success, "fit_pca", "the eigen-decomposition did not converge");
  const Eigen::VectorXd values = eig.eigenvalues();   // ascending
  const Eigen::MatrixXd vectors = eig.eigenvectors();  // columns
  const double total = values.cwiseMax(0.0).sum();     // the same trace either way
  const int64_t n = values.size();
  Pca p;
  RowMatrix comps(k, d);
  for (int64_t i = 0; i < k; ++i) {
    const int64_t col = n - 1 - i;  // largest first
    // Gram: the component is C^T u, normalised.
    Eigen::VectorXd v = gram ? Eigen::VectorXd(centred.transpose() * vectors.col(col)) : vectors.col(col);
    v.normalize();
    int64_t arg = 0;
    for (int64_t j = 1; j < d; ++j)
      if (std::abs(v(j)) > std::abs(v(arg))) arg = j;
    if (v(arg) < 0) v = -v;
    comps.row(i) = v.transpose();
    const double var = std::max(0.0, values(col));
    p.explained_variance.push_back(var);
    p.explained_variance_ratio.push_back(total > 0 ? var / total : 0.0);
  }
  p.mean = to_tensor(mu);
  p.mean = p.mean.reshape({d});
  p.components = to_tensor(comps);
  return p;
}

Tensor Pca::transform(const Tensor& x) const {
  const int64_t d = components.size(1);
  check(x.defined() && x.dim() == 2 && x.size(1) == d, "Pca::transform",
        "expects (N, " + std::to_string(d) + ") rows, got " + (x.defined() ? shape_str(x.shape()) : "undefined"));
  const RowMatrix a = to_matrix(x);
  const RowMatrix c = to_matrix(components);
  const Tensor mu_t = mean.contiguous();
  const Eigen::Map<const Eigen::RowVectorXd> mu(mu_t.data<double>(), d);
  const RowMatrix out = (a.rowwise() - mu) * c.transpose();
  return to_tensor(out);
}

int64_t components_for_variance(const std::vector<double>& ratios, double fraction) {
  check(!ratios.empty(), "components_for_variance", "no explained-variance ratios");
  check(fraction > 0 && fraction <= 1, "components_for_variance",
        "fraction must be in (0, 1], got " + std::to_string(fraction));
  double sum = 0;
  for (size_t k = 0; k < ratios.size(); ++k) {
    sum += ratios[k];
    if (sum >= fraction) return static_cast<int64_t>(k + 1);
  }
  return static_cast<int64_t>(ratios.size());
}

Tensor pca_features(const Tensor& train, const Tensor& all, int64_t k) { return fit_pca(train, k).transform(all); }

}  // namespace ldae::probe
