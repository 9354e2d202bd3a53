// CPU convolution kernels (2D and 3D) on raw, contiguous arrays.
//
// These are the kernels behind `conv2d` / `conv3d` on the CPU. They know nothing about Tensor,
// autograd or devices: the caller passes contiguous buffers and a ConvGeometry. A 2D convolution is
// a 3D one whose D axis has size 1 (in[0] = out[0] = kernel[0] = 1, stride/dilation 1, padding 0).
//
// Method (details in conv.cpp): for stride 1, direct register-tiled SIMD kernels reading a small
// zero-padded copy of the input block they need (no im2col); for other strides with a kernel that
// is a multiple of the stride (and dilation 1), the same direct kernels on the "phases" of the
// input (a stride-1 conv with stride-product times the channels, conv_polyphase.cpp); for the
// other strided convs with dilation 1 (e.g. kernel 3 stride 2), a sum of direct convs, one per
// phase with that phase's taps (conv_phase_split.cpp); for a stride with a dilation, chunked
// im2col + Eigen GEMM. Never a whole-volume im2col buffer: the workspace of the direct and GEMM
// paths is bounded (a few MiB per thread); the polyphase and phase-split paths also hold one copy
// of the padded input (or of its gradient) per call.
// Multi-threaded with OpenMP; the thread count follows OMP_NUM_THREADS. Reproducible: the same
// inputs give bit-identical outputs on every call and for every thread count.
// A plain-loop version with the same contracts, for reading and testing: conv_reference.h.
#pragma once

#include <cstdint>

namespace ldae::cpu {

// Geometry of an N-d convolution. Spatial arrays are ordered (D, H, W).
struct ConvGeometry {
  int64_t N, Cin, Cout, groups;  // Cin and Cout divisible by groups
  int64_t in[3], out[3];         // spatial sizes (D, H, W) of input and output
  int64_t kernel[3], stride[3], padding[3], dilation[3];
};

// Builds a ConvGeometry and fills out[] with PyTorch's formula
//   out = floor((in + 2 * padding - dilation * (kernel - 1) - 1) / stride) + 1.
// Requires: N, Cin, Cout, groups >= 1, Cin % groups == 0, Cout % groups == 0, in >= 1, kernel >= 1,
//           stride >= 1, dilation >= 1, padding >= 0 on every axis.
// Throws std::invalid_argument naming the offending field otherwise, or when an output size would
// be < 1 (kernel larger than the padded input).
ConvGeometry make_conv_geometry(int64_t N, int64_t Cin, int64_t Cout, int64_t groups,
                                const int64_t in[3], const int64_t kernel[3],
                                const int64_t stride[3], const int64_t padding[3],
                                const int64_t dilation[3]);

// All arrays are contiguous, row-major:
//   x: (N, Cin, D, H, W)   w: (Cout, Cin/groups, kD, kH, kW)   b: (Cout) or nullptr
//   y: (N, Cout, oD, oH, oW)
// Output buffers must not alias inputs. T is float or double.

// y = conv(x, w) + b (b may be nullptr: no bias). Overwrites y.
template <typename T>
void conv_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);

// gx = d(sum(gy * y)) / dx: the gradient w.r.t. the input (a transposed convolution of gy).
// gy: (N, Cout, oD, oH, oW), gx: (N, Cin, D, H, W). Overwrites gx.
template <typename T>
void conv_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx);

// gw = d(sum(gy * y)) / dw and gb = d(sum(gy * y)) / db, summed over the batch.
// gw: (Cout, Cin/groups, kD, kH, kW), overwritten; gb: (Cout), overwritten if not nullptr.
template <typename T>
void conv_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb);

}  // namespace ldae::cpu
