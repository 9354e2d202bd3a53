// Stochastic depth (torchvision.ops.stochastic_depth, mode "row"; Huang et al. 2016): in
// train mode with p > 0 each sample of the batch is kept with probability 1 - p and then
// scaled by 1/(1 - p), or zeroed as a whole; the identity in eval mode or with p == 0.
// Used on the residual branch of ConvNeXt blocks, so a dropped sample skips the block.
//
// It is a composition of differentiable ops (a multiplication by a constant per-sample
// mask), so it needs no backward of its own. The masks come from a Philox Generator: the
// same (seed, offset) gives the same masks.
#pragma once
#include <memory>

#include "nn/module.h"
#include "tensor/random.h"

namespace ldae::nn {

// x: (N, ...), keep: (N) of 0/1 (any dtype) -> x * keep[n] / (1 - p) on every element of
// sample n (all zero when p == 1). The deterministic core of stochastic_depth.
// Requires p in [0, 1].
Tensor stochastic_depth_with_mask(const Tensor& x, const Tensor& keep, double p);

// The per-sample keep mask (N) in x's dtype on the CPU: sample n is kept (1) when its
// uniform draw u in (0, 1] is > p. Advances gen by N.
Tensor stochastic_depth_mask(int64_t n, double p, DType dtype, Generator& gen);

// x: (N, ...) -> same shape. The identity (x itself) when !training or p == 0; otherwise
// draws a mask from gen (advancing it by N) and applies stochastic_depth_with_mask.
Tensor stochastic_depth(const Tensor& x, double p, bool training, Generator& gen);

// The module form, following the module's train/eval mode.
class StochasticDepth : public Module {
 public:
  // p in [0, 1]; gen may be null only when p == 0.
  StochasticDepth(double p, std::shared_ptr<Generator> gen);

  // x: (N, ...) -> same shape.
  Tensor forward(const Tensor& x) const;

  double p() const { return p_; }

 private:
  double p_;
  std::shared_ptr<Generator> gen_;
};

}  // namespace ldae::nn
