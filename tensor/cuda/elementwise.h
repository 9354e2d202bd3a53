// Elementwise CUDA kernels: the GPU twins of cpu::unary_map and cpu::binary_map
// (tensor/cpu/map.h), applying the same functors of tensor/math.h. Plain C++
// declarations; defined and instantiated for every functor of math.h in elementwise.cu.
#pragma once
#include "tensor/tensor.h"

namespace ldae::cuda {

// out[i] = f(a[i]) on the GPU. out and a are CUDA tensors of out's shape (a may have
// stride-0 broadcast axes); any strides. T: float or double.
template <typename T, typename F>
void unary_map(Tensor& out, const Tensor& a, F f);

// out[i] = f(a[i], b[i]) on the GPU; a and b already have out's shape (stride-0 axes
// where broadcast); any strides.
template <typename T, typename F>
void binary_map(Tensor& out, const Tensor& a, const Tensor& b, F f);

}  // namespace ldae::cuda
