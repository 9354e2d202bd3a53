// Principal component analysis for the probe baselines ("PCA of the autoencoder latents +
// the same probe"): fitted on training rows only, then applied to every row.
//
// Fit: centre the training rows by their mean, eigen-decompose their covariance
// (divisor M - 1; Eigen's self-adjoint solver, in float64), keep the k eigenvectors of the
// largest eigenvalues, in decreasing order. Each component's sign is fixed so that its
// entry of largest magnitude is positive (the first such entry on ties), so the result is
// deterministic. Transform: (x - mean) * components^T, no whitening.
//
// Wide data (fewer rows than features, e.g. 60 flattened latents of 15,360 values): the
// d x d covariance would take d^2 memory and d^3 time, so the M x M Gram matrix
// C C^T / (M - 1) of the centred rows C is decomposed instead. It has the same non-zero
// eigenvalues, and each eigenvector u gives the component C^T u / |C^T u|. Only the
// M - 1 components with a non-zero variance exist then, so k <= M - 1.
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

// How the eigenvectors are found (both give the same components up to rounding).
enum class PcaSolver {
  Auto,        // Gram when M < d, else Covariance
  Covariance,  // the d x d covariance
  Gram,        // the M x M Gram matrix (see above)
};

// train: (M, d) with M >= 2, finite; 1 <= k <= d (and k <= M - 1 with the Gram solver).
// Throws ldae::Error "fit_pca: ..." otherwise.
Pca fit_pca(const Tensor& train, int64_t k, PcaSolver solver = PcaSolver::Auto);

// The smallest k whose first k ratios (explained_variance_ratio of a fit, largest first) add
// up to at least `fraction` of the variance; ratios.size() when they never reach it. ratios
// non-empty and fraction in (0, 1], else ldae::Error "components_for_variance: ...".
int64_t components_for_variance(const std::vector<double>& ratios, double fraction);

// fit_pca(train, k).transform(all): k components for every row of `all` (N, d) -> (N, k).
Tensor pca_features(const Tensor& train, const Tensor& all, int64_t k);

}  // namespace ldae::probe
