// Optimizer: the base of SGD, Adam and AdamW (nn/sgd.h, nn/adam.h). An optimizer holds
// a list of named parameters, the learning rate, and per-parameter state (the step count
// and slots such as "exp_avg"); step() updates every parameter that has a gradient.
//
// The state is exposed as named tensors so that checkpoints can save it and an
// interrupted run can continue exactly:
//   "<param name>.step"   a 0-d F64 tensor: how many updates this parameter received
//   "<param name>.<slot>" a tensor of the parameter's shape and dtype
// A parameter's state exists only after its first update (PyTorch creates it lazily too).
#pragma once
#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/tensor.h"

namespace ldae::nn {

class Optimizer {
 public:
  // Requires: parameter names unique and non-empty, tensors defined, contiguous and on
  // the CPU; lr >= 0. Pass module.named_parameters(), or
  // named_trainable_parameters(module) to leave frozen parameters out.
  Optimizer(NamedTensors params, double lr);
  virtual ~Optimizer() = default;
  Optimizer(const Optimizer&) = delete;
  Optimizer& operator=(const Optimizer&) = delete;

  // One update of every parameter whose grad() is defined (the others, e.g. frozen or
  // unused this step, are skipped and keep their state). Runs under NoGrad.
  void step();
  // Clears the gradient of every parameter.
  void zero_grad();

  double lr() const { return lr_; }
  // Changes the learning rate (for schedules: call before step()).
  void set_lr(double lr);
  // A learning-rate factor for some parameters (PyTorch's parameter groups in their simplest
  // form): every parameter whose name starts with `prefix` is updated with lr() * factor from
  // now on (a schedule's set_lr keeps the factor). Returns how many parameters matched.
  // Throws ldae::Error when none does or the factor is negative or not finite.
  int64_t set_lr_factor(const std::string& prefix, double factor);
  // "SGD", "Adam" or "AdamW"; stored in checkpoints and checked when loading.
  virtual std::string name() const = 0;
  // The slot names a parameter's state holds ("exp_avg", ...).
  virtual std::vector<std::string> slot_names() const = 0;
  // The hyperparameters, for logs and checkpoint metadata ("lr" -> "0.001", ...).
  virtual std::map<std::string, std::string> hyperparameters() const = 0;

  const NamedTensors& params() const { return params_; }

  // The state as named tensors (see the header comment). The tensors are the live
  // state (not copies): write them to a file before the next step.
  std::map<std::string, Tensor> state_dict() const;
  // Problems that load_state_dict(state) would refuse, one per line; empty when it
  // would succeed. Lets a checkpoint validate every part before changing anything.
  std::vector<std::string> check_state_dict(const std::map<std::string, Tensor>& state) const;
  // Replaces the state by copies of `state`. Every key must name a parameter and one of
  // its slots (or "step") with the parameter's shape; a parameter must have all of its
  // entries or none. Throws ldae::Error("<name>.load_state_dict: ...") listing every
  // problem (and changes nothing) otherwise.
  void load_state_dict(const std::map<std::string, Tensor>& state);

 protected:
  // The state of one parameter.
  struct ParamState {
    int64_t step = 0;                     // updates so far (0: no state yet)
    std::map<std::string, Tensor> slots;  // created by update() on the first step
  };
  // Updates one parameter `p` given its gradient `g` (contiguous, same shape and dtype)
  // and its state; state.step has already been incremented for this update. Called
  // under NoGrad; writes p in place.
  virtual void update(Tensor& p, const Tensor& g, ParamState& state) = 0;
  // The learning rate of the parameter update() is updating: lr() times its factor.
  double param_lr() const { return param_lr_; }

 private:
  NamedTensors params_;
  std::vector<ParamState> state_;  // parallel to params_
  std::vector<double> lr_factor_;  // parallel to params_, 1 unless set_lr_factor says otherwise
  double lr_;
  double param_lr_ = 0;  // lr_ * lr_factor_ of the parameter being updated
};

// Names a plain list of parameters "0", "1", ... (for optimizers of loose tensors).
NamedTensors name_parameters(const std::vector<Tensor>& params);
// The parameters of `module` that require grad (not frozen), with their dotted names.
NamedTensors named_trainable_parameters(const Module& module);

// The shortest decimal text that reads back as exactly `v` ("0.99", "1e-08"), for
// hyperparameters in logs and checkpoint metadata.
std::string format_number(double v);

// Helpers for the update kernels: the in-place writes bump the storage version so that
// autograd notices a parameter changed after it was saved for a backward pass.
void mark_modified(const Tensor& t);

}  // namespace ldae::nn
