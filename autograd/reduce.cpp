// Differentiable reductions: the gradient of a sum is the upstream gradient spread
// (broadcast) back over the reduced axes.
#include "autograd/functions.h"
#include "autograd/plain.h"

namespace ldae::ag {

namespace {

// The shape of a reduction's result with keepdim = true, so that a gradient of that
// shape broadcasts against the input.
Shape kept_shape(const Shape& in, const std::vector<int64_t>& dims) {
  Shape s = in;
  if (dims.empty()) return Shape(in.size(), 1);
  for (int64_t d : dims) s[normalize_axis(d, static_cast<int64_t>(in.size()), "reduce")] = 1;
  return s;
}

}  // namespace

Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  const Shape in = a.shape(), kept = kept_shape(a.shape(), dims);
  return record("sum", plain([&] { return ldae::sum(a, dims, keepdim); }), {a},
                [in, kept](const Tensor& g, const Needs&) {
                  return Grads{g.reshape(kept).expand(in).contiguous()};
                });
}

Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  const Shape in = a.shape(), kept = kept_shape(a.shape(), dims);
  const double count = static_cast<double>(a.numel()) / static_cast<double>(std::max<int64_t>(1, numel(kept)));
  return record("mean", plain([&] { return ldae::mean(a, dims, keepdim); }), {a},
                [in, kept, count](const Tensor& g, const Needs&) {
                  return Grads{ldae::mul_scalar(g.reshape(kept), 1.0 / count).expand(in).contiguous()};
                });
}

Tensor logsumexp(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  const Shape kept = kept_shape(a.shape(), dims);
  Tensor y = plain([&] { return ldae::logsumexp(a, dims, keepdim); });
  SavedTensor sa(a, "logsumexp"), sy(y, "logsumexp");
  return record("logsumexp", y, {a}, [sa, sy, kept](const Tensor& g, const Needs&) {
    // d/dx log sum exp(x) = softmax(x) = exp(x - y)
    const Tensor p = ldae::exp(ldae::sub(sa.get(), sy.get().reshape(kept)));
    return Grads{ldae::mul(p, g.reshape(kept))};
  });
}

}  // namespace ldae::ag
