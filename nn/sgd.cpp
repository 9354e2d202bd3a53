#include "nn/sgd.h"

#include <sstream>

#include "nn/optim_math.h"

namespace ldae::nn {

namespace {

// p, g, buf: contiguous, n elements each (buf null without momentum).
template <typename T>
void sgd_loop(T* p, const T* g, T* buf, int64_t n, const optim_math::SgdRule& rule) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) rule(p[i], g[i], buf ? buf + i : nullptr);
}

std::string num(double v) {
  std::ostringstream os;
  os.precision(17);
  os << v;
  return os.str();
}

}  // namespace

SGD::SGD(NamedTensors params, const SgdOptions& options)
    : Optimizer(std::move(params), options.lr), options_(options) {
  check(options.momentum >= 0, "SGD", "negative momentum " + num(options.momentum));
  check(options.weight_decay >= 0, "SGD", "negative weight decay " + num(options.weight_decay));
  check(!options.nesterov || (options.momentum > 0 && options.dampening == 0), "SGD",
        "Nesterov momentum requires momentum > 0 and dampening 0");
}

std::vector<std::string> SGD::slot_names() const {
  if (options_.momentum != 0) return {"momentum_buffer"};
  return {};
}

std::map<std::string, std::string> SGD::hyperparameters() const {
  return {{"lr", num(lr())},
          {"momentum", num(options_.momentum)},
          {"dampening", num(options_.dampening)},
          {"weight_decay", num(options_.weight_decay)},
          {"nesterov", options_.nesterov ? "true" : "false"}};
}

void SGD::update(Tensor& p, const Tensor& g, ParamState& state) {
  const optim_math::SgdRule rule{lr(), options_.momentum, options_.dampening, options_.weight_decay,
                                 options_.nesterov, state.step == 1};
  Tensor buf;
  if (options_.momentum != 0) {
    if (!state.slots.count("momentum_buffer"))
      state.slots["momentum_buffer"] = Tensor::zeros(p.shape(), p.dtype(), p.device());
    buf = state.slots["momentum_buffer"];
  }
  LDAE_DISPATCH(p.dtype(), T, {
    sgd_loop<T>(p.data<T>(), g.data<T>(), buf.defined() ? buf.data<T>() : nullptr, p.numel(), rule);
  });
}

}  // namespace ldae::nn
