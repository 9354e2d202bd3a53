// The phase-split path of the CPU convolution: a strided convolution (dilation 1) whose kernel is
// NOT a multiple of the stride on some axis, e.g. the autoencoder's and the UNet's 3x3x3 stride-2
// downsampling convs, written as a SUM of stride-1 convolutions, one per stride phase of the
// input, and run on the direct kernels (conv_direct.cpp, conv_weight_grad.cpp). See the overview
// at the top of tensor/cpu/conv.cpp; conv_polyphase.cpp is the case kernel % stride == 0.
//
// Derivation (one axis; the three axes are independent). Let xpad be the input with `padding`
// zeros on both sides, s the stride, k the kernel. Split every tap index as t = s*q + r with r in
// [0, s) (the phase). Phase r has Q_r = ceil((k - r) / s) taps (0 when r >= k): for k = 3, s = 2,
// phase 0 has the taps {0, 2} and phase 1 the tap {1}. Then
//   y[o] = sum_t w[t] * xpad[s*o + t] = sum_r sum_{q < Q_r} w[s*q + r] * xpad[s*(o + q) + r]
//        = sum_r sum_{q < Q_r} w_r[q] * phase_r[o + q],
// with phase_r[j] = xpad[s*j + r] (J_r = out + Q_r - 1 positions) and w_r[q] = w[s*q + r]: the
// strided conv is the sum over the phases r (with Q_r > 0 on every axis) of stride-1,
// padding-0 convs of phase_r with the Q_r-tap kernel w_r. Unlike the polyphase path, whose phases
// all have k / s taps and so make ONE conv with S times the channels, the phases here have
// different kernels (in 3D for k = 3, s = 2: 2x2x2, 2x2x1, ..., 1x1x1, 27 taps in all, none
// wasted), so each is its own direct conv:
//   forward          gather the phases of x, split w into the w_r, then y = b + conv_0 and
//                    y += conv_r for the other phases (direct_forward with accumulate).
//   backward_input   each phase's gradient gxp_r = the input gradient of conv_r (a stride-1
//                    correlation of gy with w_r), then scattered back: each xpad position belongs
//                    to exactly one phase and one phase position, so gx is a copy out of the
//                    gxp_r (padding dropped; input elements no output reads get 0).
//   backward_weight  gather the phases of x, gw_r = the weight gradient of conv_r (the first also
//                    sums gb), then the gw_r merged back into gw (each tap in exactly one phase).
//
// Layout: the phases one after the other, phase_r: (N, Cin, J_r) (each a contiguous input of its
// conv, groups as in the original conv); w_r: (Cout, Cin_g, Q_r), one after the other.
// Memory: the phase buffer is one copy of the padded input (about N * Cin * prod(in + 2*padding)
// elements), the split weights one copy of w, both scratch buffers of the calling thread (grown
// once), as in the polyphase path.
//
// Reproducibility: gather, scatter and the weight split are copies; the direct kernels are
// bit-identical for every thread count, and the phases are summed in a fixed order (phase index
// order). So is this path.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tensor/cpu/conv_common.h"

namespace ldae::cpu::conv_detail {

namespace {

// Taps of phase r on an axis with kernel k and stride s: t = s*q + r for q < Q_r.
int64_t phase_taps(int64_t k, int64_t s, int64_t r) {
  return r < k ? ceil_div(k - r, s) : 0;
}

// One phase with at least one tap on every axis.
struct Phase {
  int64_t r[3];     // the phase per axis
  ConvGeometry pg;  // its stride-1, padding-0 conv: input J_r = out + Q_r - 1, kernel Q_r
  int64_t x_off;    // offset of phase_r, (N, Cin, J_r), in the phase buffer
  int64_t w_off;    // offset of w_r, (Cout, Cin_g, Q_r), in the split weights
};

struct PhaseSplit {
  std::vector<Phase> phases;  // in phase index order
  int64_t x_elems = 0;        // the phase buffer
  int64_t w_elems = 0;        // the split weights (= the elements of w)
};

PhaseSplit make_phase_split(const ConvGeometry& g) {
  PhaseSplit ps;
  const int64_t one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
  const int64_t Cin_g = g.Cin / g.groups;
  for (int64_t rd = 0; rd < g.stride[0]; ++rd) {
    for (int64_t rh = 0; rh < g.stride[1]; ++rh) {
      for (int64_t rw = 0; rw < g.stride[2]; ++rw) {
        Phase ph{};
        ph.r[0] = rd;
        ph.r[1] = rh;
        ph.r[2] = rw;
        int64_t Q[3], J[3];
        bool active = true;
        for (int a = 0; a < 3; ++a) {
          Q[a] = phase_taps(g.kernel[a], g.stride[a], ph.r[a]);
          J[a] = g.out[a] + Q[a] - 1;
          active = active && Q[a] > 0;
        }
        if (!active) continue;  // no tap reads this phase
        ph.pg = make_conv_geometry(g.N, g.Cin, g.Cout, g.groups, J, Q, one, zero, one);
        ph.x_off = ps.x_elems;
        ph.w_off = ps.w_elems;
        ps.x_elems += g.N * g.Cin * J[0] * J[1] * J[2];
        ps.w_elems += g.Cout * Cin_g * Q[0] * Q[1] * Q[2];
        ps.phases.push_back(ph);
      }
    }
  }
  return ps;
}

// The phase buffer from x: (N, Cin, D, H, W). Parallel over the input channels (n, c); a thread
// gathers every phase of its channel while the channel is in its cache.
template <typename T>
void gather(const ConvGeometry& g, const PhaseSplit& ps, const T* x, T* xs) {
  const int64_t Pin = g.in[0] * g.in[1] * g.in[2];
#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < g.N * g.Cin; ++nc) {
    for (const Phase& ph : ps.phases) {
      const int64_t Pj = ph.pg.in[0] * ph.pg.in[1] * ph.pg.in[2];
      gather_phase(x + nc * Pin, g.in, g.padding, g.stride, ph.r, ph.pg.in,
                   xs + ph.x_off + nc * Pj);
    }
  }
}

// gx: (N, Cin, D, H, W) from the phases' gradients (layout of the phase buffer): the reverse of
// gather, a copy of every phase element that is an input position; the rest of gx (elements no
// output reads) is 0. Parallel over the channels of gx.
template <typename T>
void scatter(const ConvGeometry& g, const PhaseSplit& ps, const T* gxs, T* gx) {
  const int64_t Pin = g.in[0] * g.in[1] * g.in[2];
#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < g.N * g.Cin; ++nc) {
    T* gxc = gx + nc * Pin;
    fill_run(gxc, Pin, T(0));
    for (const Phase& ph : ps.phases) {
      const int64_t Pj = ph.pg.in[0] * ph.pg.in[1] * ph.pg.in[2];
      scatter_phase(gxs + ph.x_off + nc * Pj, g.in, g.padding, g.stride, ph.r, ph.pg.in, gxc);
    }
  }
}

// The split weights w_r (dst) from w: (Cout, Cin_g, kD, kH, kW) (src) when to_phase, else w (dst)
// from the split weights (src). Parallel over the output channels (each writes its own elements).
template <typename T>
void split_weights(const ConvGeometry& g, const PhaseSplit& ps, const T* src, T* dst,
                   bool to_phase) {
  const int64_t Cin_g = g.Cin / g.groups;
  const int64_t kD = g.kernel[0], kH = g.kernel[1], kW = g.kernel[2];
  const int64_t sD = g.stride[0], sH = g.stride[1], sW = g.stride[2];
#pragma omp parallel for schedule(static)
  for (int64_t co = 0; co < g.Cout; ++co) {
    for (const Phase& ph : ps.phases) {
      const int64_t QD = ph.pg.kernel[0], QH = ph.pg.kernel[1], QW = ph.pg.kernel[2];
      int64_t e = ph.w_off + co * Cin_g * QD * QH * QW;  // w_r[co][0][0][0][0]
      for (int64_t ci = 0; ci < Cin_g; ++ci)
        for (int64_t qd = 0; qd < QD; ++qd)
          for (int64_t qh = 0; qh < QH; ++qh)
            for (int64_t qw = 0; qw < QW; ++qw, ++e) {
              const int64_t t =
                  (((co * Cin_g + ci) * kD + sD * qd + ph.r[0]) * kH + sH * qh + ph.r[1]) * kW +
                  sW * qw + ph.r[2];
              if (to_phase) {
                dst[e] = src[t];
              } else {
                dst[t] = src[e];
              }
            }
    }
  }
}

}  // namespace

bool phase_split_eligible(const ConvGeometry& g) {
  if (is_unit_stride(g) || polyphase_eligible(g)) return false;  // the other paths take those
  for (int a = 0; a < 3; ++a) {
    if (g.dilation[a] != 1) return false;
  }
  return true;
}

template <typename T>
void phase_split_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const PhaseSplit ps = make_phase_split(g);
  T* xs = scratch<T, kTagPhase>(ps.x_elems);
  T* ws = scratch<T, kTagPhaseWeights>(ps.w_elems);
  gather(g, ps, x, xs);
  split_weights(g, ps, w, ws, true);
  for (size_t i = 0; i < ps.phases.size(); ++i) {  // phase 0 (always present) first, with the bias
    const Phase& ph = ps.phases[i];
    direct_forward(ph.pg, xs + ph.x_off, ws + ph.w_off, b, y, DirectTiling::kAuto, i > 0);
  }
}

template <typename T>
void phase_split_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx) {
  const PhaseSplit ps = make_phase_split(g);
  T* gxs = scratch<T, kTagPhase>(ps.x_elems);
  T* ws = scratch<T, kTagPhaseWeights>(ps.w_elems);
  split_weights(g, ps, w, ws, true);
  for (const Phase& ph : ps.phases) direct_backward_input(ph.pg, gy, ws + ph.w_off, gxs + ph.x_off);
  scatter(g, ps, gxs, gx);
}

template <typename T>
void phase_split_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb) {
  const PhaseSplit ps = make_phase_split(g);
  T* xs = scratch<T, kTagPhase>(ps.x_elems);
  T* gws = scratch<T, kTagPhaseWeights>(ps.w_elems);
  gather(g, ps, x, xs);
  for (size_t i = 0; i < ps.phases.size(); ++i) {  // the first also sums gb
    const Phase& ph = ps.phases[i];
    direct_backward_weight(ph.pg, gy, xs + ph.x_off, gws + ph.w_off, i == 0 ? gb : nullptr);
  }
  split_weights(g, ps, gws, gw, false);
}

template void phase_split_forward<float>(const ConvGeometry&, const float*, const float*,
                                         const float*, float*);
template void phase_split_forward<double>(const ConvGeometry&, const double*, const double*,
                                          const double*, double*);
template void phase_split_backward_input<float>(const ConvGeometry&, const float*, const float*,
                                                float*);
template void phase_split_backward_input<double>(const ConvGeometry&, const double*, const double*,
                                                 double*);
template void phase_split_backward_weight<float>(const ConvGeometry&, const float*, const float*,
                                                 float*, float*);
template void phase_split_backward_weight<double>(const ConvGeometry&, const double*, const double*,
                                                  double*, double*);

}  // namespace ldae::cpu::conv_detail
