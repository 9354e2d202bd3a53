// Reference CPU group norm, layer norm and batch norm: the definitions written as plain loops.
//
// Same contracts and layouts as the fast kernels of tensor/cpu/norm.h (read that header first):
// the same outputs up to rounding. Short enough to check by eye; the public norm ops run these on
// the CPU when reference kernels are switched on (tensor/kernels.h, LDAE_REFERENCE_KERNELS=1).
// Sums accumulate in double, two passes (mean, then variance). Each output element is computed by
// one thread in a fixed order: the results do not depend on the thread count.
#pragma once
#include <cstdint>

#include "tensor/cpu/norm.h"

namespace ldae::cpu {

// x: (N, C, S), w, b: (C) or null (w = 1, b = 0) -> y: (N, C, S), mean, rstd: (N, groups).
template <typename T>
void group_norm_reference_forward(const GroupNormGeometry& g, const T* x, const T* w, const T* b,
                                  double eps, T* y, T* mean, T* rstd);

// gy, x: (N, C, S); mean, rstd: (N, groups) from the forward; w: (C) or null
// -> gx: (N, C, S), gw, gb: (C).
template <typename T>
void group_norm_reference_backward(const GroupNormGeometry& g, const T* gy, const T* x,
                                   const T* mean, const T* rstd, const T* w, T* gx, T* gw, T* gb);

// Layer norm of x (M, L), one set per row, w, b: (L) or null -> y: (M, L), mean, rstd: (M).
template <typename T>
void layer_norm_reference_forward(int64_t M, int64_t L, const T* x, const T* w, const T* b,
                                  double eps, T* y, T* mean, T* rstd);

// gy, x: (M, L); mean, rstd: (M); w: (L) or null -> gx: (M, L), gw, gb: (L).
template <typename T>
void layer_norm_reference_backward(int64_t M, int64_t L, const T* gy, const T* x, const T* mean,
                                   const T* rstd, const T* w, T* gx, T* gw, T* gb);

// Batch norm of x (N, C, S), one set per channel; the contract of cpu::batch_norm_forward.
template <typename T>
void batch_norm_reference_forward(const BatchNormGeometry& g, const T* x, const T* w, const T* b,
                                  T* running_mean, T* running_var, bool training, double momentum,
                                  double eps, T* y, T* mean, T* rstd);

// The contract of cpu::batch_norm_backward.
template <typename T>
void batch_norm_reference_backward(const BatchNormGeometry& g, const T* gy, const T* x,
                                   const T* mean, const T* rstd, const T* w, bool training, T* gx,
                                   T* gw, T* gb);

}  // namespace ldae::cpu
