#include "nn/adam.h"

#include <cmath>
#include <sstream>

#include "nn/optim_math.h"

namespace ldae::nn {

namespace {

// p, g, m, v: contiguous, n elements each.
template <typename T>
void adam_loop(T* p, const T* g, T* m, T* v, int64_t n, const optim_math::AdamRule& rule) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) rule(p[i], g[i], m[i], v[i]);
}

std::string num(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

}  // namespace

Adam::Adam(NamedTensors params, const AdamOptions& options)
    : Adam(std::move(params), options, false) {}

Adam::Adam(NamedTensors params, const AdamOptions& options, bool decoupled)
    : Optimizer(std::move(params), options.lr), options_(options), decoupled_(decoupled) {
  const std::string op = decoupled ? "AdamW" : "Adam";
  check(options.beta1 >= 0 && options.beta1 < 1, op, "beta1 " + num(options.beta1) + " not in [0, 1)");
  check(options.beta2 >= 0 && options.beta2 < 1, op, "beta2 " + num(options.beta2) + " not in [0, 1)");
  check(options.eps >= 0, op, "negative eps " + num(options.eps));
  check(options.weight_decay >= 0, op, "negative weight decay " + num(options.weight_decay));
}

std::map<std::string, std::string> Adam::hyperparameters() const {
  return {{"lr", num(lr())},
          {"beta1", num(options_.beta1)},
          {"beta2", num(options_.beta2)},
          {"eps", num(options_.eps)},
          {"weight_decay", num(options_.weight_decay)}};
}

void Adam::update(Tensor& p, const Tensor& g, ParamState& state) {
  if (!state.slots.count("exp_avg")) {
    state.slots["exp_avg"] = Tensor::zeros(p.shape(), p.dtype(), p.device());
    state.slots["exp_avg_sq"] = Tensor::zeros(p.shape(), p.dtype(), p.device());
  }
  // Bias corrections in double, as PyTorch computes them in Python.
  const double t = static_cast<double>(state.step);
  const double bc1 = 1.0 - std::pow(options_.beta1, t);
  const double bc2 = 1.0 - std::pow(options_.beta2, t);
  const optim_math::AdamRule rule{options_.beta1, options_.beta2, options_.eps, options_.weight_decay,
                                  decoupled_,     lr(),           lr() / bc1,   std::sqrt(bc2)};
  Tensor m = state.slots["exp_avg"], v = state.slots["exp_avg_sq"];
  LDAE_DISPATCH(p.dtype(), T, {
    adam_loop<T>(p.data<T>(), g.data<T>(), m.data<T>(), v.data<T>(), p.numel(), rule);
  });
}

}  // namespace ldae::nn
