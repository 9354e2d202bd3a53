#include "nn/norm.h"

#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "tensor/ops.h"

namespace ldae::nn {

GroupNorm::GroupNorm(int64_t num_groups, int64_t num_channels, double eps, bool affine)
    : groups_(num_groups), channels_(num_channels), eps_(eps) {
  check(num_groups > 0 && num_channels > 0 && num_channels % num_groups == 0, "GroupNorm",
        "num_channels=" + std::to_string(num_channels) + " is not divisible by num_groups=" +
            std::to_string(num_groups));
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({num_channels}));
    bias = register_parameter("bias", Tensor::zeros({num_channels}));
  }
}

Tensor GroupNorm::forward(const Tensor& x) const {
  check(x.dim() >= 2 && x.size(1) == channels_, "GroupNorm",
        "expected input (N, " + std::to_string(channels_) + ", ...), got " + shape_str(x.shape()));
  return ag::group_norm(x, groups_, weight, bias, eps_);
}

LayerNorm::LayerNorm(const Shape& normalized_shape, double eps, bool elementwise_affine)
    : shape_(normalized_shape), eps_(eps) {
  check(!normalized_shape.empty(), "LayerNorm", "normalized_shape is empty");
  if (elementwise_affine) {
    weight = register_parameter("weight", Tensor::ones(normalized_shape));
    bias = register_parameter("bias", Tensor::zeros(normalized_shape));
  }
}

Tensor LayerNorm::forward(const Tensor& x) const {
  return ag::layer_norm(x, shape_, weight, bias, eps_);
}

BatchNorm::BatchNorm(int64_t num_features, double eps, double momentum, bool affine)
    : channels_(num_features), eps_(eps), momentum_(momentum) {
  check(num_features > 0, "BatchNorm",
        "num_features must be positive, got " + std::to_string(num_features));
  check(eps >= 0 && momentum >= 0 && momentum <= 1, "BatchNorm",
        "needs eps >= 0 and momentum in [0, 1], got eps=" + std::to_string(eps) +
            " momentum=" + std::to_string(momentum));
  if (affine) {
    weight = register_parameter("weight", Tensor::ones({num_features}));
    bias = register_parameter("bias", Tensor::zeros({num_features}));
  }
  running_mean = register_buffer("running_mean", Tensor::zeros({num_features}));
  running_var = register_buffer("running_var", Tensor::ones({num_features}));
  num_batches_tracked = register_buffer("num_batches_tracked", Tensor::scalar(0.0));
}

Tensor BatchNorm::forward(const Tensor& x) const {
  check(x.dim() >= 2 && x.size(1) == channels_, "BatchNorm",
        "expected input (N, " + std::to_string(channels_) + ", ...), got " + shape_str(x.shape()));
  const bool training = is_training();
  Tensor y = ag::batch_norm(x, running_mean, running_var, weight, bias, training, momentum_, eps_);
  if (training) {
    NoGrad no_grad;
    Tensor count = num_batches_tracked;  // a handle on the buffer (forward is const)
    count.copy_(add_scalar(count, 1.0));
  }
  return y;
}

}  // namespace ldae::nn
