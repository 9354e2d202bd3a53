#include "nn/adam.h"

#include <cmath>

#include "tensor/optim_update.h"

namespace ldae::nn {

Adam::Adam(NamedTensors params, const AdamOptions& options)
    : Adam(std::move(params), options, false) {}

Adam::Adam(NamedTensors params, const AdamOptions& options, bool decoupled)
    : Optimizer(std::move(params), options.lr), options_(options), decoupled_(decoupled) {
  const std::string op = decoupled ? "AdamW" : "Adam";
  check(options.beta1 >= 0 && options.beta1 < 1, op, "beta1 " + format_number(options.beta1) + " not in [0, 1)");
  check(options.beta2 >= 0 && options.beta2 < 1, op, "beta2 " + format_number(options.beta2) + " not in [0, 1)");
  check(options.eps >= 0, op, "negative eps " + format_number(options.eps));
  check(options.weight_decay >= 0, op, "negative weight decay " + format_number(options.weight_decay));
}

std::map<std::string, std::string> Adam::hyperparameters() const {
  return {{"lr", format_number(lr())},
          {"beta1", format_number(options_.beta1)},
          {"beta2", format_number(options_.beta2)},
          {"eps", format_number(options_.eps)},
          {"weight_decay", format_number(options_.weight_decay)}};
}

void Adam::update(Tensor& p, const Tensor& g, ParamState& state) {
  if (!state.slots.count("exp_avg")) {
    state.slots["exp_avg"] = Tensor::zeros(p.shape(), p.dtype(), p.device());
    state.slots["exp_avg_sq"] = Tensor::zeros(p.shape(), p.dtype(), p.device());
  }
  // The fused update op (tensor/optim_update.h) on the parameter's device; it computes
  // the bias corrections in double, as PyTorch does in Python.
  Tensor m = state.slots["exp_avg"], v = state.slots["exp_avg_sq"];
  adam_update(p, g, m, v, param_lr(), options_.beta1, options_.beta2, options_.eps, options_.weight_decay,
              decoupled_, state.step);
}

}  // namespace ldae::nn
