// CPU kernels of average pooling and interpolation on raw contiguous arrays. Every
// tensor is seen as P independent planes (P = N * C) of 3 spatial axes (D, H, W); an
// input with fewer spatial axes is given size-1 leading axes by tensor/resample.cpp.
#pragma once
#include <array>
#include <cstdint>
#include <vector>

namespace ldae::cpu {

using Dims3 = std::array<int64_t, 3>;  // sizes or parameters along (D, H, W)

// Average pooling, no padding: y[o] = mean of x over the window starting at o * stride.
// x: (P, in), y: (P, out) with out = (in - kernel) / stride + 1 per axis.
template <typename T>
void avg_pool3d_forward(int64_t P, const Dims3& in, const Dims3& out, const Dims3& kernel,
                        const Dims3& stride, const T* x, T* y);
// gy: (P, out) -> gx: (P, in): each window spreads gy / window size over its inputs
// (overlapping windows add up).
template <typename T>
void avg_pool3d_backward(int64_t P, const Dims3& in, const Dims3& out, const Dims3& kernel,
                         const Dims3& stride, const T* gy, T* gx);

// How the outputs along one axis read the input: output o is
//   w0[o] * x[i0[o]] + w1[o] * x[i1[o]]
// (nearest: i1 = i0, w0 = 1, w1 = 0).
template <typename T>
struct AxisMap {
  std::vector<int64_t> i0, i1;
  std::vector<T> w0, w1;
};

// PyTorch's legacy "nearest" along one axis (upsample_nearest*d with a scale factor):
// src = min(floor(o * (1 / scale)), in - 1), computed in float as PyTorch does.
template <typename T>
AxisMap<T> nearest_axis_map(int64_t in, int64_t out, double scale);

// PyTorch's linear interpolation along one axis with align_corners = false and a given
// scale factor: src = max((o + 0.5) / scale - 0.5, 0), i0 = floor(src),
// i1 = min(i0 + 1, in - 1), w1 = src - i0, w0 = 1 - w1 (computed in T, as PyTorch).
template <typename T>
AxisMap<T> linear_axis_map(int64_t in, int64_t out, double scale);

// y: (P, out) from x: (P, in) through one AxisMap per axis. `linear` false: nearest
// (one read per output), true: the 8-corner trilinear combination.
template <typename T>
void resample_forward(int64_t P, const Dims3& in, const Dims3& out,
                      const std::array<AxisMap<T>, 3>& maps, bool linear, const T* x, T* y);
// gx: (P, in) from gy: (P, out): the transpose of resample_forward (scatter-add).
template <typename T>
void resample_backward(int64_t P, const Dims3& in, const Dims3& out,
                       const std::array<AxisMap<T>, 3>& maps, bool linear, const T* gy, T* gx);

}  // namespace ldae::cpu
