// Differentiable average pooling and interpolation. Both are linear in x, so their
// backward needs only x's shape and the parameters, not x itself.
#include "autograd/functions.h"
#include "autograd/plain.h"

namespace ldae::ag {

Tensor avg_pool3d(const Tensor& x, const std::vector<int64_t>& kernel,
                  const std::vector<int64_t>& stride) {
  const Shape x_shape = x.shape();
  return record("avg_pool3d", plain([&] { return ldae::avg_pool3d(x, kernel, stride); }), {x},
                [x_shape, kernel, stride](const Tensor& g, const Needs&) {
                  return Grads{avg_pool3d_backward(g, x_shape, kernel, stride)};
                });
}

Tensor interpolate(const Tensor& x, const std::vector<double>& scale, const std::string& mode) {
  const Shape x_shape = x.shape();
  return record("interpolate", plain([&] { return ldae::interpolate(x, scale, mode); }), {x},
                [x_shape, scale, mode](const Tensor& g, const Needs&) {
                  return Grads{interpolate_backward(g, x_shape, scale, mode)};
                });
}

}  // namespace ldae::ag
