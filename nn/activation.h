// Activations as modules (no parameters), so that they take their place in a
// ModuleList like PyTorch's nn.SiLU() / nn.GELU() do.
#pragma once
#include <string>

#include "autograd/functions.h"
#include "nn/module.h"

namespace ldae::nn {

// x * sigmoid(x). x: any shape -> same shape.
class SiLU : public Module {
 public:
  Tensor forward(const Tensor& x) const { return ag::silu(x); }
};

// approximate: "none" (exact, with erf) or "tanh". x: any shape -> same shape.
class GELU : public Module {
 public:
  explicit GELU(std::string approximate = "none") : approximate_(std::move(approximate)) {}
  Tensor forward(const Tensor& x) const { return ag::gelu(x, approximate_); }

 private:
  std::string approximate_;
};

}  // namespace ldae::nn
