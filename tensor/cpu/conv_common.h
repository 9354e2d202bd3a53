// Internal helpers shared by the CPU convolution kernels (conv_direct.cpp, conv_weight_grad.cpp,
// conv_polyphase.cpp, conv_gemm.cpp): workspace budgets, per-thread scratch buffers, SIMD vectors,
// and the "window" of the direct path. Not part of the public interface (that is
// tensor/cpu/conv.h); the notation is explained at the top of tensor/cpu/conv.cpp.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <vector>

#include "tensor/cpu/conv.h"

#ifdef _OPENMP
#include <omp.h>
#endif

namespace ldae::cpu::conv_detail {

// ------------------------------------------------------------------------------------------------
// Shared helpers
// ------------------------------------------------------------------------------------------------

constexpr int64_t kWindowBytes = int64_t{1} << 20;  // per-thread source window (direct path)
constexpr int64_t kPackBytes = int64_t{1} << 20;    // packed weights of one input-channel block
constexpr int64_t kGyBytes = int64_t{4} << 20;      // gy window of backward_weight (direct path)
constexpr int64_t kColBytes = int64_t{1} << 20;     // per-thread im2col block (general path)
constexpr int64_t kAccBytes = int64_t{4} << 20;     // gW accumulators of all parts (general path)

inline int thread_count() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
inline int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// A per-thread scratch buffer of at least n elements, 64-byte aligned, one per (T, Tag). It grows
// on demand and lives as long as the thread, so warm calls allocate nothing (and touch no fresh
// pages). Buffers shared by a parallel region come from the calling thread's scratch.
enum ScratchTag { kTagWindow, kTagTile, kTagCol, kTagPack, kTagGy, kTagPhase, kTagPhaseWeights };
template <typename T, int Tag>
T* scratch(int64_t n) {
  thread_local std::vector<T> buf;
  const size_t need = static_cast<size_t>(n) + 64 / sizeof(T);
  if (buf.size() < need) buf.resize(need);
  const auto p = reinterpret_cast<std::uintptr_t>(buf.data());
  return reinterpret_cast<T*>((p + 63) & ~std::uintptr_t{63});
}

// ------------------------------------------------------------------------------------------------
// SIMD vectors (the direct path; sum_run also sums the bias gradient of the general path)
// ------------------------------------------------------------------------------------------------

// SIMD vectors as GCC/Clang vector extensions: one register wide, with + and * elementwise (the
// compiler contracts `acc += s * v` into one fused multiply-add). Accumulator tiles are sized to
// the register file: 32 zmm registers with AVX-512 (24 accumulators), 16 ymm/xmm otherwise (12).
#if defined(__AVX512F__)
constexpr int kVecBytes = 64;
constexpr int kAccRegs = 24;
#elif defined(__AVX__)
constexpr int kVecBytes = 32;
constexpr int kAccRegs = 12;
#else
constexpr int kVecBytes = 16;  // SSE2
constexpr int kAccRegs = 12;
#endif

template <typename T>
struct Simd {
  typedef T V __attribute__((vector_size(kVecBytes)));
  static constexpr int L = kVecBytes / sizeof(T);  // lanes: 16 floats or 8 doubles with AVX-512
};

template <typename T>
inline typename Simd<T>::V vload(const T* p) {  // unaligned load
  typename Simd<T>::V v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}
template <typename T>
inline void vstore(T* p, typename Simd<T>::V v) {  // unaligned store
  std::memcpy(p, &v, sizeof(v));
}
// Short runs (a window row, an output row): inline vector loops, no library call per run.
template <typename T>
inline void copy_run(const T* src, int64_t n, T* dst) {
  constexpr int L = Simd<T>::L;
  int64_t i = 0;
  for (; i + L <= n; i += L) vstore(dst + i, vload(src + i));
  for (; i < n; ++i) dst[i] = src[i];
}
template <typename T>
inline void fill_run(T* dst, int64_t n, T value) {
  constexpr int L = Simd<T>::L;
  const typename Simd<T>::V v = typename Simd<T>::V{} + value;  // broadcast
  int64_t i = 0;
  for (; i + L <= n; i += L) vstore(dst + i, v);
  for (; i < n; ++i) dst[i] = value;
}
template <typename T>
inline T hsum(typename Simd<T>::V v);
template <typename T>
inline T sum_run(const T* src, int64_t n) {  // sum of a run, in vectors (4 independent chains)
  using V = typename Simd<T>::V;
  constexpr int L = Simd<T>::L;
  V acc[4] = {};
  int64_t i = 0;
  for (; i + 4 * L <= n; i += 4 * L)
    for (int j = 0; j < 4; ++j) acc[j] += vload(src + i + j * L);
  T s = hsum<T>((acc[0] + acc[1]) + (acc[2] + acc[3]));
  for (; i < n; ++i) s += src[i];
  return s;
}
template <typename T>
inline T hsum(typename Simd<T>::V v) {  // sum of the lanes, pairwise
  constexpr int L = Simd<T>::L;
  T b[L];
  std::memcpy(b, &v, sizeof(v));
  for (int w = L / 2; w >= 1; w /= 2) {
    for (int l = 0; l < w; ++l) b[l] += b[l + w];
  }
  return b[0];
}

// ------------------------------------------------------------------------------------------------
// Correlations and windows of the direct path (stride 1)
// ------------------------------------------------------------------------------------------------

// A stride-1 correlation, the form shared by the forward pass and the input gradient. Per group g:
//   dst[n, g*Ct + t, o] = bias[g*Ct + t] + sum_{s < Cs, k < kvol} A_g[t][s*kvol + k] *
//                         src[n, g*Cs + s, o - pad + k*dil]      (per spatial axis; 0 outside src)
// Forward: src = x, dst = y, A = W, pad = padding.
// Input gradient: src = gy, dst = gx, A_g[ci][co*kvol + k] = W[co][ci][kvol-1-k] (transposed and
// flipped), pad = dil*(k-1) - padding (negative pad: the correlation starts inside src).
struct Corr {
  int64_t N, groups, Cs, Ct;
  int64_t src[3], dst[3], kernel[3], dil[3], pad[3];
  bool accumulate = false;  // dst += the sum (no bias) instead of dst = bias + the sum
  int64_t kvol() const { return kernel[0] * kernel[1] * kernel[2]; }
};

inline Corr forward_corr(const ConvGeometry& g) {
  Corr c{g.N, g.groups, g.Cin / g.groups, g.Cout / g.groups, {}, {}, {}, {}, {}};
  for (int a = 0; a < 3; ++a) {
    c.src[a] = g.in[a];
    c.dst[a] = g.out[a];
    c.kernel[a] = g.kernel[a];
    c.dil[a] = g.dilation[a];
    c.pad[a] = g.padding[a];
  }
  return c;
}

inline Corr input_grad_corr(const ConvGeometry& g) {
  Corr c{g.N, g.groups, g.Cout / g.groups, g.Cin / g.groups, {}, {}, {}, {}, {}};
  for (int a = 0; a < 3; ++a) {
    c.src[a] = g.out[a];
    c.dst[a] = g.in[a];
    c.kernel[a] = g.kernel[a];
    c.dil[a] = g.dilation[a];
    c.pad[a] = g.dilation[a] * (g.kernel[a] - 1) - g.padding[a];
  }
  return c;
}

// The window of a task: the source region that a block of bd output planes x bh output rows (all
// of W) reads, for cb source channels, zero-padded:
//   win[c][a][b][e] = src[c, d0 - pad_D + a, h0 - pad_H + b, e - pad_W]  (0 outside src),
//   a < WD = bd + (kD-1)*dil_D,  b < WH = bh + (kH-1)*dil_H,  e < WW = round_up(oW, L) +
//   (kW-1)*dil_W.
// Output (od, oh, ow) of the block reads, through tap k = (c, kd, kh, kw), the element at
//   base(od, oh, ow) + koff[k],  base = ((od - d0) * WH + (oh - h0)) * WW + ow,
//   koff[k] = ((c * WD + kd*dil_D) * WH + kh*dil_H) * WW + kw*dil_W,
// so a vector of L consecutive outputs along W reads L consecutive window elements per tap. Rows
// are rounded up to whole vectors (the extra lanes are computed and dropped).
struct Window {
  int64_t bd, bh, cb;  // output planes and rows per block; source channels per block
  int64_t WD, WH, WW;
  std::vector<int64_t> koff;  // cb * kvol tap offsets

  Window(const Corr& c, int L, int64_t bd_, int64_t bh_, int64_t cb_) : bd(bd_), bh(bh_), cb(cb_) {
    WD = bd + (c.kernel[0] - 1) * c.dil[0];
    WH = bh + (c.kernel[1] - 1) * c.dil[1];
    WW = ceil_div(c.dst[2], L) * L + (c.kernel[2] - 1) * c.dil[2];
    for (int64_t ch = 0; ch < cb; ++ch)
      for (int64_t kd = 0; kd < c.kernel[0]; ++kd)
        for (int64_t kh = 0; kh < c.kernel[1]; ++kh)
          for (int64_t kw = 0; kw < c.kernel[2]; ++kw)
            koff.push_back(((ch * WD + kd * c.dil[0]) * WH + kh * c.dil[1]) * WW + kw * c.dil[2]);
  }
  int64_t elems() const { return cb * WD * WH * WW; }
  // Window elements per channel for a block of bd x bh outputs.
  static int64_t channel_elems(const Corr& c, int L, int64_t bd, int64_t bh) {
    return (bd + (c.kernel[0] - 1) * c.dil[0]) * (bh + (c.kernel[1] - 1) * c.dil[1]) *
           (ceil_div(c.dst[2], L) * L + (c.kernel[2] - 1) * c.dil[2]);
  }

  // Fills win for source channels src[0 .. nch) (src points at the first one) and the block whose
  // first output plane and row are d0, h0.
  template <typename T>
  void fill(const Corr& c, const T* src, int64_t nch, int64_t d0, int64_t h0, T* win) const {
    const int64_t SD = c.src[0], SH = c.src[1], SW = c.src[2];
    const int64_t e_lo = std::clamp<int64_t>(c.pad[2], 0, WW);  // window columns that hold src
    const int64_t e_hi = std::clamp<int64_t>(c.pad[2] + SW, e_lo, WW);
    for (int64_t ch = 0; ch < nch; ++ch) {
      for (int64_t a = 0; a < WD; ++a) {
        const int64_t sd = d0 - c.pad[0] + a;
        for (int64_t b = 0; b < WH; ++b) {
          const int64_t sh = h0 - c.pad[1] + b;
          T* row = win + ((ch * WD + a) * WH + b) * WW;
          if (sd < 0 || sd >= SD || sh < 0 || sh >= SH) {
            fill_run(row, WW, T(0));
            continue;
          }
          const T* srow =
              src + ((ch * SD + sd) * SH + sh) * SW;  // window column e = src column e - pad
          fill_run(row, e_lo, T(0));
          copy_run(srow + (e_lo - c.pad[2]), e_hi - e_lo, row + e_lo);
          fill_run(row + e_hi, WW - e_hi, T(0));
        }
      }
    }
  }
};

// One vector of up to L consecutive outputs along W inside a block.
struct OutVec {
  int64_t win;    // window offset of its first output (base above)
  int64_t dst;    // offset of its first output in a dst channel, (od * oH + oh) * oW + ow
  int64_t lanes;  // valid outputs, <= L
};

// Lists the output vectors of the block [d0, d1) x [h0, h1) x [0, oW) in row-major order.
inline void block_vectors(const Corr& c, const Window& w, int L, int64_t d0, int64_t d1, int64_t h0,
                          int64_t h1, std::vector<OutVec>& vecs) {
  vecs.clear();
  for (int64_t od = d0; od < d1; ++od)
    for (int64_t oh = h0; oh < h1; ++oh)
      for (int64_t ow = 0; ow < c.dst[2]; ow += L)
        vecs.push_back({((od - d0) * w.WH + (oh - h0)) * w.WW + ow,
                        (od * c.dst[1] + oh) * c.dst[2] + ow, std::min<int64_t>(L, c.dst[2] - ow)});
}

// Lists the outputs of the same block one by one (lanes = 1), in row-major order: the positions
// tiling of the direct path.
inline void block_positions(const Corr& c, const Window& w, int64_t d0, int64_t d1, int64_t h0,
                            int64_t h1, std::vector<OutVec>& pos) {
  pos.clear();
  for (int64_t od = d0; od < d1; ++od)
    for (int64_t oh = h0; oh < h1; ++oh)
      for (int64_t ow = 0; ow < c.dst[2]; ++ow)
        pos.push_back(
            {((od - d0) * w.WH + (oh - h0)) * w.WW + ow, (od * c.dst[1] + oh) * c.dst[2] + ow, 1});
}

inline std::vector<OutVec>& thread_vectors() {
  thread_local std::vector<OutVec> vecs;
  return vecs;
}

// The phase columns jw of one stride phase along W that are input columns (not padding): jw in
// [*lo, *hi) reads input column s * jw + off, off = r - pad (see gather_phase).
inline void phase_columns(int64_t in, int64_t pad, int64_t s, int64_t r, int64_t J, int64_t* lo,
                          int64_t* hi) {
  const int64_t off = r - pad;  // input column of jw = 0
  *lo = std::min(J, off >= 0 ? 0 : ceil_div(-off, s));
  *hi = std::max(*lo, std::min(J, ceil_div(in - off, s)));
}

// One channel of one stride phase of the zero-padded input of a strided conv (the polyphase and
// phase-split paths): per axis a, phase element j reads padded position s[a] * j + r[a]:
//   dst[jd][jh][jw] = xc[sD*jd + rD - padD][sH*jh + rH - padH][sW*jw + rW - padW]
// for j < J (per axis), 0 where that position is padding or beyond the input. xc: one input
// channel, in[0] x in[1] x in[2]; dst: J[0] x J[1] x J[2]. The index arithmetic is per row; along
// W, padding (0) for jw < jw_lo and jw >= jw_hi and a branch-free strided copy in between.
template <typename T>
void gather_phase(const T* xc, const int64_t in[3], const int64_t pad[3], const int64_t s[3],
                  const int64_t r[3], const int64_t J[3], T* dst) {
  const int64_t off = r[2] - pad[2];  // input column of jw = 0
  int64_t jw_lo, jw_hi;
  phase_columns(in[2], pad[2], s[2], r[2], J[2], &jw_lo, &jw_hi);
  for (int64_t jd = 0; jd < J[0]; ++jd) {
    for (int64_t jh = 0; jh < J[1]; ++jh) {
      T* row = dst + (jd * J[1] + jh) * J[2];
      const int64_t d = s[0] * jd + r[0] - pad[0], h = s[1] * jh + r[1] - pad[1];
      if (d < 0 || d >= in[0] || h < 0 || h >= in[1]) {
        fill_run(row, J[2], T(0));
        continue;
      }
      const T* src = xc + (d * in[1] + h) * in[2];
      fill_run(row, jw_lo, T(0));
      for (int64_t jw = jw_lo; jw < jw_hi; ++jw) row[jw] = src[s[2] * jw + off];
      fill_run(row + jw_hi, J[2] - jw_hi, T(0));
    }
  }
}

// The reverse of gather_phase: copies every element of one phase channel src (J[0] x J[1] x J[2])
// that is an input position into the input channel gxc (in[0] x in[1] x in[2]); padding
// positions are dropped and nothing else of gxc is written.
template <typename T>
void scatter_phase(const T* src, const int64_t in[3], const int64_t pad[3], const int64_t s[3],
                   const int64_t r[3], const int64_t J[3], T* gxc) {
  const int64_t off = r[2] - pad[2];  // input column of jw = 0
  int64_t jw_lo, jw_hi;
  phase_columns(in[2], pad[2], s[2], r[2], J[2], &jw_lo, &jw_hi);
  for (int64_t jd = 0; jd < J[0]; ++jd) {
    const int64_t d = s[0] * jd + r[0] - pad[0];
    if (d < 0 || d >= in[0]) continue;
    for (int64_t jh = 0; jh < J[1]; ++jh) {
      const int64_t h = s[1] * jh + r[1] - pad[1];
      if (h < 0 || h >= in[1]) continue;
      const T* srow = src + (jd * J[1] + jh) * J[2];
      T* drow = gxc + (d * in[1] + h) * in[2];
      for (int64_t jw = jw_lo; jw < jw_hi; ++jw) drow[s[2] * jw + off] = srow[jw];
    }
  }
}

inline bool is_unit_stride(const ConvGeometry& g) {
  return g.stride[0] == 1 && g.stride[1] == 1 && g.stride[2] == 1;
}

// ------------------------------------------------------------------------------------------------
// The kernels of each path, called by the public functions of conv.cpp (same contracts as
// conv.h). Instantiated for float and double in their files.
// ------------------------------------------------------------------------------------------------

// conv_direct.cpp: stride 1 on every axis. The register tiling (see conv_direct.cpp) is chosen
// from the geometry (kAuto); tests force each one (both give bit-identical results).
enum class DirectTiling { kAuto, kRows, kPositions };
// accumulate: y += the conv, b ignored, instead of y = b + the conv (the phase-split path sums
// its phases' convs this way).
template <typename T>
void direct_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y,
                    DirectTiling tiling = DirectTiling::kAuto, bool accumulate = false);
template <typename T>
void direct_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx,
                           DirectTiling tiling = DirectTiling::kAuto);
// The tiling kAuto picks for the forward pass (input_gradient false) or the input gradient.
template <typename T>
DirectTiling chosen_tiling(const ConvGeometry& g, bool input_gradient);
// conv_weight_grad.cpp: stride 1 on every axis; also sums gb (when not nullptr).
template <typename T>
void direct_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb);
// conv_polyphase.cpp: a stride other than 1 somewhere, dilation 1 and kernel % stride == 0 on every
// axis (polyphase_eligible), rewritten as one stride-1 conv on the phases of the input and run on
// the direct kernels. polyphase_backward_weight also sums gb (when not nullptr).
bool polyphase_eligible(const ConvGeometry& g);
template <typename T>
void polyphase_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
template <typename T>
void polyphase_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx);
template <typename T>
void polyphase_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb);
// conv_phase_split.cpp: the other strided convs with dilation 1 (phase_split_eligible; e.g. kernel
// 3 stride 2), as a sum of stride-1 convs, one per phase of the input, each with its own taps, run
// on the direct kernels. phase_split_backward_weight also sums gb (when not nullptr).
bool phase_split_eligible(const ConvGeometry& g);
template <typename T>
void phase_split_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
template <typename T>
void phase_split_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx);
template <typename T>
void phase_split_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb);
// conv_gemm.cpp: any stride.
template <typename T>
void gemm_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y);
template <typename T>
void gemm_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx);
template <typename T>
void gemm_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw);
template <typename T>
void bias_grad(const ConvGeometry& g, const T* gy, T* gb);

}  // namespace ldae::cpu::conv_detail
