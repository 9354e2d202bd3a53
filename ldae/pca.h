// Principal component analysis for the probe baselines ("PCA of the autoencoder latents +
// the same probe"): fitted on training rows only, then applied to every row.
//
// Fit: centre the training rows by their mean, eigen-decompose their covariance
// (divisor M - 1; Eigen's self-adjoint solver, in float64), keep the k eigenvectors of the
// largest eigenvalues, in decreasing order. Each component's sign is fixed so that its
// entry of largest magnitude is positive (the first such entry on ties), so the result is
// deterministic. Transform: (x - mean) * components^T, no whitening.
#pragma once
#include <cstdint>
#include <vector>

#include "tensor/tensor.h"

namespace ldae::probe {

struct Pca {
  Tensor mean;        // (d) float64
  Tensor components;  // (k, d) float64, orthonormal rows
  std::vector<double> explained_variance;        // k eigenvalues (variances along the components)
  std::vector<double> explained_variance_ratio;  // each over the total variance (0 when that is 0)

  // x: (N, d) -> (N, k) float64.
  Tensor transform(const Tensor& x) const;
};

// train: (M, d) with M >= 2, finite; 1 <= k <= d. Throws ldae::Error "fit_pca: ..." otherwise.
Pca fit_pca(const Tensor& train, int64_t k);

// fit_pca(train, k).transform(all): k components for every row of `all` (N, d) -> (N, k).
Tensor pca_features(const Tensor& train, const Tensor& all, int64_t k);

}  // namespace ldae::probe
