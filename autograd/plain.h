// Helpers shared by the ag:: op files.
#pragma once
#include <vector>

#include "autograd/no_grad.h"
#include "autograd/node.h"

namespace ldae::ag {

// Runs a plain op (from tensor/ops.h) on inputs that may belong to a graph: the op
// computes the value, record() then attaches the node.
template <typename F>
Tensor plain(F compute) {
  NoGrad no_grad;
  return compute();
}

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

}  // namespace ldae::ag
