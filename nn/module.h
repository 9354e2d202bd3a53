// Module: the base of every layer and network. A module owns named parameters
// (trainable tensors), named buffers (state that is saved but not trained, e.g. running
// statistics) and named child modules. The dotted path of a parameter in this tree
// ("decoder.up.1.block.0.conv1.weight") is its key in checkpoints.
//
// A concrete module registers everything in its constructor and defines its own
// forward(...) (not virtual: each module takes the arguments it needs).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "tensor/tensor.h"

namespace ldae::nn {

using NamedTensors = std::vector<std::pair<std::string, Tensor>>;

// What load_state_dict found, besides the keys it loaded.
struct LoadReport {
  std::vector<std::string> missing;     // in the module, not in the state dict
  std::vector<std::string> unexpected;  // in the state dict, not in the module
  std::vector<std::string> mismatched;  // "key: module (3, 4) vs file (4, 3)"
  bool ok() const { return missing.empty() && unexpected.empty() && mismatched.empty(); }
  std::string str() const;  // one line per problem
};

class Module {
 public:
  virtual ~Module() = default;

  // ---- The tree ----
  // All parameters with dotted names, in registration order (depth first).
  NamedTensors named_parameters() const;
  NamedTensors named_buffers() const;
  std::vector<Tensor> parameters() const;
  // Parameters that currently require grad (not frozen).
  std::vector<Tensor> trainable_parameters() const;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> named_children() const {
    return children_;
  }
  int64_t parameter_count() const;  // number of scalars in all parameters

  // ---- Modes ----
  // Train mode (dropout active) or eval mode; applies to the whole subtree.
  void train(bool on = true);
  void eval() { train(false); }
  bool is_training() const { return training_; }
  // Freezes (requires_grad = false) or unfreezes every parameter of the subtree.
  void set_requires_grad(bool requires);
  // Clears the .grad of every parameter.
  void zero_grad();

  // ---- Dtype and device ----
  // Converts every parameter and buffer to `dtype` in place (like PyTorch's
  // model.double()): each tensor handle keeps its identity, so the layers (and an
  // optimizer built afterwards) see the converted tensors. Gradients are cleared.
  void to(DType dtype);
  // Moves every parameter and buffer to `device` in place (handles keep their identity,
  // gradients are cleared). A CUDA device needs the CUDA backend and a GPU; otherwise it
  // throws ldae::Error naming the reason (see cuda_unavailable_reason()).
  void to(Device device);

  // ---- State ----
  // Parameters and buffers by dotted name (tensors are shared, not copied).
  std::map<std::string, Tensor> state_dict() const;
  // The same entries in PyTorch's state_dict() order: each module's own parameters, then
  // its own buffers, then its children in registration order (depth first).
  struct StateEntry {
    std::string name;
    Tensor tensor;
    bool is_buffer;
  };
  std::vector<StateEntry> ordered_state() const;
  // Copies the values of `state` into this module's parameters and buffers (converting
  // dtype). Shapes must match exactly. With strict = true any missing, unexpected or
  // mis-shaped key throws ldae::Error listing all of them; otherwise the report is
  // returned and the matching keys are loaded.
  LoadReport load_state_dict(const std::map<std::string, Tensor>& state, bool strict = true);

 protected:
  // Registration, for constructors. Names must be unique and contain no '.'.
  Tensor register_parameter(const std::string& name, Tensor value);
  Tensor register_buffer(const std::string& name, Tensor value);
  template <typename M>
  std::shared_ptr<M> register_module(const std::string& name, std::shared_ptr<M> child) {
    add_child(name, child);
    return child;
  }

 private:
  void add_child(const std::string& name, std::shared_ptr<Module> child);
  void check_new_name(const std::string& name) const;
  void collect(const std::string& prefix, NamedTensors* params, NamedTensors* buffers) const;
  void collect_ordered(const std::string& prefix, std::vector<StateEntry>* out) const;

  NamedTensors parameters_;
  NamedTensors buffers_;
  std::vector<std::pair<std::string, std::shared_ptr<Module>>> children_;
  bool training_ = true;
};

}  // namespace ldae::nn
