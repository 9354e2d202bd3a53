#include "nn/init.h"

#include <cmath>

#include "autograd/no_grad.h"

namespace ldae::nn::init {

namespace {
thread_local int skip_depth = 0;  // live SkipInitialisation objects on this thread
}  // namespace

SkipInitialisation::SkipInitialisation() { ++skip_depth; }
SkipInitialisation::~SkipInitialisation() { --skip_depth; }
bool initialisation_skipped() { return skip_depth > 0; }

int64_t fan_in(const Shape& shape) {
  check(shape.size() >= 2, "init.fan_in", "needs a weight with at least 2 axes, got " + shape_str(shape));
  int64_t receptive = 1;  // product of the kernel sizes (1 for a Linear weight)
  for (size_t i = 2; i < shape.size(); ++i) receptive *= shape[i];
  return shape[1] * receptive;
}

int64_t fan_out(const Shape& shape) {
  check(shape.size() >= 2, "init.fan_out", "needs a weight with at least 2 axes, got " + shape_str(shape));
  int64_t receptive = 1;
  for (size_t i = 2; i < shape.size(); ++i) receptive *= shape[i];
  return shape[0] * receptive;
}

void uniform_(Tensor& t, double low, double high, Generator& gen) {
  if (initialisation_skipped()) return;
  NoGrad no_grad;  // filling a parameter is not part of any graph
  t.copy_(rand(t.shape(), gen, t.dtype(), low, high));
}

void normal_(Tensor& t, double mean, double stddev, Generator& gen) {
  if (initialisation_skipped()) return;
  NoGrad no_grad;
  t.copy_(randn(t.shape(), gen, t.dtype(), mean, stddev));
}

void kaiming_uniform_(Tensor& w, Generator& gen, double a) {
  const double gain = std::sqrt(2.0 / (1.0 + a * a));
  const double bound = gain * std::sqrt(3.0 / static_cast<double>(fan_in(w.shape())));
  uniform_(w, -bound, bound, gen);
}

void xavier_uniform_(Tensor& w, Generator& gen, double gain) {
  const double fans = static_cast<double>(fan_in(w.shape()) + fan_out(w.shape()));
  const double bound = gain * std::sqrt(6.0 / fans);
  uniform_(w, -bound, bound, gen);
}

void bias_uniform_(Tensor& b, int64_t weight_fan_in, Generator& gen) {
  const double bound = weight_fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(weight_fan_in)) : 0.0;
  uniform_(b, -bound, bound, gen);
}

void trunc_normal_(Tensor& t, Generator& gen, double mean, double std, double a, double b) {
  check(std > 0.0 && a < b, "init.trunc_normal_", "needs std > 0 and a < b");
  check(mean >= a - 5.0 * std && mean <= b + 5.0 * std, "init.trunc_normal_",
        "the interval [a, b] is too far in the tail of the normal for rejection sampling");
  if (initialisation_skipped()) return;
  NoGrad no_grad;
  const int64_t n = t.numel();
  Tensor values = randn({n}, gen, DType::F64, mean, std);
  double* v = values.mutable_data<double>();
  for (;;) {
    bool outside = false;
    for (int64_t i = 0; i < n && !outside; ++i) outside = v[i] < a || v[i] > b;
    if (!outside) break;
    const Tensor fresh = randn({n}, gen, DType::F64, mean, std);
    const double* f = fresh.data<double>();
    for (int64_t i = 0; i < n; ++i)
      if (v[i] < a || v[i] > b) v[i] = f[i];
  }
  t.copy_(values.reshape(t.shape()).to(t.dtype()).to(t.device()));
}

void zeros_(Tensor& t) {
  if (initialisation_skipped()) return;
  NoGrad no_grad;
  t.fill_(0.0);
}

void ones_(Tensor& t) {
  if (initialisation_skipped()) return;
  NoGrad no_grad;
  t.fill_(1.0);
}

}  // namespace ldae::nn::init
