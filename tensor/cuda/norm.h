// Group norm, layer norm and batch norm on the GPU: the twins of tensor/cpu/norm.h, with the same
// geometry, the same contiguous layouts and the same formulas (statistics from shifted
// sums accumulated in double; backward through gx = alpha gy + beta x + gamma). All
// pointers are device pointers of the current device; w and b may be nullptr.
#pragma once
#include <cstdint>

#include "tensor/cpu/norm.h"

namespace ldae::cuda {

// x: (N, C, S) -> y, mean, rstd: (N, groups). One block per (n, group), fused: the block
// computes the group's statistics, then normalises the group.
template <typename T>
void group_norm_forward(const cpu::GroupNormGeometry& g, const T* x, const T* w, const T* b,
                        double eps, T* y, T* mean, T* rstd);

// -> gx: (N, C, S), gw, gb: (C). Per-(n, c) sums (one block each), per-channel and
// per-group coefficients (one thread each), then one elementwise pass for gx.
template <typename T>
void group_norm_backward(const cpu::GroupNormGeometry& g, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* gx, T* gw, T* gb);

// x: (M, L) -> y, mean, rstd: (M). One block per row, fused.
template <typename T>
void layer_norm_forward(int64_t M, int64_t L, const T* x, const T* w, const T* b, double eps, T* y,
                        T* mean, T* rstd);

// -> gx (one block per row), gw, gb: (L) (one thread per column, summing the rows in order).
template <typename T>
void layer_norm_backward(int64_t M, int64_t L, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* gx, T* gw, T* gb);

// Batch norm, x: (N, C, S) -> y, and mean, rstd: (C); the contract of cpu::batch_norm_forward
// (running_mean / running_var device pointers, updated in place in training when not null).
// One block per channel, fused: statistics (training) then normalisation.
template <typename T>
void batch_norm_forward(const cpu::BatchNormGeometry& g, const T* x, const T* w, const T* b,
                        T* running_mean, T* running_var, bool training, double momentum,
                        double eps, T* y, T* mean, T* rstd);

// -> gx: (N, C, S), gw, gb: (C). One block per channel: its sums, gw, gb, then its gx.
template <typename T>
void batch_norm_backward(const cpu::BatchNormGeometry& g, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, bool training, T* gx, T* gw, T* gb);

}  // namespace ldae::cuda
