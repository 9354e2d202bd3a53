// Linear: y = x Wᵀ + b, PyTorch's nn.Linear (parameters "weight" (out, in) and "bias"
// (out)), initialised like PyTorch: weight kaiming_uniform(a = sqrt(5)), i.e.
// U(-1/sqrt(in), 1/sqrt(in)), bias U(-1/sqrt(in), 1/sqrt(in)).
#pragma once
#include "nn/module.h"
#include "tensor/random.h"

namespace ldae::nn {

class Linear : public Module {
 public:
  Linear(int64_t in_features, int64_t out_features, Generator& gen, bool bias = true);

  // x: (..., in_features) -> (..., out_features)
  Tensor forward(const Tensor& x) const;

  int64_t in_features() const { return in_; }
  int64_t out_features() const { return out_; }
  Tensor weight;  // (out, in)
  Tensor bias;    // (out), undefined without bias

 private:
  int64_t in_, out_;
};

}  // namespace ldae::nn
