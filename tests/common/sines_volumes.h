// The closed-form "sines" volumes of tests/reference/generate_metric_cases.py
// (formula_volumes): the reference cases whose inputs are too big to commit rebuild them here.
#pragma once
#include <cmath>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace ldae::testing {

// (n, 1, d, h, w) F64 each; sample s, voxel (z, y, x):
//   a = 0.5 + 0.3 sin(0.37 z + 0.11 y + 0.1 s) cos(0.23 x + 0.05 z) + 0.1 sin(0.9 x + 1.7 y)
//   b = a + 0.08 sin(1.3 z + 0.7 x + 0.4 y) + 0.05 cos(0.21 y + 0.3 s)
inline std::pair<Tensor, Tensor> sines_volumes(int64_t n, int64_t d, int64_t h, int64_t w) {
  std::vector<double> a, b;
  for (int64_t s = 0; s < n; ++s)
    for (int64_t z = 0; z < d; ++z)
      for (int64_t y = 0; y < h; ++y)
        for (int64_t x = 0; x < w; ++x) {
          const double va =
              0.5 + 0.3 * std::sin(0.37 * z + 0.11 * y + 0.1 * s) * std::cos(0.23 * x + 0.05 * z) +
              0.1 * std::sin(0.9 * x + 1.7 * y);
          a.push_back(va);
          b.push_back(va + 0.08 * std::sin(1.3 * z + 0.7 * x + 0.4 * y) +
                      0.05 * std::cos(0.21 * y + 0.3 * s));
        }
  return {Tensor::from_vector(a, {n, 1, d, h, w}, DType::F64),
          Tensor::from_vector(b, {n, 1, d, h, w}, DType::F64)};
}

}  // namespace ldae::testing
