// The polyphase path of the CPU convolution: a strided convolution whose kernel is a multiple of
// the stride on every axis (dilation 1), rewritten as ONE stride-1, padding-0 convolution and run
// on the direct kernels (conv_direct.cpp, conv_weight_grad.cpp). The typical case is the
// PatchDiscriminator's 4x4x4 stride-2 padding-1 downsampling conv. See the overview at the top of
// tensor/cpu/conv.cpp.
//
// Derivation (one axis; the three axes are independent). Let xpad be the input with `padding`
// zeros on both sides, s the stride, k the kernel, k % s == 0, Q = k / s. Split every tap index as
// t = s*q + r with r in [0, s) (the phase) and q in [0, Q). Then
//   y[o] = sum_t w[t] * xpad[s*o + t] = sum_r sum_q w[s*q + r] * xpad[s*(o + q) + r]
//        = sum_r sum_q wp_r[q] * phase_r[o + q],
// with phase_r[j] = xpad[s*j + r] and wp_r[q] = w[s*q + r].
// The inner sum is a stride-1 "valid" correlation of phase_r with the Q-tap kernel wp_r, and the
// sum over r is a sum over input channels. So the strided conv equals a stride-1, padding-0 conv
// whose input has S = sD*sH*sW times the channels (the phases, stacked along channels), whose
// kernel is (kD/sD, kH/sH, kW/sW), and whose weights are w rearranged the same way. Each phase is
// given J = out + Q - 1 positions per axis, so that the valid conv yields exactly `out` outputs;
// s*(J-1) + r <= s*(out-1) + k - 1 < in + 2*padding, so every phase position is a position of xpad
// (padding, or a real input element). Axes with stride 1 have one phase (s = 1, Q = k): mixed
// strides such as (1, 2, 2) work the same way.
//
// Layout (Cin_g = Cin / groups, phase index r = (rD * sH + rH) * sW + rW):
//   xp: (N, Cin * S, JD, JH, JW), channel (grp * S + r) * Cin_g + ci holds
//       xp[..][jd][jh][jw] = xpad[n, grp*Cin_g + ci, sD*jd + rD, sH*jh + rH, sW*jw + rW]
//       (0 where that is padding). Each group's channels stay contiguous, so the stride-1 conv
//       keeps the same `groups`.
//   wp: (Cout, Cin_g * S, QD, QH, QW), wp[co][r*Cin_g + ci][qd][qh][qw] =
//       w[co][ci][sD*qd + rD][sH*qh + rH][sW*qw + rW]  (a permutation of w's elements).
// The three kernels:
//   forward          gather x into xp, permute w into wp, direct_forward on the new geometry.
//   backward_input   direct_backward_input into a phase gradient gxp, then scatter it back: each
//                    xpad position belongs to exactly one phase and one phase position, so gx is a
//                    plain copy out of gxp (padding positions are dropped; input elements that no
//                    output reads, past the last window, fall beyond J and get 0).
//   backward_weight  gather x into xp, direct_backward_weight (it also sums gb), then permute the
//                    phase weight gradient gwp back into gw.
//
// Memory: the phase buffer xp (or gxp) is ONE copy of the padded input per call, about
// N * Cin * prod(in + 2*padding) elements (prod(J * s) exactly), not a k^3-times-larger im2col.
// It and wp are scratch buffers of the calling thread (conv_common.h's scratch(), grown once and
// kept for the life of the thread), so warm calls allocate nothing, at the price of holding, per
// calling thread, one buffer as large as the largest polyphase input seen so far.
//
// Reproducibility: gather, scatter and the weight permutations are copies (no arithmetic), in
// parallel over rows of their output with each element written by exactly one iteration; the
// direct kernels are bit-identical for every thread count. So is this path.
#include <algorithm>
#include <cstdint>

#include "tensor/cpu/conv_common.h"

namespace ldae::cpu::conv_detail {

namespace {

// The geometry of the phase conv and the per-axis numbers of the rewrite.
struct Polyphase {
  ConvGeometry pg;  // the stride-1, padding-0 conv on the phases
  int64_t S;        // phases: sD * sH * sW
  int64_t J[3];     // phase positions per axis (pg.in)
  int64_t Q[3];     // phase kernel per axis (pg.kernel)
};

Polyphase make_polyphase(const ConvGeometry& g) {
  Polyphase p{};
  p.S = g.stride[0] * g.stride[1] * g.stride[2];
  const int64_t one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
  for (int a = 0; a < 3; ++a) {
    p.Q[a] = g.kernel[a] / g.stride[a];
    p.J[a] = g.out[a] + p.Q[a] - 1;
  }
  p.pg = make_conv_geometry(g.N, g.Cin * p.S, g.Cout, g.groups, p.J, p.Q, one, zero, one);
  return p;
}

// The per-axis phases (rD, rH, rW) of phase index r = (rD * sH + rH) * sW + rW.
inline void phase_axes(const ConvGeometry& g, int64_t r, int64_t rs[3]) {
  rs[0] = r / (g.stride[2] * g.stride[1]);
  rs[1] = (r / g.stride[2]) % g.stride[1];
  rs[2] = r % g.stride[2];
}

// xp (layout above) from x: (N, Cin, D, H, W). Parallel over (n, input channel, phase), the phase
// fastest, so that one thread gathers the S phases of an input channel one after the other while
// that channel is in its cache (gather_phase, conv_common.h).
template <typename T>
void gather_phases(const ConvGeometry& g, const Polyphase& p, const T* x, T* xp) {
  const int64_t Cin_g = g.Cin / g.groups;
  const int64_t CinP = g.Cin * p.S;  // channels of xp
  const int64_t Pin = g.in[0] * g.in[1] * g.in[2], Pj = p.J[0] * p.J[1] * p.J[2];
#pragma omp parallel for schedule(static)
  for (int64_t it = 0; it < g.N * g.Cin * p.S; ++it) {
    const int64_t r = it % p.S, c = it / p.S % g.Cin, n = it / (p.S * g.Cin);
    const int64_t grp = c / Cin_g, ci = c % Cin_g;
    const int64_t nc = n * CinP + (grp * p.S + r) * Cin_g + ci;  // the xp channel
    int64_t rs[3];
    phase_axes(g, r, rs);
    gather_phase(x + (n * g.Cin + c) * Pin, g.in, g.padding, g.stride, rs, p.J, xp + nc * Pj);
  }
}

// gx: (N, Cin, D, H, W) from the phase gradient gxp (layout of xp): every input element copies
// the one phase element it was gathered into, or gets 0 when it lies beyond every phase (no output
// reads it). Parallel over the channels (n, channel) of gx; scatter_phase (conv_common.h) copies
// each phase back.
template <typename T>
void scatter_phases(const ConvGeometry& g, const Polyphase& p, const T* gxp, T* gx) {
  const int64_t Cin_g = g.Cin / g.groups;
  const int64_t CinP = g.Cin * p.S;
  const int64_t Pin = g.in[0] * g.in[1] * g.in[2], Pj = p.J[0] * p.J[1] * p.J[2];
#pragma omp parallel for schedule(static)
  for (int64_t nc = 0; nc < g.N * g.Cin; ++nc) {
    const int64_t c = nc % g.Cin, n = nc / g.Cin;
    const int64_t grp = c / Cin_g, ci = c % Cin_g;
    T* gxc = gx + nc * Pin;
    fill_run(gxc, Pin, T(0));
    for (int64_t r = 0; r < p.S; ++r) {
      const int64_t ch = n * CinP + (grp * p.S + r) * Cin_g + ci;  // the xp channel of phase r
      int64_t rs[3];
      phase_axes(g, r, rs);
      scatter_phase(gxp + ch * Pj, g.in, g.padding, g.stride, rs, p.J, gxc);
    }
  }
}

// The element offsets that map w: (Cout, Cin_g, kD, kH, kW) to wp: (Cout, Cin_g * S, QD, QH, QW).
// Both hold the same Cin_g * kvol elements per output channel; for the element at offset e of an
// output channel of wp, its offset in w's output channel is perm[e].
void weight_permutation(const ConvGeometry& g, const Polyphase& p, std::vector<int64_t>& perm) {
  const int64_t Cin_g = g.Cin / g.groups;
  const int64_t kD = g.kernel[0], kH = g.kernel[1], kW = g.kernel[2];
  const int64_t sD = g.stride[0], sH = g.stride[1], sW = g.stride[2];
  perm.clear();
  perm.reserve(static_cast<size_t>(Cin_g * kD * kH * kW));
  for (int64_t rd = 0; rd < sD; ++rd)
    for (int64_t rh = 0; rh < sH; ++rh)
      for (int64_t rw = 0; rw < sW; ++rw)  // phase r = (rd * sH + rh) * sW + rw
        for (int64_t ci = 0; ci < Cin_g; ++ci)
          for (int64_t qd = 0; qd < p.Q[0]; ++qd)
            for (int64_t qh = 0; qh < p.Q[1]; ++qh)
              for (int64_t qw = 0; qw < p.Q[2]; ++qw)
                perm.push_back(((ci * kD + sD * qd + rd) * kH + sH * qh + rh) * kW + sW * qw + rw);
}

// wp from w (to_phase) or w from wp (from_phase), through the permutation above. Parallel over
// the output channels (each writes its own elements).
template <typename T>
void permute_weights(const ConvGeometry& g, const Polyphase& p, const T* src, T* dst,
                     bool to_phase) {
  thread_local std::vector<int64_t> perm;  // the calling thread's; the region reads it via pm
  weight_permutation(g, p, perm);
  const int64_t per = static_cast<int64_t>(perm.size());
  const int64_t* pm = perm.data();
#pragma omp parallel for schedule(static)
  for (int64_t co = 0; co < g.Cout; ++co) {
    const T* s = src + co * per;
    T* d = dst + co * per;
    if (to_phase) {
      for (int64_t e = 0; e < per; ++e) d[e] = s[pm[e]];
    } else {
      for (int64_t e = 0; e < per; ++e) d[pm[e]] = s[e];
    }
  }
}

int64_t phase_elems(const Polyphase& p) {
  return p.pg.N * p.pg.Cin * p.J[0] * p.J[1] * p.J[2];
}
int64_t weight_elems(const ConvGeometry& g) {
  return g.Cout * (g.Cin / g.groups) * g.kernel[0] * g.kernel[1] * g.kernel[2];
}

}  // namespace

bool polyphase_eligible(const ConvGeometry& g) {
  if (is_unit_stride(g)) return false;  // the direct path takes it as it is
  for (int a = 0; a < 3; ++a) {
    if (g.dilation[a] != 1 || g.kernel[a] % g.stride[a] != 0) return false;
  }
  return true;
}

template <typename T>
void polyphase_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const Polyphase p = make_polyphase(g);
  T* xp = scratch<T, kTagPhase>(phase_elems(p));
  T* wp = scratch<T, kTagPhaseWeights>(weight_elems(g));
  gather_phases(g, p, x, xp);
  permute_weights(g, p, w, wp, true);
  direct_forward(p.pg, xp, wp, b, y);
}

template <typename T>
void polyphase_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx) {
  const Polyphase p = make_polyphase(g);
  T* gxp = scratch<T, kTagPhase>(phase_elems(p));
  T* wp = scratch<T, kTagPhaseWeights>(weight_elems(g));
  permute_weights(g, p, w, wp, true);
  direct_backward_input(p.pg, gy, wp, gxp);
  scatter_phases(g, p, gxp, gx);
}

template <typename T>
void polyphase_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb) {
  const Polyphase p = make_polyphase(g);
  T* xp = scratch<T, kTagPhase>(phase_elems(p));
  T* gwp = scratch<T, kTagPhaseWeights>(weight_elems(g));
  gather_phases(g, p, x, xp);
  direct_backward_weight(p.pg, gy, xp, gwp, gb);  // sums gb on the way
  permute_weights(g, p, gwp, gw, false);
}

template void polyphase_forward<float>(const ConvGeometry&, const float*, const float*,
                                       const float*, float*);
template void polyphase_forward<double>(const ConvGeometry&, const double*, const double*,
                                        const double*, double*);
template void polyphase_backward_input<float>(const ConvGeometry&, const float*, const float*,
                                              float*);
template void polyphase_backward_input<double>(const ConvGeometry&, const double*, const double*,
                                               double*);
template void polyphase_backward_weight<float>(const ConvGeometry&, const float*, const float*,
                                               float*, float*);
template void polyphase_backward_weight<double>(const ConvGeometry&, const double*, const double*,
                                                double*, double*);

}  // namespace ldae::cpu::conv_detail
