// Fused optimizer updates on the GPU: the twins of the loops of tensor/optim_update.cpp,
// one thread per element applying the same rule object of tensor/optim_math.h.
#pragma once
#include "tensor/optim_math.h"
#include "tensor/tensor.h"

namespace ldae::cuda {

// param, grad, exp_avg, exp_avg_sq: contiguous CUDA tensors of one shape, dtype and device.
void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                 const optim_math::AdamRule& rule);
// momentum_buffer: undefined without momentum.
void sgd_update(Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                const optim_math::SgdRule& rule);

}  // namespace ldae::cuda
