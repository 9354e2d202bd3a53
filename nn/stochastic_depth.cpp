#include "nn/stochastic_depth.h"

#include <string>

#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "tensor/error.h"
#include "tensor/ops.h"

namespace ldae::nn {

namespace {

void check_p(double p, const char* where) {
  check(p >= 0.0 && p <= 1.0, where,
        "drop probability p must be in [0, 1], got " + std::to_string(p));
}

}  // namespace

Tensor stochastic_depth_with_mask(const Tensor& x, const Tensor& keep, double p) {
  check_p(p, "stochastic_depth");
  check(x.dim() >= 1, "stochastic_depth", "x needs a batch axis, got a 0-d tensor");
  check(keep.dim() == 1 && keep.shape()[0] == x.shape()[0], "stochastic_depth",
        "keep mask must have shape (" + std::to_string(x.shape()[0]) + "), got " +
            shape_str(keep.shape()));
  Tensor scaled;
  {
    NoGrad no_grad;  // the mask is a constant of the graph
    // 1/(1-p) on kept samples; torchvision does not rescale when p == 1 (everything is zero).
    const double scale = p < 1.0 ? 1.0 / (1.0 - p) : 1.0;
    Shape shape(static_cast<size_t>(x.dim()), 1);
    shape[0] = x.shape()[0];
    scaled = mul_scalar(keep.to(x.dtype()), scale).reshape(shape).to(x.device());
  }
  return ag::mul(x, scaled);  // broadcast over the non-batch axes
}

Tensor stochastic_depth_mask(int64_t n, double p, DType dtype, Generator& gen) {
  check_p(p, "stochastic_depth");
  NoGrad no_grad;
  Tensor u = rand({n}, gen, DType::F64);  // (0, 1], advances gen by n
  std::vector<double> keep(static_cast<size_t>(n));
  const double* d = u.data<double>();
  for (int64_t i = 0; i < n; ++i) keep[static_cast<size_t>(i)] = d[i] > p ? 1.0 : 0.0;
  return Tensor::from_vector(keep, {n}, dtype);
}

Tensor stochastic_depth(const Tensor& x, double p, bool training, Generator& gen) {
  check_p(p, "stochastic_depth");
  if (!training || p == 0.0) return x;
  check(x.dim() >= 1, "stochastic_depth", "x needs a batch axis, got a 0-d tensor");
  return stochastic_depth_with_mask(x, stochastic_depth_mask(x.shape()[0], p, x.dtype(), gen), p);
}

StochasticDepth::StochasticDepth(double p, std::shared_ptr<Generator> gen)
    : p_(p), gen_(std::move(gen)) {
  check_p(p, "StochasticDepth");
  check(p == 0.0 || gen_ != nullptr, "StochasticDepth", "p > 0 needs a random generator");
}

Tensor StochasticDepth::forward(const Tensor& x) const {
  if (!is_training() || p_ == 0.0) return x;
  return stochastic_depth(x, p_, true, *gen_);
}

}  // namespace ldae::nn
