// Normalisation layers: PyTorch's nn.GroupNorm and nn.LayerNorm, affine parameters
// "weight" (ones) and "bias" (zeros) as PyTorch initialises them.
#pragma once
#include "nn/module.h"

namespace ldae::nn {

class GroupNorm : public Module {
 public:
  // num_channels must be divisible by num_groups.
  GroupNorm(int64_t num_groups, int64_t num_channels, double eps = 1e-5, bool affine = true);

  // x: (N, C, ...) -> same shape; statistics over each (sample, group of C/G channels, all
  // remaining axes).
  Tensor forward(const Tensor& x) const;

  int64_t num_groups() const { return groups_; }
  int64_t num_channels() const { return channels_; }
  double eps() const { return eps_; }
  Tensor weight;  // (C), undefined without affine
  Tensor bias;    // (C)

 private:
  int64_t groups_, channels_;
  double eps_;
};

class LayerNorm : public Module {
 public:
  LayerNorm(const Shape& normalized_shape, double eps = 1e-5, bool elementwise_affine = true);

  // x: (..., *normalized_shape) -> same shape; statistics over the trailing axes.
  Tensor forward(const Tensor& x) const;

  const Shape& normalized_shape() const { return shape_; }
  Tensor weight;  // normalized_shape, undefined without affine
  Tensor bias;

 private:
  Shape shape_;
  double eps_;
};

}  // namespace ldae::nn
