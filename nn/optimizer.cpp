#include "nn/optimizer.h"

#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <set>

#include "autograd/no_grad.h"

namespace ldae::nn {

Optimizer::Optimizer(NamedTensors params, double lr) : params_(std::move(params)), lr_(lr) {
  check(lr >= 0, "Optimizer", "negative learning rate " + std::to_string(lr));
  std::set<std::string> seen;
  for (const auto& [name, p] : params_) {
    check(!name.empty(), "Optimizer", "a parameter has an empty name");
    check(seen.insert(name).second, "Optimizer", "parameter \"" + name + "\" listed twice");
    check(p.defined(), "Optimizer", "parameter \"" + name + "\" is undefined");
    check(p.is_contiguous(), "Optimizer", "parameter \"" + name + "\" is not contiguous");
  }
  state_.resize(params_.size());
  lr_factor_.assign(params_.size(), 1.0);
}

int64_t Optimizer::set_lr_factor(const std::string& prefix, double factor) {
  check(factor >= 0 && std::isfinite(factor), name() + ".set_lr_factor",
        "invalid factor " + std::to_string(factor) + " for \"" + prefix + "\"");
  int64_t matched = 0;
  for (size_t i = 0; i < params_.size(); ++i)
    if (params_[i].first.compare(0, prefix.size(), prefix) == 0) {
      lr_factor_[i] = factor;
      ++matched;
    }
  check(matched > 0, name() + ".set_lr_factor", "no parameter name starts with \"" + prefix + "\"");
  return matched;
}

void Optimizer::set_lr(double lr) {
  check(lr >= 0 && std::isfinite(lr), name() + ".set_lr", "invalid learning rate " + std::to_string(lr));
  lr_ = lr;
}

void Optimizer::step() {
  NoGrad no_grad;  // an update is not part of any graph
  for (size_t i = 0; i < params_.size(); ++i) {
    Tensor& p = params_[i].second;
    Tensor g = p.grad();
    if (!g.defined()) continue;  // frozen or unused this step
    check(g.shape() == p.shape() && g.dtype() == p.dtype(), name() + ".step",
          "gradient of \"" + params_[i].first + "\" is " + shape_str(g.shape()) + " " +
              dtype_name(g.dtype()) + " but the parameter is " + shape_str(p.shape()) + " " +
              dtype_name(p.dtype()));
    g = g.contiguous();
    state_[i].step += 1;
    param_lr_ = lr_ * lr_factor_[i];
    update(p, g, state_[i]);
    mark_modified(p);
  }
}

void Optimizer::zero_grad() {
  for (auto& [_, p] : params_) p.set_grad(Tensor());
}

std::map<std::string, Tensor> Optimizer::state_dict() const {
  std::map<std::string, Tensor> out;
  for (size_t i = 0; i < params_.size(); ++i) {
    const ParamState& s = state_[i];
    if (s.step == 0) continue;  // no state yet
    out[params_[i].first + ".step"] = Tensor::scalar(static_cast<double>(s.step), DType::F64);
    for (const auto& [slot, t] : s.slots) out[params_[i].first + "." + slot] = t;
  }
  return out;
}

std::vector<std::string> Optimizer::check_state_dict(const std::map<std::string, Tensor>& state) const {
  std::vector<std::string> problems;
  std::map<std::string, size_t> index;
  for (size_t i = 0; i < params_.size(); ++i) index[params_[i].first] = i;
  const std::vector<std::string> slots = slot_names();
  const std::set<std::string> known_slots(slots.begin(), slots.end());

  std::vector<std::set<std::string>> present(params_.size());
  for (const auto& [key, t] : state) {
    const size_t dot = key.rfind('.');
    const std::string pname = dot == std::string::npos ? "" : key.substr(0, dot);
    const std::string slot = dot == std::string::npos ? key : key.substr(dot + 1);
    auto it = index.find(pname);
    if (it == index.end() || (slot != "step" && !known_slots.count(slot))) {
      problems.push_back("unexpected key: " + key);
      continue;
    }
    const Tensor& p = params_[it->second].second;
    if (slot == "step") {
      const double v = t.numel() == 1 ? t.to_vector()[0] : -1.0;
      if (t.numel() != 1 || !(v >= 1) || v != std::floor(v))
        problems.push_back("bad step: " + key + " must hold one positive integer");
    } else if (t.shape() != p.shape()) {
      problems.push_back("shape mismatch: " + key + ": parameter " + shape_str(p.shape()) +
                         " vs state " + shape_str(t.shape()));
    }
    present[it->second].insert(slot);
  }
  // A parameter has all of its entries (it was updated) or none (it was not).
  for (size_t i = 0; i < params_.size(); ++i) {
    if (present[i].empty()) continue;
    if (!present[i].count("step")) problems.push_back("missing key: " + params_[i].first + ".step");
    for (const auto& slot : slots)
      if (!present[i].count(slot)) problems.push_back("missing key: " + params_[i].first + "." + slot);
  }
  return problems;
}

void Optimizer::load_state_dict(const std::map<std::string, Tensor>& state) {
  const std::vector<std::string> problems = check_state_dict(state);
  if (!problems.empty()) {
    std::string msg = "state does not match the optimizer:";
    for (const auto& p : problems) msg += "\n  " + p;
    fail(name() + ".load_state_dict", msg);
  }
  NoGrad no_grad;
  std::vector<ParamState> fresh(params_.size());
  for (size_t i = 0; i < params_.size(); ++i) {
    const std::string& pname = params_[i].first;
    auto it = state.find(pname + ".step");
    if (it == state.end()) continue;
    fresh[i].step = static_cast<int64_t>(it->second.to_vector()[0]);
    for (const auto& slot : slot_names()) {
      const Tensor& p = params_[i].second;
      Tensor copy = Tensor::empty(p.shape(), p.dtype(), p.device());
      copy.copy_(state.at(pname + "." + slot));  // converts the dtype if needed
      fresh[i].slots[slot] = copy;
    }
  }
  state_ = std::move(fresh);
}

NamedTensors name_parameters(const std::vector<Tensor>& params) {
  NamedTensors out;
  for (size_t i = 0; i < params.size(); ++i) out.push_back({std::to_string(i), params[i]});
  return out;
}

NamedTensors named_trainable_parameters(const Module& module) {
  NamedTensors out;
  for (const auto& [name, p] : module.named_parameters())
    if (p.requires_grad()) out.push_back({name, p});
  return out;
}

std::string format_number(double v) {
  char buf[32];
  for (int precision = 6; precision <= 17; ++precision) {
    std::snprintf(buf, sizeof buf, "%.*g", precision, v);
    if (std::strtod(buf, nullptr) == v) break;
  }
  return buf;
}

void mark_modified(const Tensor& t) { t.storage()->bump_version(); }

}  // namespace ldae::nn
