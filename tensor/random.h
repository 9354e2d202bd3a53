// Random tensors from a counter-based Philox stream: reproducible from (seed, offset)
// on any device and any number of threads.
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace ldae {

// A position in a Philox stream. Each random tensor of n elements uses n blocks and
// advances `offset` by n, so the next tensor gets fresh numbers. Saving (seed, offset)
// in a checkpoint is enough to continue the exact same stream.
struct Generator {
  uint64_t seed = 0;
  uint64_t offset = 0;
  explicit Generator(uint64_t s = 0, uint64_t o = 0) : seed(s), offset(o) {}
};

// Uniform in [low, high) (strictly: (low, high], the open end is measure zero).
// On a CUDA device the same (seed, offset) gives the same numbers as on the CPU.
Tensor rand(const Shape& shape, Generator& gen, DType dtype = DType::F32, double low = 0.0,
            double high = 1.0, Device device = cpu_device());
// Normal with the given mean and standard deviation.
Tensor randn(const Shape& shape, Generator& gen, DType dtype = DType::F32, double mean = 0.0,
             double stddev = 1.0, Device device = cpu_device());

}  // namespace ldae
