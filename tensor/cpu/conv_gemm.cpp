// The general path of the CPU convolution (any geometry; the dispatch sends it the strided convs
// with a dilation): chunked im2col + Eigen GEMM, for the
// forward pass, the input gradient (GEMM then a col2im scatter-add) and the weight gradient, plus
// the bias gradient. See the overview at the top of tensor/cpu/conv.cpp.
#include <algorithm>
#include <cstdint>
#include <vector>

// GCC 12 reports false (maybe-)uninitialized positives inside Eigen's AVX-512 packet code.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#include <Eigen/Core>
#pragma GCC diagnostic pop
#else
#include <Eigen/Core>
#endif

#include "tensor/cpu/conv_common.h"

namespace ldae::cpu::conv_detail {

namespace {

template <typename T>
using RowMat = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
template <typename T>
using MatMap = Eigen::Map<RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;
template <typename T>
using ConstMatMap = Eigen::Map<const RowMat<T>, Eigen::Unaligned, Eigen::OuterStride<>>;

// A run of output positions inside one output row: (od, oh, ow0 .. ow0+len).
struct Segment {
  int64_t od, oh, ow0, len;
};

// Everything derived from the geometry once per call.
struct Plan {
  const ConvGeometry& g;
  int64_t Cin_g, Mg, kvol, Kg, P, Pin;
  int64_t Pc,
      Kc;  // chunk of output positions, block of im2col rows (Kc * Pc * sizeof(T) <= kColBytes)
  // tap[a][k * out[a] + o] = input index read by output o through kernel tap k on axis a, or -1.
  std::vector<int64_t> tap[3];
  // W axis with stride 1: output ow reads iw = ow + woff[kw], valid for ow in [wlo[kw], whi[kw]).
  bool w_unit;
  std::vector<int64_t> woff, wlo, whi;

  Plan(const ConvGeometry& geo, int64_t elem_bytes) : g(geo) {
    Cin_g = g.Cin / g.groups;
    Mg = g.Cout / g.groups;
    kvol = g.kernel[0] * g.kernel[1] * g.kernel[2];
    Kg = Cin_g * kvol;
    P = g.out[0] * g.out[1] * g.out[2];
    Pin = g.in[0] * g.in[1] * g.in[2];
    // Chunk width: as many columns as fit the budget with all Kg rows, a multiple of 16 (one
    // AVX-512 vector), at least 64 (GEMM efficiency) and at most 2048; then rows to fill the
    // budget.
    const int64_t budget = kColBytes / elem_bytes;
    Pc = std::clamp<int64_t>(budget / Kg / 16 * 16, 64, 2048);
    Pc = std::min(Pc, P);
    Kc = std::clamp<int64_t>(budget / Pc, 1, Kg);
    for (int a = 0; a < 3; ++a) {
      tap[a].resize(static_cast<size_t>(g.kernel[a] * g.out[a]));
      for (int64_t k = 0; k < g.kernel[a]; ++k) {
        for (int64_t o = 0; o < g.out[a]; ++o) {
          const int64_t i = o * g.stride[a] - g.padding[a] + k * g.dilation[a];
          tap[a][k * g.out[a] + o] = (i >= 0 && i < g.in[a]) ? i : -1;
        }
      }
    }
    w_unit = g.stride[2] == 1;
    for (int64_t k = 0; k < g.kernel[2]; ++k) {
      const int64_t off = k * g.dilation[2] - g.padding[2];
      woff.push_back(off);
      const int64_t lo = std::clamp<int64_t>(-off, 0, g.out[2]);
      wlo.push_back(lo);
      whi.push_back(std::clamp<int64_t>(g.in[2] - off, lo, g.out[2]));
    }
  }

  // Splits output positions [p0, p1) into row segments.
  void segments(int64_t p0, int64_t p1, std::vector<Segment>& segs) const {
    segs.clear();
    const int64_t oH = g.out[1], oW = g.out[2];
    for (int64_t p = p0; p < p1;) {
      const int64_t ow = p % oW, row = p / oW;
      const int64_t len = std::min(oW - ow, p1 - p);
      segs.push_back({row / oH, row % oH, ow, len});
      p += len;
    }
  }
};

// Per-thread scratch list of the row segments of the current chunk.
std::vector<Segment>& thread_segments() {
  thread_local std::vector<Segment> segs;
  return segs;
}

// col (k1-k0, pc) = rows [k0, k1) of the im2col matrix of one group, restricted to the output
// positions in segs (pc positions in total). x points at the group's first input channel.
template <typename T>
void im2col(const Plan& pl, const T* x, int64_t k0, int64_t k1, const std::vector<Segment>& segs,
            int64_t pc, T* col) {
  const ConvGeometry& g = pl.g;
  const int64_t kHW = g.kernel[1] * g.kernel[2];
  const int64_t H = g.in[1], W = g.in[2];
  for (int64_t r = k0; r < k1; ++r) {
    const int64_t ci = r / pl.kvol, kk = r % pl.kvol;
    const int64_t kd = kk / kHW, kh = kk / g.kernel[2] % g.kernel[1], kw = kk % g.kernel[2];
    const int64_t* tap_d = &pl.tap[0][kd * g.out[0]];
    const int64_t* tap_h = &pl.tap[1][kh * g.out[1]];
    const int64_t* tap_w = &pl.tap[2][kw * g.out[2]];
    const T* xc = x + ci * pl.Pin;
    T* dst = col + (r - k0) * pc;
    for (const Segment& s : segs) {
      const int64_t id = tap_d[s.od], ih = tap_h[s.oh];
      const int64_t e = s.ow0 + s.len;
      if (id < 0 || ih < 0) {
        std::fill(dst, dst + s.len, T(0));
      } else if (pl.w_unit) {
        // Contiguous copy of the valid part of the input row, zeros where it reads padding.
        const T* src = xc + (id * H + ih) * W + pl.woff[kw];
        const int64_t lo = std::clamp(pl.wlo[kw], s.ow0, e), hi = std::clamp(pl.whi[kw], lo, e);
        T* d = dst - s.ow0;
        for (int64_t ow = s.ow0; ow < lo; ++ow) d[ow] = T(0);
        for (int64_t ow = lo; ow < hi; ++ow) d[ow] = src[ow];
        for (int64_t ow = hi; ow < e; ++ow) d[ow] = T(0);
      } else {
        const T* src = xc + (id * H + ih) * W;
        for (int64_t ow = s.ow0; ow < e; ++ow) {
          const int64_t iw = tap_w[ow];
          dst[ow - s.ow0] = iw >= 0 ? src[iw] : T(0);
        }
      }
      dst += s.len;
    }
  }
}

// The adjoint of im2col: gx += scatter of rows [k0, k1) of dcol (k1-k0, pc) over positions segs.
template <typename T>
void col2im(const Plan& pl, const T* dcol, int64_t k0, int64_t k1, const std::vector<Segment>& segs,
            int64_t pc, T* gx) {
  const ConvGeometry& g = pl.g;
  const int64_t kHW = g.kernel[1] * g.kernel[2];
  const int64_t H = g.in[1], W = g.in[2];
  for (int64_t r = k0; r < k1; ++r) {
    const int64_t ci = r / pl.kvol, kk = r % pl.kvol;
    const int64_t kd = kk / kHW, kh = kk / g.kernel[2] % g.kernel[1], kw = kk % g.kernel[2];
    const int64_t* tap_d = &pl.tap[0][kd * g.out[0]];
    const int64_t* tap_h = &pl.tap[1][kh * g.out[1]];
    const int64_t* tap_w = &pl.tap[2][kw * g.out[2]];
    T* gxc = gx + ci * pl.Pin;
    const T* src = dcol + (r - k0) * pc;
    for (const Segment& s : segs) {
      const int64_t id = tap_d[s.od], ih = tap_h[s.oh];
      const int64_t e = s.ow0 + s.len;
      if (id >= 0 && ih >= 0) {
        if (pl.w_unit) {
          T* dst = gxc + (id * H + ih) * W + pl.woff[kw];
          const int64_t lo = std::clamp(pl.wlo[kw], s.ow0, e), hi = std::clamp(pl.whi[kw], lo, e);
          const T* sr = src - s.ow0;
          for (int64_t ow = lo; ow < hi; ++ow) dst[ow] += sr[ow];
        } else {
          T* dst = gxc + (id * H + ih) * W;
          for (int64_t ow = s.ow0; ow < e; ++ow) {
            const int64_t iw = tap_w[ow];
            if (iw >= 0) dst[iw] += src[ow - s.ow0];
          }
        }
      }
      src += s.len;
    }
  }
}

// Forward: y_chunk = W_g * col_chunk (+ b), for chunks of Pc output positions in parallel.

}  // namespace

template <typename T>
void gemm_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const Plan pl(g, sizeof(T));
  const int64_t nchunks = (pl.P + pl.Pc - 1) / pl.Pc;
  const int64_t ntasks = g.N * g.groups * nchunks;
#pragma omp parallel
  {
    T* col = scratch<T, kTagCol>(pl.Kc * pl.Pc);
    std::vector<Segment>& segs = thread_segments();
#pragma omp for schedule(dynamic, 1)
    for (int64_t t = 0; t < ntasks; ++t) {
      const int64_t n = t / (g.groups * nchunks), gi = t / nchunks % g.groups, c = t % nchunks;
      const int64_t p0 = c * pl.Pc, pc = std::min(pl.Pc, pl.P - p0);
      pl.segments(p0, p0 + pc, segs);
      const T* xg = x + (n * g.Cin + gi * pl.Cin_g) * pl.Pin;             // (Cin_g, D, H, W)
      MatMap<T> yc(y + (n * g.Cout + gi * pl.Mg) * pl.P + p0, pl.Mg, pc,  // (Mg, pc) of (Mg, P)
                   Eigen::OuterStride<>(pl.P));
      for (int64_t k0 = 0; k0 < pl.Kg; k0 += pl.Kc) {
        const int64_t kc = std::min(pl.Kc, pl.Kg - k0);
        im2col(pl, xg, k0, k0 + kc, segs, pc, col);
        ConstMatMap<T> wk(w + gi * pl.Mg * pl.Kg + k0, pl.Mg, kc, Eigen::OuterStride<>(pl.Kg));
        ConstMatMap<T> ck(col, kc, pc, Eigen::OuterStride<>(pc));
        if (k0 == 0) {
          yc.noalias() = wk * ck;
        } else {
          yc.noalias() += wk * ck;
        }
      }
      if (b != nullptr) {
        yc.colwise() +=
            Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(b + gi * pl.Mg, pl.Mg);
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Backward w.r.t. the input: dcol = W^T * gy, scattered back with col2im, in two colours of slabs.
// ------------------------------------------------------------------------------------------------
template <typename T>
void gemm_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx) {
  const Plan pl(g, sizeof(T));
  // Slabs along the outermost spatial axis a that has more than one output (D for 3D, H for 2D).
  // Output slab j (S indices along a) scatters into input indices
  //   [j*S*s - p,  ((j+1)*S - 1)*s - p + (k-1)*dil],
  // so slabs j and j+2 are disjoint when ((j+1)*S - 1)*s + (k-1)*dil < (j+2)*S*s, i.e. when
  // (S+1)*s > (k-1)*dil. Even slabs then run in parallel without races, then odd slabs.
  int a = 0;
  while (a < 2 && g.out[a] == 1) ++a;
  const int64_t unit = (a == 0 ? g.out[1] * g.out[2] : a == 1 ? g.out[2] : 1);  // positions/index
  int64_t S = std::max<int64_t>(1, (g.kernel[a] - 1) * g.dilation[a] / g.stride[a]);
  S = std::max(S, (pl.Pc + unit - 1) / unit);  // at least one full chunk per slab
  S = std::min(S, g.out[a]);
  const int64_t nslabs = (g.out[a] + S - 1) / S;
  const int64_t slab_positions = S * unit;
  const int64_t per_item = (nslabs + 1) / 2;  // slabs of one colour per (n, group)

#pragma omp parallel
  {
    T* dcol = scratch<T, kTagCol>(pl.Kc * pl.Pc);
    std::vector<Segment>& segs = thread_segments();
    // Zero gx (the scatter accumulates).
    const int64_t total = g.N * g.Cin * pl.Pin;
#pragma omp for schedule(static)
    for (int64_t i = 0; i < total; ++i) gx[i] = T(0);
    for (int colour = 0; colour < 2; ++colour) {
      const int64_t ntasks = g.N * g.groups * per_item;
#pragma omp for schedule(dynamic, 1)
      for (int64_t t = 0; t < ntasks; ++t) {
        const int64_t n = t / (g.groups * per_item), gi = t / per_item % g.groups;
        const int64_t slab = 2 * (t % per_item) + colour;
        if (slab >= nslabs) continue;
        const int64_t s0 = slab * slab_positions;
        const int64_t s1 = std::min(pl.P, s0 + slab_positions);
        T* gxg = gx + (n * g.Cin + gi * pl.Cin_g) * pl.Pin;
        const T* gyg = gy + (n * g.Cout + gi * pl.Mg) * pl.P;
        ConstMatMap<T> wg(w + gi * pl.Mg * pl.Kg, pl.Mg, pl.Kg, Eigen::OuterStride<>(pl.Kg));
        for (int64_t p0 = s0; p0 < s1; p0 += pl.Pc) {
          const int64_t pc = std::min(pl.Pc, s1 - p0);
          pl.segments(p0, p0 + pc, segs);
          ConstMatMap<T> gyc(gyg + p0, pl.Mg, pc, Eigen::OuterStride<>(pl.P));
          for (int64_t k0 = 0; k0 < pl.Kg; k0 += pl.Kc) {
            const int64_t kc = std::min(pl.Kc, pl.Kg - k0);
            MatMap<T> dk(dcol, kc, pc, Eigen::OuterStride<>(pc));
            dk.noalias() = wg.middleCols(k0, kc).transpose() * gyc;
            col2im(pl, dcol, k0, k0 + kc, segs, pc, gxg);
          }
        }
      }
    }
  }
}

// ------------------------------------------------------------------------------------------------
// Backward w.r.t. the weight: gW_g = sum over n, chunks of gy_chunk * col_chunk^T.
//
// Reproducible sums. The (n, chunk) tasks are cut into `parts` fixed, contiguous ranges of tasks
// (part j: tasks [j * ntasks / parts, (j + 1) * ntasks / parts)), where parts depends only on the
// geometry, never on the thread count or on timing. Each part sums its tasks in order into its own
// accumulator; the parts' accumulators are then added in part order. Every gW element is therefore
// the same sum in the same order on every call and for every thread count; threads only decide
// which part runs where (dynamic scheduling over parts keeps them balanced).
// ------------------------------------------------------------------------------------------------
constexpr int64_t kWeightGradParts = 16;  // fixed task ranges of the weight gradient

template <typename T>
void gemm_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw) {
  const Plan pl(g, sizeof(T));
  const int64_t nchunks = (pl.P + pl.Pc - 1) / pl.Pc;
  const int64_t ntasks = g.N * nchunks;
  const int64_t parts = std::min(kWeightGradParts, ntasks);
  // Column block of gW handled at once: bounded by the col buffer and by the accumulator budget
  // (all parts' accumulators together).
  const int64_t Kb =
      std::clamp<int64_t>(kAccBytes / static_cast<int64_t>(sizeof(T)) / (parts * pl.Mg), 1, pl.Kc);
  std::vector<T> acc_all(static_cast<size_t>(parts * pl.Mg * Kb));  // one accumulator per part

#pragma omp parallel
  {
    T* col = scratch<T, kTagCol>(Kb * pl.Pc);
    std::vector<Segment>& segs = thread_segments();
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      for (int64_t k0 = 0; k0 < pl.Kg; k0 += Kb) {
        const int64_t kb = std::min(Kb, pl.Kg - k0);
#pragma omp for schedule(dynamic, 1)
        for (int64_t part = 0; part < parts; ++part) {
          MatMap<T> acck(acc_all.data() + part * pl.Mg * Kb, pl.Mg, kb, Eigen::OuterStride<>(kb));
          acck.setZero();
          for (int64_t t = part * ntasks / parts; t < (part + 1) * ntasks / parts; ++t) {
            const int64_t n = t / nchunks, c = t % nchunks;
            const int64_t p0 = c * pl.Pc, pc = std::min(pl.Pc, pl.P - p0);
            pl.segments(p0, p0 + pc, segs);
            im2col(pl, x + (n * g.Cin + gi * pl.Cin_g) * pl.Pin, k0, k0 + kb, segs, pc, col);
            ConstMatMap<T> gyc(gy + (n * g.Cout + gi * pl.Mg) * pl.P + p0, pl.Mg, pc,
                               Eigen::OuterStride<>(pl.P));
            ConstMatMap<T> ck(col, kb, pc, Eigen::OuterStride<>(pc));
            acck.noalias() += gyc * ck.transpose();
          }
        }
        // gW[g rows, k0 : k0 + kb] = the parts' accumulators added in part order (implicit
        // barriers around).
        const int64_t nel = pl.Mg * kb;
#pragma omp for schedule(static)
        for (int64_t e = 0; e < nel; ++e) {
          T s = 0;
          for (int64_t part = 0; part < parts; ++part) s += acc_all[part * pl.Mg * Kb + e];
          gw[(gi * pl.Mg + e / kb) * pl.Kg + k0 + e % kb] = s;
        }
      }
    }
  }
}

// gb[co] = sum over n and positions of gy[n, co], each in a fixed order (sum_run: the same
// vector lanes whatever the alignment of gy).
template <typename T>
void bias_grad(const ConvGeometry& g, const T* gy, T* gb) {
  const int64_t P = g.out[0] * g.out[1] * g.out[2];
#pragma omp parallel for schedule(static)
  for (int64_t co = 0; co < g.Cout; ++co) {
    T s = 0;
    for (int64_t n = 0; n < g.N; ++n) s += sum_run(gy + (n * g.Cout + co) * P, P);
    gb[co] = s;
  }
}

template void gemm_forward<float>(const ConvGeometry&, const float*, const float*, const float*,
                                  float*);
template void gemm_forward<double>(const ConvGeometry&, const double*, const double*, const double*,
                                   double*);
template void gemm_backward_input<float>(const ConvGeometry&, const float*, const float*, float*);
template void gemm_backward_input<double>(const ConvGeometry&, const double*, const double*,
                                          double*);
template void gemm_backward_weight<float>(const ConvGeometry&, const float*, const float*, float*);
template void gemm_backward_weight<double>(const ConvGeometry&, const double*, const double*,
                                           double*);
template void bias_grad<float>(const ConvGeometry&, const float*, float*);
template void bias_grad<double>(const ConvGeometry&, const double*, double*);

}  // namespace ldae::cpu::conv_detail
