// Average pooling and interpolation on the GPU: the twins of tensor/cpu/resample.h, with
// the same geometry (P planes of (D, H, W)), the same contiguous layouts and the same
// per-axis maps (computed on the host by cpu::nearest_axis_map / cpu::linear_axis_map
// and uploaded), so the GPU reads exactly the inputs, with exactly the weights, that the
// CPU reads. Pointers are device pointers of the current device.
#pragma once
#include <array>
#include <cstdint>

#include "tensor/cpu/resample.h"

namespace ldae::cuda {

using cpu::Dims3;

// One thread per output: the window mean.
template <typename T>
void avg_pool3d_forward(int64_t P, const Dims3& in, const Dims3& out, const Dims3& kernel,
                        const Dims3& stride, const T* x, T* y);
// One thread per input: the sum of gy / window size over the windows that cover it (a
// gather, so no atomics). Overwrites gx.
template <typename T>
void avg_pool3d_backward(int64_t P, const Dims3& in, const Dims3& out, const Dims3& kernel,
                         const Dims3& stride, const T* gy, T* gx);

// One thread per output (nearest: one read; linear: the 8-corner combination).
template <typename T>
void resample_forward(int64_t P, const Dims3& in, const Dims3& out,
                      const std::array<cpu::AxisMap<T>, 3>& maps, bool linear, const T* x, T* y);
// One thread per output, scattering into gx with atomicAdd (several outputs read the same
// input). Overwrites gx. The order of the additions varies from run to run, so the last
// bits may too.
template <typename T>
void resample_backward(int64_t P, const Dims3& in, const Dims3& out,
                       const std::array<cpu::AxisMap<T>, 3>& maps, bool linear, const T* gy, T* gx);

}  // namespace ldae::cuda
