// Differentiable softmax and log-softmax (the fused backward kernels are in tensor/).
#include "autograd/functions.h"
#include "autograd/plain.h"

namespace ldae::ag {

Tensor softmax(const Tensor& a, int64_t dim) {
  Tensor y = plain([&] { return ldae::softmax(a, dim); });
  SavedTensor sy(y, "softmax");
  return record("softmax", y, {a}, [sy, dim](const Tensor& g, const Needs&) {
    return Grads{softmax_backward(sy.get(), g, dim)};
  });
}

Tensor log_softmax(const Tensor& a, int64_t dim) {
  Tensor y = plain([&] { return ldae::log_softmax(a, dim); });
  SavedTensor sy(y, "log_softmax");
  return record("log_softmax", y, {a}, [sy, dim](const Tensor& g, const Needs&) {
    return Grads{log_softmax_backward(sy.get(), g, dim)};
  });
}

}  // namespace ldae::ag
