#include "nn/norm.h"

#include "autograd/functions.h"

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

}  // namespace ldae::nn
