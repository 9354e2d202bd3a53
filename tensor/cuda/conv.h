// Convolution on the GPU: the twins of the CPU kernels of tensor/cpu/conv.h, with the
// same ConvGeometry and the same contiguous layouts; all pointers are device pointers
// of the current device.
//
// Method: chunked im2col + cuBLAS GEMM. For each sample and group, the output positions
// are cut into chunks; for a chunk, im2col gathers the input patches into a column matrix
// (Cin/groups * kernel volume rows, chunk columns) and one GEMM with the weights gives
// the chunk's outputs. The column buffer is bounded by conv_workspace_bytes() whatever the
// volume (never one whole-volume im2col buffer), and comes from the caching allocator.
// A 1x1x1 convolution with stride 1 and no padding needs no im2col: the input is its own
// column matrix.
#pragma once
#include <cstddef>

#include "tensor/cpu/conv.h"

namespace ldae::cuda {

// The bound of the column buffer: 64 MiB unless changed. set_conv_workspace_bytes sets it
// and returns the previous value (the parity tests use a tiny bound to exercise the
// chunking on small shapes). A chunk holds at least one output position.
size_t conv_workspace_bytes();
size_t set_conv_workspace_bytes(size_t bytes);

// y = conv(x, w) + b (b may be nullptr). Overwrites y.
template <typename T>
void conv_forward(const cpu::ConvGeometry& g, const T* x, const T* w, const T* b, T* y);

// gx = the gradient w.r.t. the input: per chunk, columns = wᵀ gy (GEMM), then col2im adds
// each column entry back to the input position it was read from (a gather: every input
// element sums its own contributions, so there are no atomics and the result repeats
// exactly). Overwrites gx.
template <typename T>
void conv_backward_input(const cpu::ConvGeometry& g, const T* gy, const T* w, T* gx);

// gw = sum over samples and chunks of gy columnsᵀ (GEMMs accumulating into gw) and
// gb = sum of gy over samples and positions (gb may be nullptr). Overwrites gw and gb.
template <typename T>
void conv_backward_weight(const cpu::ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb);

}  // namespace ldae::cuda
