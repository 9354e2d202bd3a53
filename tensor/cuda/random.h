// Random tensors on the GPU: the twin of tensor/random.cpp's fill loop. Element i gets
// the same Philox draw, philox::uniform / philox::normal(seed, offset, i) of
// tensor/philox.h, as on the CPU, so a (seed, offset) gives the same tensor on both
// devices (to the last bit in f32; in f64 the GPU's log and cos may differ from the
// host's by an ulp, so normal draws agree to ~1e-16 relative).
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace ldae::cuda {

// t: a contiguous CUDA tensor. t[i] = low + (high - low) * uniform(seed, offset, i), as
// philox::scale_shift computes it (one fma: the same rounding on both devices).
void fill_uniform(Tensor& t, uint64_t seed, uint64_t offset, double low, double high);
// t[i] = mean + stddev * normal(seed, offset, i), the same way.
void fill_normal(Tensor& t, uint64_t seed, uint64_t offset, double mean, double stddev);

}  // namespace ldae::cuda
