// Helpers shared by the ag:: op files.
#pragma once
#include <vector>

#include "autograd/no_grad.h"
#include "autograd/node.h"

namespace ldae::ag {

// Runs a plain op (from tensor/ops.h) on inputs that may belong to a graph: the op
// computes the value, record() then attaches the node. Returns whatever the op returns
// (a Tensor, or a struct such as NormResult).
template <typename F>
auto plain(F compute) -> decltype(compute()) {
  NoGrad no_grad;
  return compute();
}

using Grads = std::vector<Tensor>;
using Needs = std::vector<bool>;

}  // namespace ldae::ag
