// The backward pass.
#pragma once
#include "tensor/tensor.h"

namespace ldae::ag {

// How a backward pass treats the graph it walks.
struct BackwardOptions {
  // false (the default, as in PyTorch): each node drops its backward formula, and with it
  // the tensors it saved, as soon as it has run. This frees the activations early, and a
  // later backward that reaches one of these nodes throws instead of counting the same
  // graph twice. true: the graph stays usable, and a second backward through it adds its
  // gradients to the leaves' grad() again (x*x backward twice gives 2x + 2x = 4x).
  bool retain_graph = false;
};

// Computes the gradient of `root` with respect to every leaf tensor that requires grad
// and that `root` depends on, and adds it to the leaf's grad() (accumulation: call
// zero_grad on parameters between steps). `grad_output` defaults to 1 and may only be
// omitted for a one-element root. The graph is walked in an iterative topological
// order (no recursion, so deep networks cannot overflow the stack); each node runs once.
// Throws Error, before any gradient is written, if the graph reaches a node that an
// earlier backward already freed (see BackwardOptions::retain_graph), and Error from the
// op that saved it if a saved tensor was modified in place since the forward pass.
void backward(const Tensor& root, const Tensor& grad_output = Tensor(),
              const BackwardOptions& options = BackwardOptions());

// The same with grad_output omitted, e.g. backward(loss, BackwardOptions{true}) to keep
// the graph of a one-element loss.
inline void backward(const Tensor& root, const BackwardOptions& options) {
  backward(root, Tensor(), options);
}

}  // namespace ldae::ag
