// The backward pass.
#pragma once
#include "tensor/tensor.h"

namespace ldae::ag {

// Computes the gradient of `root` with respect to every leaf tensor that requires grad
// and that `root` depends on, and adds it to the leaf's grad() (accumulation: call
// zero_grad on parameters between steps). `grad_output` defaults to 1 and may only be
// omitted for a one-element root. The graph is walked in an iterative topological
// order (no recursion, so deep networks cannot overflow the stack); each node runs once.
void backward(const Tensor& root, const Tensor& grad_output = Tensor());

}  // namespace ldae::ag
