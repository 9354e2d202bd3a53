// Stochastic gradient descent with optional momentum, dampening, Nesterov momentum and
// weight decay: PyTorch's torch.optim.SGD (1.13), update rule in nn/optim_math.h.
#pragma once
#include "nn/optimizer.h"

namespace ldae::nn {

struct SgdOptions {
  double lr = 1e-3;
  double momentum = 0.0;
  double dampening = 0.0;
  double weight_decay = 0.0;  // L2 penalty added to the gradient
  bool nesterov = false;      // requires momentum > 0 and dampening == 0 (as PyTorch)
};

class SGD : public Optimizer {
 public:
  SGD(NamedTensors params, const SgdOptions& options);
  std::string name() const override { return "SGD"; }
  // "momentum_buffer" when momentum != 0, else nothing.
  std::vector<std::string> slot_names() const override;
  std::map<std::string, std::string> hyperparameters() const override;
  const SgdOptions& options() const { return options_; }

 protected:
  void update(Tensor& p, const Tensor& g, ParamState& state) override;

 private:
  SgdOptions options_;
};

}  // namespace ldae::nn
