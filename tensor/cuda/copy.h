// Fill and copy for CUDA tensors (tensor/cuda/copy.cu): the device side of
// Tensor::fill_, Tensor::copy_ and hence of contiguous(), clone(), to(dtype), to(device),
// cat and pad. Plain C++ declarations; the caller (tensor/tensor.cpp) has checked shapes.
#pragma once
#include "tensor/tensor.h"

namespace ldae::cuda {

// Sets every element of the CUDA tensor t (any strides) to value (converted to its dtype).
void fill(const Tensor& t, double value);

// dst = src elementwise, converting to dst's dtype. src already has dst's shape (broadcast
// axes have stride 0) and does not overlap dst. Either tensor may be on the CPU, at least
// one is on a GPU; both GPU tensors must be on the same GPU. Any strides.
//   GPU <- GPU: one strided kernel.
//   GPU <- CPU: the CPU side is made contiguous in dst's dtype on the host, uploaded,
//               then scattered into dst's strides on the GPU (if dst is not contiguous).
//   CPU <- GPU: the GPU side is made contiguous on the GPU, downloaded, then copied into
//               dst's strides and dtype on the host.
void copy(const Tensor& dst, const Tensor& src);

}  // namespace ldae::cuda
