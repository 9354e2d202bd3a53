// The direct path of the CPU convolution (stride 1 on every axis): forward pass and input
// gradient, both as one stride-1 correlation (Corr in conv_common.h) computed with register-tiled
// SIMD micro-kernels over a zero-padded window of the input. No im2col. See the overview at the
// top of tensor/cpu/conv.cpp.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tensor/cpu/conv_common.h"

namespace ldae::cpu::conv_detail {

namespace {

// Taps are walked in this many steps so that the B vectors one step reads for all row tiles stay
// in L1 (128 taps x 3 vectors x 64 B = 24 KiB).
constexpr int64_t kTapBlock = 128;

// Output block of a task, bd planes x bh rows (x all of W): among the blocks whose window fits
// kWindowBytes (bytes_per_elem = channels * sizeof(T)) and that leave at least min_tasks tasks
// (when the volume has that many rows), the one that copies the least into windows in total. A
// window re-reads a halo of (k-1)*dil planes and rows around its block, which matters when there
// is little arithmetic per copied element (few target channels).
void choose_blocks(const Corr& c, int L, int64_t bytes_per_elem, int64_t min_tasks, int64_t& bd,
                   int64_t& bh) {
  const int64_t items = c.N * c.groups;
  min_tasks = std::min(min_tasks, items * c.dst[0] * c.dst[1]);
  double best = -1;
  bd = bh = 1;
  for (int64_t h = 1; h <= c.dst[1]; ++h) {
    for (int64_t d = 1; d <= c.dst[0]; ++d) {
      if (Window::channel_elems(c, L, d, h) * bytes_per_elem > kWindowBytes && (d > 1 || h > 1))
        break;
      const int64_t nd = ceil_div(c.dst[0], d), nh = ceil_div(c.dst[1], h);
      if (items * nd * nh < min_tasks) break;
      const double copied = static_cast<double>(nd * nh) * Window::channel_elems(c, L, d, h);
      if (best < 0 || copied < best) {
        best = copied;
        bd = d;
        bh = h;
      }
    }
  }
}

// Micro-kernel of the forward / input-gradient correlation: one register tile of MR target
// channels x NV output vectors (L outputs each), over kn taps:
//   c[i][v] (+)= sum_k a[k * MR + i] * b[v][koff[k] .. + L)
// a: the packed weights (MR values per tap); b[v]: window pointers of the NV output vectors.
// Tile element (i, v) lives at c + i * ldc + coff[v]: either straight in dst (ldc = the dst channel
// stride, coff = the vectors' dst offsets) or in a scratch tile. It starts from c when `load` is
// set, else from bias[i] (or 0 when bias is nullptr).
// Per tap: NV vector loads, MR broadcasts and MR*NV fused multiply-adds; the MR*NV accumulators
// stay in registers for the whole loop.
template <typename T, int MR, int NV>
void tile_rows(int64_t kn, const T* __restrict a, const int64_t* __restrict koff,
               const T* const* bptr, T* c, int64_t ldc, const int64_t* coff, bool load,
               const T* bias) {
  using V = typename Simd<T>::V;
  V acc[MR][NV];
  for (int i = 0; i < MR; ++i) {
    for (int v = 0; v < NV; ++v) {
      acc[i][v] = load ? vload(c + i * ldc + coff[v]) : V{} + (bias ? bias[i] : T(0));
    }
  }
  const T* b[NV];
  for (int v = 0; v < NV; ++v) b[v] = bptr[v];
  for (int64_t k = 0; k < kn; ++k) {
    const int64_t o = koff[k];
    V bv[NV];
    for (int v = 0; v < NV; ++v) bv[v] = vload(b[v] + o);
    for (int i = 0; i < MR; ++i) {
      const T s = a[k * MR + i];
      for (int v = 0; v < NV; ++v) acc[i][v] += s * bv[v];
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int v = 0; v < NV; ++v) vstore(c + i * ldc + coff[v], acc[i][v]);
}

// dst = the correlation c of src with weights a_of(g, t, k) (= A_g[t][k]) plus bias (or nullptr).
// Tasks: (n, group, block of bd output planes x bh rows); per task one window, then register
// tiles of MR target channels x NV output vectors (tile_rows).
// Loop order inside a task: output vectors (NV at a time) > tap blocks (kTapBlock taps) > row
// tiles, so the window data of one tap block is reused from L1 by all row tiles. Full tiles are
// accumulated straight in dst; tiles with padded rows or lanes (Ct % MR, oW % L, the last vectors)
// live in a scratch tile and are copied out at the end.
// Source channels are processed in blocks of cb (all of them unless the packed weights or the
// window would exceed their budget); blocks after the first accumulate into dst.
template <typename T, int MR, int NV, typename AFn>
void correlate(const Corr& c, const T* src, const AFn& a_of, const T* bias, T* dst) {
  constexpr int L = Simd<T>::L;
  const int64_t kvol = c.kvol(), Mt = ceil_div(c.Ct, MR);  // Mt row tiles of MR target channels
  const int64_t Psrc = c.src[0] * c.src[1] * c.src[2], Pdst = c.dst[0] * c.dst[1] * c.dst[2];
  const int nthreads = thread_count();
  const int64_t esize = sizeof(T);

  // Blocking. cb: the packed weights of cb source channels and a one-row window fit their
  // budgets (all channels, in practice). Then the block of output planes x rows per task.
  int64_t cb =
      std::min(c.Cs, std::max<int64_t>(1, kPackBytes / (c.groups * Mt * MR * kvol * esize)));
  cb = std::min(cb,
                std::max<int64_t>(1, kWindowBytes / (Window::channel_elems(c, L, 1, 1) * esize)));
  int64_t bd = 1, bh = 1;
  choose_blocks(c, L, cb * esize, 4 * nthreads, bd, bh);
  const Window w(c, L, bd, bh, cb);
  const int64_t ndb = ceil_div(c.dst[0], bd), nhb = ceil_div(c.dst[1], bh);
  const int64_t ntasks = c.N * c.groups * ndb * nhb;
  T* apack = scratch<T, kTagPack>(c.groups * Mt * MR * cb * kvol);  // shared by the threads
  std::vector<T> bpad;  // bias padded to whole row tiles per group (padded rows read 0)
  if (bias != nullptr) {
    bpad.assign(static_cast<size_t>(c.groups * Mt * MR), T(0));
    for (int64_t g = 0; g < c.groups; ++g)
      std::copy_n(bias + g * c.Ct, c.Ct, bpad.begin() + g * Mt * MR);
  }
  int64_t tile_off[NV];  // vector offsets inside a scratch tile
  for (int v = 0; v < NV; ++v) tile_off[v] = v * L;

#pragma omp parallel
  {
    T* win = scratch<T, kTagWindow>(w.elems());
    T* tile = scratch<T, kTagTile>(Mt * MR * NV * L);  // scratch row tiles, (MR, NV) vectors each
    std::vector<OutVec>& vecs = thread_vectors();
    for (int64_t c0 = 0; c0 < c.Cs; c0 += cb) {
      const int64_t nc = std::min(cb, c.Cs - c0), K = nc * kvol;  // taps of this channel block
      // Pack the weights of this channel block: apack[g][t][k][i] = A_g[t*MR + i][c0*kvol + k],
      // zero rows beyond Ct. The row tile's MR values for one tap are then adjacent.
#pragma omp for schedule(static)
      for (int64_t gt = 0; gt < c.groups * Mt; ++gt) {
        const int64_t g = gt / Mt, t = gt % Mt;
        T* p = apack + gt * K * MR;
        for (int64_t k = 0; k < K; ++k)
          for (int i = 0; i < MR; ++i)
            p[k * MR + i] = t * MR + i < c.Ct ? a_of(g, t * MR + i, c0 * kvol + k) : T(0);
      }
#pragma omp for schedule(dynamic, 1)
      for (int64_t task = 0; task < ntasks; ++task) {
        const int64_t n = task / (c.groups * ndb * nhb), g = task / (ndb * nhb) % c.groups;
        const int64_t d0 = task / nhb % ndb * bd, h0 = task % nhb * bh;
        const int64_t d1 = std::min(c.dst[0], d0 + bd), h1 = std::min(c.dst[1], h0 + bh);
        w.fill(c, src + ((n * c.groups + g) * c.Cs + c0) * Psrc, nc, d0, h0, win);
        block_vectors(c, w, L, d0, d1, h0, h1, vecs);
        const int64_t nvec = static_cast<int64_t>(vecs.size());
        T* dg = dst + (n * c.groups + g) * c.Ct * Pdst;  // (Ct, dst spatial) of this (n, g)
        const T* ag = apack + g * Mt * K * MR;
        const T* bg = bias != nullptr && c0 == 0 ? bpad.data() + g * Mt * MR : nullptr;
        for (int64_t j = 0; j < nvec; j += NV) {
          const int64_t nj = std::min<int64_t>(NV, nvec - j);
          const T* bptr[NV];
          int64_t dst_off[NV];
          bool full_lanes = nj == NV;
          for (int v = 0; v < NV; ++v) {
            const OutVec& ov = vecs[j + std::min<int64_t>(v, nj - 1)];
            bptr[v] = win + ov.win;
            dst_off[v] = ov.dst;
            full_lanes = full_lanes && ov.lanes == L;
          }
          // Row tile t is "direct" (accumulated in dst) when all its rows and lanes exist, else it
          // lives in tile + t * MR * NV * L.
          auto direct = [&](int64_t t) { return full_lanes && (t + 1) * MR <= c.Ct; };
          if (c0 > 0) {  // scratch tiles start from what dst holds so far
            for (int64_t t = 0; t < Mt; ++t) {
              if (direct(t)) continue;
              T* tt = tile + t * MR * NV * L;
              std::fill(tt, tt + MR * NV * L, T(0));
              for (int64_t i = 0; i < MR && t * MR + i < c.Ct; ++i)
                for (int64_t v = 0; v < nj; ++v)
                  copy_run(dg + (t * MR + i) * Pdst + vecs[j + v].dst, vecs[j + v].lanes,
                           tt + (i * NV + v) * L);
            }
          }
          for (int64_t k0 = 0; k0 < K; k0 += kTapBlock) {
            const int64_t kn = std::min(kTapBlock, K - k0);
            const bool load = c0 > 0 || k0 > 0;
            for (int64_t t = 0; t < Mt; ++t) {
              const T* a = ag + (t * K + k0) * MR;
              const T* bt = bg != nullptr ? bg + t * MR : nullptr;
              if (direct(t)) {
                tile_rows<T, MR, NV>(kn, a, w.koff.data() + k0, bptr, dg + t * MR * Pdst, Pdst,
                                     dst_off, load, bt);
              } else {
                tile_rows<T, MR, NV>(kn, a, w.koff.data() + k0, bptr, tile + t * MR * NV * L,
                                     NV * L, tile_off, load, bt);
              }
            }
          }
          for (int64_t t = 0; t < Mt; ++t) {
            if (direct(t)) continue;
            for (int64_t i = 0; i < MR && t * MR + i < c.Ct; ++i)
              for (int64_t v = 0; v < nj; ++v)
                copy_run(tile + (t * MR + i) * NV * L + v * L, vecs[j + v].lanes,
                         dg + (t * MR + i) * Pdst + vecs[j + v].dst);
          }
        }
      }
    }
  }
}

// Picks the register tile for Ct target channels: MR rows (channels) x NV vectors, MR*NV = the
// accumulator registers. Few target channels (e.g. the input gradient of a 1-channel first layer)
// get short, wide tiles instead of mostly-empty tall ones.
template <typename T, typename AFn>
void correlate_any(const Corr& c, const T* src, const AFn& a_of, const T* bias, T* dst) {
  if (kAccRegs >= 24 && c.Ct >= 8) {
    correlate<T, 8, kAccRegs / 8>(c, src, a_of, bias, dst);
  } else if (c.Ct >= 4) {
    correlate<T, 4, kAccRegs / 4>(c, src, a_of, bias, dst);
  } else if (c.Ct >= 2) {
    correlate<T, 2, std::min(8, kAccRegs / 2)>(c, src, a_of, bias, dst);
  } else {
    correlate<T, 1, kAccRegs * 2 / 3>(c, src, a_of, bias, dst);
  }
}

// Position blocks of the weight gradient, bd planes x bh rows: as few as possible, of even size

}  // namespace

template <typename T>
void direct_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t Mg = g.Cout / g.groups;
  const int64_t Kg = (g.Cin / g.groups) * g.kernel[0] * g.kernel[1] * g.kernel[2];
  // A_g[co][k] = W[g*Mg + co][k], k = (ci, kd, kh, kw).
  auto a_of = [=](int64_t grp, int64_t co, int64_t k) { return w[(grp * Mg + co) * Kg + k]; };
  correlate_any<T>(forward_corr(g), x, a_of, b, y);
}

template <typename T>
void direct_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx) {
  const int64_t Mg = g.Cout / g.groups, Cin_g = g.Cin / g.groups;
  const int64_t kvol = g.kernel[0] * g.kernel[1] * g.kernel[2];
  // A_g[ci][co*kvol + k] = W[g*Mg + co][ci][kvol-1-k]: transposed, kernel flipped on all axes.
  auto a_of = [=](int64_t grp, int64_t ci, int64_t k) {
    const int64_t co = k / kvol, kk = k % kvol;
    return w[((grp * Mg + co) * Cin_g + ci) * kvol + (kvol - 1 - kk)];
  };
  correlate_any<T>(input_grad_corr(g), gy, a_of, static_cast<const T*>(nullptr), gx);
}

template void direct_forward<float>(const ConvGeometry&, const float*, const float*, const float*,
                                    float*);
template void direct_forward<double>(const ConvGeometry&, const double*, const double*,
                                     const double*, double*);
template void direct_backward_input<float>(const ConvGeometry&, const float*, const float*, float*);
template void direct_backward_input<double>(const ConvGeometry&, const double*, const double*,
                                            double*);

}  // namespace ldae::cpu::conv_detail
