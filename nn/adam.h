// Adam and AdamW: PyTorch's torch.optim.Adam and torch.optim.AdamW (1.13, amsgrad off),
// update rule in nn/optim_math.h. They differ only in weight decay: Adam adds
// weight_decay * p to the gradient (an L2 penalty that then passes through the adaptive
// scaling); AdamW shrinks the parameter directly, p *= 1 - lr * weight_decay.
// State per parameter: "exp_avg" (m) and "exp_avg_sq" (v), plus the step count.
#pragma once
#include "nn/optimizer.h"

namespace ldae::nn {

struct AdamOptions {
  double lr = 1e-3;
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.0;  // PyTorch's defaults: 0 for Adam, 1e-2 for AdamW
};

class Adam : public Optimizer {
 public:
  Adam(NamedTensors params, const AdamOptions& options);
  std::string name() const override { return decoupled_ ? "AdamW" : "Adam"; }
  std::vector<std::string> slot_names() const override { return {"exp_avg", "exp_avg_sq"}; }
  std::map<std::string, std::string> hyperparameters() const override;
  const AdamOptions& options() const { return options_; }

 protected:
  Adam(NamedTensors params, const AdamOptions& options, bool decoupled);
  void update(Tensor& p, const Tensor& g, ParamState& state) override;

 private:
  AdamOptions options_;
  bool decoupled_;
};

// AdamW: Adam with decoupled weight decay. Note that PyTorch's AdamW default weight
// decay is 1e-2; AdamOptions' default is 0, so set it explicitly.
class AdamW : public Adam {
 public:
  AdamW(NamedTensors params, const AdamOptions& options) : Adam(std::move(params), options, true) {}
};

}  // namespace ldae::nn
