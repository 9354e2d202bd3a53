// Gradient-norm clipping, as torch.nn.utils.clip_grad_norm_ (L2 norm).
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace ldae::nn {

// Computes the L2 norm of all gradients together, sqrt(sum over params of |grad|^2)
// (parameters without a gradient are skipped), and if it exceeds `max_norm` scales every
// gradient in place by max_norm / (norm + 1e-6), as PyTorch does.
// Requires: max_norm > 0.
// Returns: the total norm before clipping (accumulated in double). When it is not
// finite (NaN or infinity) the gradients are left unchanged: check the returned value
// and skip the optimizer step.
double clip_grad_norm(const std::vector<Tensor>& params, double max_norm);

// The same total norm, without clipping.
double grad_norm(const std::vector<Tensor>& params);

}  // namespace ldae::nn
