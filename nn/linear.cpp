#include "nn/linear.h"

#include <cmath>

#include "autograd/functions.h"
#include "nn/init.h"

namespace ldae::nn {

Linear::Linear(int64_t in_features, int64_t out_features, Generator& gen, bool with_bias)
    : in_(in_features), out_(out_features) {
  check(in_features > 0 && out_features > 0, "Linear",
        "features must be positive, got in=" + std::to_string(in_features) +
            " out=" + std::to_string(out_features));
  weight = register_parameter("weight", Tensor::empty({out_features, in_features}));
  init::kaiming_uniform_(weight, gen, std::sqrt(5.0));
  if (with_bias) {
    bias = register_parameter("bias", Tensor::empty({out_features}));
    init::bias_uniform_(bias, in_features, gen);
  }
}

Tensor Linear::forward(const Tensor& x) const {
  check(x.dim() >= 1 && x.size(-1) == in_, "Linear",
        "input " + shape_str(x.shape()) + " does not end in in_features=" + std::to_string(in_));
  return ag::linear(x, weight, bias);
}

}  // namespace ldae::nn
