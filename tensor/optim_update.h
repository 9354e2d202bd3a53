// Fused optimizer updates: one pass over a parameter and its state, in place, on the CPU
// or the GPU (the parameter's device). The per-element rules are those of
// tensor/optim_math.h (PyTorch 1.13's formulas), shared by the CPU loop
// (tensor/optim_update.cpp) and the CUDA kernel (tensor/cuda/optim.cu). nn::Adam, nn::AdamW
// and nn::SGD call these.
//
// All tensors: the same shape, dtype and device; param and the state tensors contiguous
// (grad may have any strides). Each call bumps the version of the tensors it writes. An
// update of a parameter that requires grad must run inside a NoGrad scope (as
// Optimizer::step does).
#pragma once
#include <cstdint>

#include "tensor/tensor.h"

namespace ldae {

// Adam (decoupled = false) or AdamW (decoupled = true), PyTorch's torch.optim.Adam/AdamW
// with amsgrad off, for step `step` (>= 1, this parameter's update count):
//   AdamW: p *= 1 - lr wd;   Adam: g += wd p
//   m = beta1 m + (1 - beta1) g;  v = beta2 v + (1 - beta2) g^2
//   p -= lr / (1 - beta1^step) * m / (sqrt(v) / sqrt(1 - beta2^step) + eps)
// exp_avg (m) and exp_avg_sq (v) start at zero.
void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq, double lr,
                 double beta1, double beta2, double eps, double weight_decay, bool decoupled,
                 int64_t step);

// SGD, PyTorch's torch.optim.SGD: d = g + wd p; with momentum, buf = first ? d :
// momentum buf + (1 - dampening) d and d = nesterov ? d + momentum buf : buf; p -= lr d.
// momentum_buffer is undefined when momentum == 0. first: the buffer's first use (step 1).
void sgd_update(Tensor& param, const Tensor& grad, Tensor& momentum_buffer, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov, bool first);

}  // namespace ldae
