#include "nn/module.h"

#include <set>

#include "autograd/no_grad.h"
#include "tensor/cuda/runtime.h"  // cuda_available()

namespace ldae::nn {

std::string LoadReport::str() const {
  std::string s;
  for (const auto& k : missing) s += "missing key: " + k + "\n";
  for (const auto& k : unexpected) s += "unexpected key: " + k + "\n";
  for (const auto& k : mismatched) s += "shape mismatch: " + k + "\n";
  return s;
}

void Module::check_new_name(const std::string& name) const {
  check(!name.empty() && name.find('.') == std::string::npos, "Module",
        "invalid name \"" + name + "\" (empty or containing '.')");
  auto taken = [&](const auto& list) {
    for (const auto& [n, _] : list)
      if (n == name) return true;
    return false;
  };
  check(!taken(parameters_) && !taken(buffers_) && !taken(children_), "Module",
        "name \"" + name + "\" registered twice");
}

Tensor Module::register_parameter(const std::string& name, Tensor value) {
  check_new_name(name);
  check(value.defined(), "Module", "parameter \"" + name + "\" is undefined");
  value.set_requires_grad(true);
  parameters_.push_back({name, value});
  return value;
}

Tensor Module::register_buffer(const std::string& name, Tensor value) {
  check_new_name(name);
  check(value.defined(), "Module", "buffer \"" + name + "\" is undefined");
  buffers_.push_back({name, value});
  return value;
}

void Module::add_child(const std::string& name, std::shared_ptr<Module> child) {
  check_new_name(name);
  check(child != nullptr, "Module", "child \"" + name + "\" is null");
  children_.push_back({name, std::move(child)});
}

void Module::collect(const std::string& prefix, NamedTensors* params, NamedTensors* buffers) const {
  if (params)
    for (const auto& [n, t] : parameters_) params->push_back({prefix + n, t});
  if (buffers)
    for (const auto& [n, t] : buffers_) buffers->push_back({prefix + n, t});
  for (const auto& [n, child] : children_) child->collect(prefix + n + ".", params, buffers);
}

void Module::collect_ordered(const std::string& prefix, std::vector<StateEntry>* out) const {
  for (const auto& [n, t] : parameters_) out->push_back({prefix + n, t, false});
  for (const auto& [n, t] : buffers_) out->push_back({prefix + n, t, true});
  for (const auto& [n, child] : children_) child->collect_ordered(prefix + n + ".", out);
}

std::vector<Module::StateEntry> Module::ordered_state() const {
  std::vector<StateEntry> out;
  collect_ordered("", &out);
  return out;
}

NamedTensors Module::named_parameters() const {
  NamedTensors out;
  collect("", &out, nullptr);
  return out;
}

NamedTensors Module::named_buffers() const {
  NamedTensors out;
  collect("", nullptr, &out);
  return out;
}

std::vector<Tensor> Module::parameters() const {
  std::vector<Tensor> out;
  for (const auto& [_, t] : named_parameters()) out.push_back(t);
  return out;
}

std::vector<Tensor> Module::trainable_parameters() const {
  std::vector<Tensor> out;
  for (const auto& [_, t] : named_parameters())
    if (t.requires_grad()) out.push_back(t);
  return out;
}

int64_t Module::parameter_count() const {
  int64_t n = 0;
  for (const auto& [_, t] : named_parameters()) n += t.numel();
  return n;
}

void Module::train(bool on) {
  training_ = on;
  for (auto& [_, child] : children_) child->train(on);
}

void Module::set_requires_grad(bool requires) {
  for (auto& [_, t] : named_parameters()) t.set_requires_grad(requires);
}

void Module::zero_grad() {
  for (auto& [_, t] : named_parameters()) t.set_grad(Tensor());
}

void Module::to(DType dtype) {
  NoGrad no_grad;  // the conversion is not part of any graph
  NamedTensors all;
  collect("", &all, &all);
  for (auto& [name, t] : all) {
    if (t.dtype() == dtype) continue;
    // Build the converted tensor, then swap its storage, geometry and dtype into the
    // existing TensorImpl: every Tensor handle that shares this impl (the member of the
    // layer that registered it) sees the new values. requires_grad is kept.
    const Tensor converted = t.detach().to(dtype).contiguous();
    TensorImpl& impl = t.impl();
    impl.storage = converted.impl().storage;
    impl.shape = converted.shape();
    impl.strides = converted.strides();
    impl.offset = converted.offset();
    impl.dtype = dtype;
    impl.grad.reset();
  }
}

void Module::to(Device device) {
  if (device.is_cuda() && !cuda_available())
    fail("Module.to", "cannot move to " + device.str() + ": " + cuda_unavailable_reason());
  NoGrad no_grad;  // the move is not part of any graph
  NamedTensors all;
  collect("", &all, &all);
  for (auto& [name, t] : all) {
    if (t.device() == device) continue;
    // As to(DType): swap the moved storage into the existing TensorImpl, so that every
    // handle to the parameter sees it. Throws (naming the reason) if the device is unusable.
    const Tensor moved = t.detach().to(device);
    TensorImpl& impl = t.impl();
    impl.storage = moved.impl().storage;
    impl.shape = moved.shape();
    impl.strides = moved.strides();
    impl.offset = moved.offset();
    impl.grad.reset();
  }
}

std::map<std::string, Tensor> Module::state_dict() const {
  std::map<std::string, Tensor> out;
  NamedTensors all;
  collect("", &all, &all);
  for (const auto& [n, t] : all) out[n] = t;
  return out;
}

LoadReport Module::load_state_dict(const std::map<std::string, Tensor>& state, bool strict) {
  LoadReport report;
  const std::map<std::string, Tensor> own = state_dict();
  for (const auto& [name, target] : own) {
    auto it = state.find(name);
    if (it == state.end()) {
      report.missing.push_back(name);
    } else if (it->second.shape() != target.shape()) {
      report.mismatched.push_back(name + ": module " + shape_str(target.shape()) + " vs state " +
                                  shape_str(it->second.shape()));
    }
  }
  for (const auto& [name, _] : state)
    if (!own.count(name)) report.unexpected.push_back(name);
  if (strict && !report.ok()) fail("load_state_dict", "state does not match the module:\n" + report.str());

  NoGrad no_grad;  // copying into parameters is not part of any graph
  for (const auto& [name, target] : own) {
    auto it = state.find(name);
    if (it != state.end() && it->second.shape() == target.shape()) {
      Tensor dst = target;
      dst.copy_(it->second);
    }
  }
  return report;
}

}  // namespace ldae::nn
