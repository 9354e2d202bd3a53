// CPU kernels of group norm and layer norm, on raw contiguous arrays. The checks, the
// shapes and the dtype dispatch are in tensor/norm.cpp; these functions trust them.
//
// Both norms compute, for each normalised set of L values,
//   mean = sum(x) / L,  var = sum((x - mean)^2) / L  (biased, as PyTorch),
//   rstd = 1 / sqrt(var + eps),  y = (x - mean) * rstd * w + b.
// Sums accumulate in double. The statistics take one pass over x: each set sums
// d = x - k and d^2 with k = the set's first value (a "shifted" sum: it avoids the
// cancellation of sum(x^2) - L mean^2 when the mean is large against the spread).
//
// Weight and bias pointers may be null (meaning w = 1, b = 0).
#pragma once
#include <cstdint>

namespace ldae::cpu {

// Group norm: x seen as (N, C, S) (S = product of the spatial sizes), the C channels
// split into `groups` consecutive groups of C / groups channels; one set per (n, group).
struct GroupNormGeometry {
  int64_t N = 0, C = 0, groups = 1, S = 1;
};

// x: (N, C, S), w, b: (C) or null -> y: (N, C, S), mean, rstd: (N, groups).
// Two passes over memory (statistics, then normalise); parallel over (n, c).
template <typename T>
void group_norm_forward(const GroupNormGeometry& g, const T* x, const T* w, const T* b, double eps,
                        T* y, T* mean, T* rstd);

// gy, x: (N, C, S); mean, rstd: (N, groups) from the forward; w: (C) or null
// -> gx: (N, C, S), gw, gb: (C) (gradients of a weight/bias of ones/zeros when w is null).
// Two passes: per-(n, c) sums of gy and gy (x - mean), then gx in closed form.
template <typename T>
void group_norm_backward(const GroupNormGeometry& g, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* gx, T* gw, T* gb);

// Layer norm: x seen as (M, L), one set per row; w, b: (L) or null
// -> y: (M, L), mean, rstd: (M). Parallel over rows.
template <typename T>
void layer_norm_forward(int64_t M, int64_t L, const T* x, const T* w, const T* b, double eps, T* y,
                        T* mean, T* rstd);

// gy, x: (M, L); mean, rstd: (M); w: (L) or null -> gx: (M, L), gw, gb: (L).
// One pass, parallel over rows; gw, gb from partial sums over a fixed number of row parts
// (the same bits whatever the thread count).
template <typename T>
void layer_norm_backward(int64_t M, int64_t L, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* gx, T* gw, T* gb);

}  // namespace ldae::cpu
