// Normalisation layers: PyTorch's nn.GroupNorm, nn.LayerNorm and nn.BatchNorm1d/2d/3d,
// affine parameters "weight" (ones) and "bias" (zeros) as PyTorch initialises them.
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

// PyTorch's nn.BatchNorm1d / 2d / 3d in one class (x (N, C, ...) of any rank >= 2), with
// running statistics. Parameters weight (ones), bias (zeros); buffers running_mean (zeros),
// running_var (ones) and num_batches_tracked (0-d, of the module's dtype: our tensors have
// no integer dtype; it counts the forward calls made in train mode). State-dict order as
// PyTorch: weight, bias, running_mean, running_var, num_batches_tracked.
class BatchNorm : public Module {
 public:
  BatchNorm(int64_t num_features, double eps = 1e-5, double momentum = 0.1, bool affine = true);

  // x: (N, C, ...) -> same shape. Train mode: normalises with the batch statistics over
  // (N, spatial) and updates the running statistics in place (needs more than one value
  // per channel); eval mode: normalises with the running statistics.
  Tensor forward(const Tensor& x) const;

  int64_t num_features() const { return channels_; }
  double eps() const { return eps_; }
  double momentum() const { return momentum_; }
  Tensor weight;  // (C), undefined without affine
  Tensor bias;    // (C)
  Tensor running_mean;         // (C)
  Tensor running_var;          // (C)
  Tensor num_batches_tracked;  // 0-d

 private:
  int64_t channels_;
  double eps_, momentum_;
};

}  // namespace ldae::nn
