// Exponential moving average (EMA) of a model's parameters and buffers. Diffusion models
// are sampled with the EMA weights, which are much smoother than the raw weights of the
// last step. Call update() once per optimizer step (not per micro-batch: the reference
// updates per batch under gradient accumulation, ldae-reference 10.1 item 6):
//
//   d      = decay                                   (warmup off, the reference)
//          = min(decay, (1 + t) / (10 + t))          (warmup on; t = this update's number,
//                                                     1, 2, ...: d = 0.18, 0.25, 0.31, ...)
//   shadow = shadow + (1 - d) * (value - shadow)     (= d * shadow + (1 - d) * value)
//
// The second form leaves an entry that does not change (a frozen parameter) exactly
// as it is. The shadow starts as a copy of the model. With average_buffers off, buffers are
// copied at every update instead (shadow = value).
#pragma once
#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "nn/module.h"

namespace ldae::nn {

struct EmaOptions {
  double decay = 0.999;  // the reference's stage 2 and 3 value
  bool warmup = false;   // see the formula above
  // true: buffers are averaged like parameters; false: update() copies them (running
  // statistics that describe the current codes, such as ldae/code_norm.h's).
  bool average_buffers = true;
};

class Ema {
 public:
  // Copies every parameter and buffer of `model` (by dotted name) as the initial shadow.
  Ema(const Module& model, const EmaOptions& options = {});

  // One EMA step towards the current values of `model`, which must have the same names
  // and shapes as at construction. Runs under NoGrad.
  void update(const Module& model);
  // Copies the averaged values into `model` (e.g. a second instance used for sampling).
  void copy_to(Module& model) const;
  // The decay the next update() will use.
  double next_decay() const;

  int64_t num_updates() const { return num_updates_; }
  const EmaOptions& options() const { return options_; }
  // The shadow values by dotted name (live tensors, not copies).
  const std::map<std::string, Tensor>& state_dict() const { return shadow_; }
  // Problems that load_state_dict would refuse (missing / unexpected / mis-shaped keys,
  // one per line); empty when it would succeed.
  std::vector<std::string> check_state_dict(const std::map<std::string, Tensor>& state) const;
  // Replaces the shadow by copies of `state` (same names and shapes) and the update
  // count by `num_updates`. Throws ldae::Error("Ema.load_state_dict: ...") listing every
  // problem, changing nothing, otherwise.
  void load_state_dict(const std::map<std::string, Tensor>& state, int64_t num_updates);

 private:
  EmaOptions options_;
  std::map<std::string, Tensor> shadow_;
  std::set<std::string> buffers_;  // names of the model's buffers
  int64_t num_updates_ = 0;
};

}  // namespace ldae::nn
