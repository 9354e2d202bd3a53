// Reference CPU convolution: the definition of conv2d / conv3d written as plain nested loops.
//
// Same contracts, geometry and memory layouts as the fast kernels of tensor/cpu/conv.h (read that
// header first), and any stride, padding, dilation and groups. Slow (no tiling, no SIMD, no
// im2col) but short enough to check by eye: this is what the fast kernels are tested against, and
// what the public conv ops run on the CPU when reference kernels are switched on (tensor/kernels.h,
// or LDAE_REFERENCE_KERNELS=1 in the environment).
//
// Deterministic: each output element is summed by one thread in a fixed order (the loop order
// written in conv_reference.cpp), so results do not depend on the thread count.
#pragma once

#include "tensor/cpu/conv.h"

namespace ldae::cpu {

// y = conv(x, w) + b, like conv_forward. b may be nullptr (no bias). Overwrites y.
//   x: (N, Cin, D, H, W)  w: (Cout, Cin/groups, kD, kH, kW)  b: (Cout)  y: (N, Cout, oD, oH, oW)
template <typename T>
void conv_reference_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);

// gx = d(sum(gy * y)) / dx, like conv_backward_input. Overwrites gx.
//   gy: (N, Cout, oD, oH, oW)  w: as above  gx: (N, Cin, D, H, W)
template <typename T>
void conv_reference_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx);

// gw = d(sum(gy * y)) / dw and gb = d(sum(gy * y)) / db, like conv_backward_weight. Overwrites gw,
// and gb when it is not nullptr.
//   gy: (N, Cout, oD, oH, oW)  x: as above  gw: (Cout, Cin/groups, kD, kH, kW)  gb: (Cout)
template <typename T>
void conv_reference_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb);

}  // namespace ldae::cpu
