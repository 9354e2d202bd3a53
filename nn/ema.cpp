#include "nn/ema.h"

#include <algorithm>

#include "autograd/no_grad.h"
#include "nn/optimizer.h"
#include "tensor/ops.h"

namespace ldae::nn {

namespace {

template <typename T>
void ema_loop(T* shadow, const T* value, int64_t n, T one_minus_decay) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) shadow[i] = shadow[i] + one_minus_decay * (value[i] - shadow[i]);
}

// Problems between a reference set of named tensors and `state`, one per line.
std::vector<std::string> compare_keys(const std::map<std::string, Tensor>& own,
                                      const std::map<std::string, Tensor>& state,
                                      const std::string& own_label) {
  std::vector<std::string> problems;
  for (const auto& [name, t] : own) {
    auto it = state.find(name);
    if (it == state.end())
      problems.push_back("missing key: " + name);
    else if (it->second.shape() != t.shape())
      problems.push_back("shape mismatch: " + name + ": " + own_label + " " + shape_str(t.shape()) +
                         " vs state " + shape_str(it->second.shape()));
  }
  for (const auto& [name, _] : state)
    if (!own.count(name)) problems.push_back("unexpected key: " + name);
  return problems;
}

}  // namespace

Ema::Ema(const Module& model, const EmaOptions& options) : options_(options) {
  check(options.decay >= 0 && options.decay <= 1, "Ema",
        "decay " + std::to_string(options.decay) + " not in [0, 1]");
  NoGrad no_grad;
  for (const auto& [name, t] : model.state_dict()) {
    shadow_[name] = t.detach().clone();
  }
  for (const auto& [name, t] : model.named_buffers()) buffers_.insert(name);
}

double Ema::next_decay() const {
  if (!options_.warmup) return options_.decay;
  const double t = static_cast<double>(num_updates_ + 1);
  return std::min(options_.decay, (1.0 + t) / (10.0 + t));
}

void Ema::update(const Module& model) {
  const std::map<std::string, Tensor> values = model.state_dict();
  const std::vector<std::string> problems = compare_keys(shadow_, values, "EMA");
  if (!problems.empty()) {
    std::string msg = "the model does not match the EMA it was built from:";
    for (const auto& p : problems) msg += "\n  " + p;
    fail("Ema.update", msg);
  }
  const double d = next_decay();
  NoGrad no_grad;
  for (auto& [name, s] : shadow_) {
    const Tensor v = values.at(name).detach().contiguous().to(s.dtype()).to(s.device());
    if (!options_.average_buffers && buffers_.count(name)) {
      s.copy_(v);
    } else if (s.device().is_cuda()) {  // the same s + T(1 - d) (v - s), through the elementwise ops
      s.copy_(add_scaled(s, sub(v, s), 1.0 - d));
    } else {
      LDAE_DISPATCH(s.dtype(), T, { ema_loop<T>(s.mutable_data<T>(), v.data<T>(), s.numel(), static_cast<T>(1.0 - d)); });
    }
    mark_modified(s);
  }
  num_updates_ += 1;
}

void Ema::copy_to(Module& model) const { model.load_state_dict(shadow_, /*strict=*/true); }

std::vector<std::string> Ema::check_state_dict(const std::map<std::string, Tensor>& state) const {
  return compare_keys(shadow_, state, "EMA");
}

void Ema::load_state_dict(const std::map<std::string, Tensor>& state, int64_t num_updates) {
  std::vector<std::string> problems = check_state_dict(state);
  if (num_updates < 0) problems.push_back("negative update count " + std::to_string(num_updates));
  if (!problems.empty()) {
    std::string msg = "state does not match the EMA:";
    for (const auto& p : problems) msg += "\n  " + p;
    fail("Ema.load_state_dict", msg);
  }
  NoGrad no_grad;
  for (auto& [name, s] : shadow_) {
    s.copy_(state.at(name));
    mark_modified(s);
  }
  num_updates_ = num_updates;
}

}  // namespace ldae::nn
