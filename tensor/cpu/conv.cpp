// CPU convolution kernels (2D and 3D). See conv.h for the contracts.
//
// Notation. Per group (groups are independent convolutions):
//   Cin_g = Cin / groups, Mg = Cout / groups, kvol = kD * kH * kW, Kg = Cin_g * kvol,
//   P = oD * oH * oW output positions.
// A convolution is the matrix product  Y_g (Mg x P) = W_g (Mg x Kg) * col (Kg x P), with
//   col[(ci, kd, kh, kw)][(od, oh, ow)] = x[ci, od*s - p + kd*dil, oh*s - p + kh*dil, ...]
// (per axis; 0 where the index falls into the padding). Three implementations of it live here.
//
// 1. The direct path (stride 1 on every axis: every 3x3x3 "same" conv of the UNet and the VAE).
//    No im2col. A task (a block of output planes x rows) copies the input it reads into a small
//    zero-padded "window" (the padding becomes real zeros). Then the inputs that tap
//    k = (ci, kd, kh, kw) contributes to a run of consecutive outputs along W are a contiguous run
//    of the window at a fixed offset koff[k]: col is never materialised, its rows are pointers into
//    the window. Register-tiled micro-kernels on explicit SIMD vectors do the arithmetic:
//      forward          y[t][o] = b[t] + sum_k W[t][k] * win[o + koff[k]]   tile_rows: vectors
//                       along W, weights broadcast; or, for small volumes with many channels,
//                       tile_positions: vectors along output channels, window values broadcast
//                       (same sums in the same order: the same bits; conv_direct.cpp picks one)
//      backward_input   the same kernels: for stride 1 the input gradient is a correlation of gy
//                       with the transposed, flipped weights and padding dil*(k-1) - pad
//      backward_weight  gW[t][k] = sum_o gy[t][o] * win[o + koff[k]]        tile_taps: vectors
//                       along output channels (gy transposed), window values broadcast; or, for
//                       few channels or taps, tile_dots: vectors along W, lanes summed at the end
//
// 2. The polyphase path (a stride other than 1 somewhere, dilation 1, kernel a multiple of the
//    stride on every axis: the PatchDiscriminator's 4x4x4 stride-2 convs). Per axis, tap
//    t = s*q + r reads xpad[s*(o + q) + r] = phase_r[o + q]: the strided conv is one stride-1,
//    padding-0 conv over the S = sD*sH*sW phases of the padded input stacked along channels, with
//    kernel k/s and the weights permuted to match. conv_polyphase.cpp gathers the phases into a
//    buffer (one copy of the padded input), permutes the weights and runs the direct kernels of 1
//    on that geometry; the input gradient is scattered back out of the phase gradient (a copy).
//
// 3. The phase-split path (the other strided convs with dilation 1: the 3x3x3 stride-2
//    downsampling convs of the autoencoder and the UNet). The same split of the taps by phase,
//    but the phases now have different numbers of taps (k = 3, s = 2: phase 0 the taps {0, 2},
//    phase 1 the tap {1}), so the strided conv is a SUM of stride-1 convs, one per phase with
//    its own kernel; conv_phase_split.cpp gathers the phases, splits the weights and runs the
//    direct kernels of 1 once per phase (forward: accumulating into y; input gradient: into
//    each phase's gradient, then scattered back as in 2).
//
// 4. The general path (a stride with a dilation): chunked im2col + Eigen GEMM. Output positions
//    are cut into chunks of Pc columns and Kg into blocks of Kc rows so that one block of col
//    fits kColBytes:
//      forward          y_chunk  = W_g * col_chunk (+ b)
//      backward_weight  gW_g    += gy_chunk * col_chunk^T   (in fixed parts, then a fixed-order
//                       sum of the parts, see gemm_backward_weight)
//      backward_input   dcol     = W_g^T * gy_chunk, then a col2im scatter-add into gx (race-free
//                       by slabs, see gemm_backward_input).
//
// Threads: OpenMP over independent tasks (blocks of output, or of the weight gradient), thread
// count from OMP_NUM_THREADS. Eigen runs single-threaded (EIGEN_DONT_PARALLELIZE, set for the
// whole project), which is what we want: splitting each small GEMM across threads would
// synchronise on every chunk.
//
// Reproducibility: the same inputs give bit-identical results on every call AND for every thread
// count. Every output element is summed by one task in an order fixed by the geometry alone; block
// sizes that do depend on the thread count (to share the work out) only change which task computes
// an element, never the order of its sum. The one sum split across tasks, the general path's
// weight gradient, uses a fixed number of parts (contiguous ranges of position chunks, independent
// of the threads) whose partial sums are added in part order; the bias gradient sums each channel
// in a fixed order. The polyphase and phase-split paths add only copies (gather, scatter, weight
// permutations), each element written by one iteration, around the direct kernels; the phase-split
// forward sums its phases into y in phase order.
// tests/unit/test_conv_determinism.cpp checks this at 1, 2, 3 and 7 threads.
//
// Workspace bound. Per thread, direct path: a source window <= kWindowBytes (1 MiB), a tile
// scratch (forward / input gradient: Cout_g x 3 vectors, or in the positions tiling a chunk of
// positions x Cout_g <= kPositionTileBytes (128 KiB); weight gradient: <= kVABytes (256 KiB)
// along W, or Cout_g x (128 + kvol) values along channels) and a list of output vectors. Per
// thread, general path: a col block <= kColBytes (1 MiB). Shared per call: the packed weights of a
// block of input channels <= kPackBytes (1 MiB); in the direct backward_weight, a copy of gy for a
// block of positions <= kGyBytes (4 MiB); in the general backward_weight, the gW accumulators of
// its (at most 16) parts <= kAccBytes (4 MiB) together. (Only a single input
// channel's weights or window row larger than a budget exceeds it.) Eigen's GEMM packs its
// operands into buffers of similar size. The polyphase path (and likewise the phase-split path,
// whose phases are one copy of the padded input together) is NOT bounded this way: on top of the
// direct path's workspace (for its geometry of S times the channels) it needs, per call, a phase
// buffer of about N * Cin * prod(in + 2*padding) elements (one copy of the padded input, or of
// its gradient) and a permuted copy of the weights (or of their gradient), both scratch buffers
// of the calling thread. The large buffers are thread_local and grown once: warm calls allocate
// nothing inside the loops (the polyphase buffers stay as large as the largest input seen).
//
// Files: conv_common.h (budgets, scratch buffers, SIMD vectors, the window of the direct path),
// conv_direct.cpp (direct forward and input gradient), conv_weight_grad.cpp (direct weight and
// bias gradient), conv_polyphase.cpp (the polyphase path), conv_phase_split.cpp (the phase-split
// path), conv_gemm.cpp (the general path). This file: the geometry and the dispatch.
#include "tensor/cpu/conv.h"

#include <stdexcept>
#include <string>

#include "tensor/cpu/conv_common.h"

namespace ldae::cpu {

// ------------------------------------------------------------------------------------------------
// Geometry
// ------------------------------------------------------------------------------------------------

ConvGeometry make_conv_geometry(int64_t N, int64_t Cin, int64_t Cout, int64_t groups,
                                const int64_t in[3], const int64_t kernel[3],
                                const int64_t stride[3], const int64_t padding[3],
                                const int64_t dilation[3]) {
  auto fail = [](const std::string& msg) { throw std::invalid_argument("conv geometry: " + msg); };
  auto num = [](int64_t v) { return std::to_string(v); };
  if (N < 1) fail("batch size N must be >= 1, got " + num(N));
  if (Cin < 1 || Cout < 1)
    fail("channels must be >= 1, got Cin=" + num(Cin) + " Cout=" + num(Cout));
  if (groups < 1) fail("groups must be >= 1, got " + num(groups));
  if (Cin % groups != 0 || Cout % groups != 0) {
    fail("Cin=" + num(Cin) + " and Cout=" + num(Cout) +
         " must be divisible by groups=" + num(groups));
  }
  ConvGeometry g{};
  g.N = N;
  g.Cin = Cin;
  g.Cout = Cout;
  g.groups = groups;
  static const char* axis[3] = {"D", "H", "W"};
  for (int a = 0; a < 3; ++a) {
    const std::string at = std::string(" on axis ") + axis[a];
    if (in[a] < 1) fail("input size must be >= 1, got " + num(in[a]) + at);
    if (kernel[a] < 1) fail("kernel size must be >= 1, got " + num(kernel[a]) + at);
    if (stride[a] < 1) fail("stride must be >= 1, got " + num(stride[a]) + at);
    if (dilation[a] < 1) fail("dilation must be >= 1, got " + num(dilation[a]) + at);
    if (padding[a] < 0) fail("padding must be >= 0, got " + num(padding[a]) + at);
    const int64_t span = dilation[a] * (kernel[a] - 1) + 1;  // extent of the dilated kernel
    const int64_t padded = in[a] + 2 * padding[a];
    if (padded < span) {
      fail("kernel extent " + num(span) + " exceeds padded input size " + num(padded) + at +
           " (output would be empty)");
    }
    g.in[a] = in[a];
    g.kernel[a] = kernel[a];
    g.stride[a] = stride[a];
    g.padding[a] = padding[a];
    g.dilation[a] = dilation[a];
    g.out[a] = (padded - span) / stride[a] + 1;
  }
  return g;
}

using namespace conv_detail;

// ------------------------------------------------------------------------------------------------
// Public kernels: the direct path for stride 1, the polyphase path for strided convs whose kernel
// is a multiple of the stride (dilation 1), the phase-split path for the other strided convs with
// dilation 1, the general path otherwise.
// ------------------------------------------------------------------------------------------------

template <typename T>
void conv_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  if (is_unit_stride(g)) {
    direct_forward(g, x, w, b, y);
  } else if (polyphase_eligible(g)) {
    polyphase_forward(g, x, w, b, y);
  } else if (phase_split_eligible(g)) {
    phase_split_forward(g, x, w, b, y);
  } else {
    gemm_forward(g, x, w, b, y);
  }
}

template <typename T>
void conv_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx) {
  if (is_unit_stride(g)) {
    direct_backward_input(g, gy, w, gx);
  } else if (polyphase_eligible(g)) {
    polyphase_backward_input(g, gy, w, gx);
  } else if (phase_split_eligible(g)) {
    phase_split_backward_input(g, gy, w, gx);
  } else {
    gemm_backward_input(g, gy, w, gx);
  }
}

template <typename T>
void conv_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb) {
  if (is_unit_stride(g)) {
    direct_backward_weight(g, gy, x, gw, gb);  // sums gb on the way
  } else if (polyphase_eligible(g)) {
    polyphase_backward_weight(g, gy, x, gw, gb);  // sums gb on the way
  } else if (phase_split_eligible(g)) {
    phase_split_backward_weight(g, gy, x, gw, gb);  // sums gb on the way
  } else {
    gemm_backward_weight(g, gy, x, gw);
    if (gb != nullptr) bias_grad(g, gy, gb);
  }
}

template void conv_forward<float>(const ConvGeometry&, const float*, const float*, const float*,
                                  float*);
template void conv_forward<double>(const ConvGeometry&, const double*, const double*, const double*,
                                   double*);
template void conv_backward_input<float>(const ConvGeometry&, const float*, const float*, float*);
template void conv_backward_input<double>(const ConvGeometry&, const double*, const double*,
                                          double*);
template void conv_backward_weight<float>(const ConvGeometry&, const float*, const float*, float*,
                                          float*);
template void conv_backward_weight<double>(const ConvGeometry&, const double*, const double*,
                                           double*, double*);

}  // namespace ldae::cpu
