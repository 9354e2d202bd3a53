#include "nn/sgd.h"


#include "tensor/optim_update.h"

namespace ldae::nn {

SGD::SGD(NamedTensors params, const SgdOptions& options)
    : Optimizer(std::move(params), options.lr), options_(options) {
  check(options.momentum >= 0, "SGD", "negative momentum " + format_number(options.momentum));
  check(options.weight_decay >= 0, "SGD", "negative weight decay " + format_number(options.weight_decay));
  check(!options.nesterov || (options.momentum > 0 && options.dampening == 0), "SGD",
        "Nesterov momentum requires momentum > 0 and dampening 0");
}

std::vector<std::string> SGD::slot_names() const {
  if (options_.momentum != 0) return {"momentum_buffer"};
  return {};
}

std::map<std::string, std::string> SGD::hyperparameters() const {
  return {{"lr", format_number(lr())},
          {"momentum", format_number(options_.momentum)},
          {"dampening", format_number(options_.dampening)},
          {"weight_decay", format_number(options_.weight_decay)},
          {"nesterov", options_.nesterov ? "true" : "false"}};
}

void SGD::update(Tensor& p, const Tensor& g, ParamState& state) {
  Tensor buf;
  if (options_.momentum != 0) {
    if (!state.slots.count("momentum_buffer"))
      state.slots["momentum_buffer"] = Tensor::zeros(p.shape(), p.dtype(), p.device());
    buf = state.slots["momentum_buffer"];
  }
  // The fused update op (tensor/optim_update.h) on the parameter's device.
  sgd_update(p, g, buf, param_lr(), options_.momentum, options_.dampening, options_.weight_decay,
             options_.nesterov, state.step == 1);
}

}  // namespace ldae::nn
