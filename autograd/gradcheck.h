// Numerical gradient checking in float64: compares the gradients ag::backward computes
// with central differences (f(x + eps) - f(x - eps)) / 2 eps.
#pragma once
#include <functional>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ldae::ag {

struct GradcheckOptions {
  double eps = 1e-6;
  double atol = 1e-5;
  double rtol = 1e-3;
  // At most this many entries per input are perturbed (chosen at random, seeded);
  // small inputs are checked entirely.
  int64_t max_entries_per_input = 400;
  uint64_t seed = 0;
};

struct GradcheckResult {
  bool ok = true;
  std::string message;  // the first mismatch: input, index, analytic and numeric values
};

// f maps the inputs to an output of any shape; the scalar checked is
// L = sum(f(inputs) * r) for a fixed random r (a random projection of the output).
// Inputs must be float64 leaves; those with requires_grad are checked.
GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs,
                          const GradcheckOptions& options = GradcheckOptions());

}  // namespace ldae::ag
