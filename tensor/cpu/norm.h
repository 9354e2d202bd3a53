// CPU kernels of group norm, layer norm and batch norm, on raw contiguous arrays. The checks, the
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

// Batch norm: x seen as (N, C, S); one set per channel c: the N * S values x[n, c, :].
struct BatchNormGeometry {
  int64_t N = 0, C = 0, S = 1;
};

// x: (N, C, S), w, b: (C) or null -> y: (N, C, S), mean, rstd: (C) (what normalised x).
// training: batch statistics (biased variance); when running_mean / running_var are not
//   null they are updated in place, r = (1 - momentum) r + momentum s, with the unbiased
//   variance (N S / (N S - 1)) for running_var (needs N S > 1, checked by the caller).
// eval: mean = running_mean, rstd = 1 / sqrt(running_var + eps) (both required).
// Training takes two passes over memory: per-(n, c) shifted sums (parallel over (n, c),
// shift k = x[0, c, 0]) added per channel in n order, then y = x scale + shift.
template <typename T>
void batch_norm_forward(const BatchNormGeometry& g, const T* x, const T* w, const T* b,
                        T* running_mean, T* running_var, bool training, double momentum,
                        double eps, T* y, T* mean, T* rstd);

// gy, x: (N, C, S); mean, rstd: (C) from the forward; w: (C) or null -> gx: (N, C, S),
// gw, gb: (C). training: the gradient through the batch statistics; eval: the statistics
// are constants, gx = gy rstd w.
template <typename T>
void batch_norm_backward(const BatchNormGeometry& g, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, bool training, T* gx, T* gw, T* gb);

}  // namespace ldae::cpu
