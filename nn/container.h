// ModuleList: a module that only groups children under numbered names "0", "1", ...,
// so that checkpoint keys follow PyTorch's nn.Sequential / nn.ModuleList layout
// ("in_layers.2.weight"). It has no forward: the owner calls the children itself,
// through the typed pointers push_back returns.
#pragma once
#include <memory>
#include <string>

#include "nn/module.h"

namespace ldae::nn {

class ModuleList : public Module {
 public:
  // Registers `child` under the next index and returns it.
  template <typename M>
  std::shared_ptr<M> push_back(std::shared_ptr<M> child) {
    return register_module(std::to_string(size_++), std::move(child));
  }
  int64_t size() const { return size_; }

 private:
  int64_t size_ = 0;
};

}  // namespace ldae::nn
