// The direct path of the CPU convolution (stride 1 on every axis): forward pass and input
// gradient, both as one stride-1 correlation (Corr in conv_common.h) computed with register-tiled
// SIMD micro-kernels over a zero-padded window of the input. No im2col. See the overview at the
// top of tensor/cpu/conv.cpp.
//
// Two register tilings of the same sums (DirectTiling):
//   rows       MR target channels x NV vectors of L outputs along W (weights broadcast). Wastes
//              lanes when W is not a multiple of L (W = 7: 1 lane in 8; W = 9: 7 lanes in 16) and
//              vector slots when a task has few rows.
//   positions  NP output positions (any, e.g. all of a small volume in a row) x CV vectors of L
//              target channels (window values broadcast). Wastes nothing when Ct is a multiple of
//              CV * L: the small-volume, many-channel convs (the discriminator's deep layers, the
//              UNet's coarse levels, the polyphase convs' phases).
// Both add, for every output element, the bias and then tap by tap the same products in the same
// order with fused multiply-adds, so they give bit-identical results; choose_tiling picks the one
// with the lower estimated cost for the geometry.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tensor/cpu/conv_common.h"

namespace ldae::cpu::conv_detail {

namespace {

// Taps are walked in this many steps so that the B vectors one step reads for all row tiles stay
// in L1 (128 taps x 3 vectors x 64 B = 24 KiB).
constexpr int64_t kTapBlock = 128;
// The scratch tile of a chunk of output positions in the positions tiling (all target channels).
constexpr int64_t kPositionTileBytes = int64_t{128} << 10;

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

// Micro-kernel of the positions tiling: one register tile of NP output positions x CV vectors
// of L target channels (MR = CV * L), over kn taps:
//   c[p][v] += sum_k b[p][koff[k]] * a[k * MR + v * L .. + L)
// a: the packed weights (MR values per tap); b[p]: the window pointer of output position p.
// The tile lives in a scratch buffer, position p's MR values at c + p * MR; it is loaded first and
// stored at the end. Per tap: CV vector loads, NP broadcasts and NP*CV fused multiply-adds.
template <typename T, int CV, int NP>
void tile_positions(int64_t kn, const T* __restrict a, const int64_t* __restrict koff,
                    const T* const* bptr, T* c) {
  using V = typename Simd<T>::V;
  constexpr int L = Simd<T>::L, MR = CV * L;
  V acc[NP][CV];
  for (int p = 0; p < NP; ++p)
    for (int v = 0; v < CV; ++v) acc[p][v] = vload(c + p * MR + v * L);
  const T* b[NP];
  for (int p = 0; p < NP; ++p) b[p] = bptr[p];
  for (int64_t k = 0; k < kn; ++k) {
    const int64_t o = koff[k];
    V av[CV];
    for (int v = 0; v < CV; ++v) av[v] = vload(a + k * MR + v * L);
    for (int p = 0; p < NP; ++p) {
      const T s = b[p][o];
      for (int v = 0; v < CV; ++v) acc[p][v] += s * av[v];
    }
  }
  for (int p = 0; p < NP; ++p)
    for (int v = 0; v < CV; ++v) vstore(c + p * MR + v * L, acc[p][v]);
}

// The blocking of a correlation whose target channels are cut into Mt tiles of MR: cb source
// channels per block (the packed weights of cb source channels and a one-row window fit their
// budgets: all channels, in practice; blocks after the first accumulate into dst), then tasks of
// bd output planes x bh rows (choose_blocks), ndb x nhb of them per (n, group).
struct CorrBlocks {
  int64_t Mt, cb, bd, bh, ndb, nhb, ntasks;
};

CorrBlocks corr_blocks(const Corr& c, int L, int64_t MR, int64_t esize) {
  CorrBlocks k{};
  k.Mt = ceil_div(c.Ct, MR);
  k.cb =
      std::min(c.Cs, std::max<int64_t>(1, kPackBytes / (c.groups * k.Mt * MR * c.kvol() * esize)));
  k.cb = std::min(k.cb,
                  std::max<int64_t>(1, kWindowBytes / (Window::channel_elems(c, L, 1, 1) * esize)));
  choose_blocks(c, L, k.cb * esize, 4 * thread_count(), k.bd, k.bh);
  k.ndb = ceil_div(c.dst[0], k.bd);
  k.nhb = ceil_div(c.dst[1], k.bh);
  k.ntasks = c.N * c.groups * k.ndb * k.nhb;
  return k;
}

// The weight matrix A_g[t][s * kvol + k] of a correlation (target channel t, source channel s, tap
// k) as a view of the conv weights w: the element at
//   w[g * group_stride + t * target_stride + s * source_stride + (flip ? kvol - 1 - k : k)].
// Forward: A_g[co][ci*kvol + k] = W[g*Mg + co][ci][k]. Input gradient: A_g[ci][co*kvol + k] =
// W[g*Mg + co][ci][kvol-1-k] (transposed, kernel flipped on all axes).
template <typename T>
struct WeightMatrix {
  const T* w;
  int64_t group_stride, target_stride, source_stride;
  bool flip;
};

// Packs the weights of source channels [c0, c0 + nc) for tiles of MR target channels:
// apack[g][t][k][i] = A_g[t*MR + i][c0*kvol + k], zero for rows beyond Ct, so that a tile's MR
// values for one tap are adjacent. Reads each (target, source) channel pair's kvol weights as one
// contiguous run. Shares the work among the threads of the enclosing parallel region (an omp for,
// with its barrier).
template <typename T, int MR>
void pack_weights(const Corr& c, const WeightMatrix<T>& a, int64_t Mt, int64_t c0, int64_t nc,
                  T* apack) {
  const int64_t kvol = c.kvol(), K = nc * kvol;
#pragma omp for schedule(static)
  for (int64_t gt = 0; gt < c.groups * Mt; ++gt) {
    const int64_t g = gt / Mt, t = gt % Mt;
    T* p = apack + gt * K * MR;
    for (int i = 0; i < MR; ++i) {
      const int64_t row = t * MR + i;
      for (int64_t s = 0; s < nc; ++s) {
        T* ps = p + s * kvol * MR + i;  // tap k of this source channel at ps[k * MR]
        if (row >= c.Ct) {
          for (int64_t k = 0; k < kvol; ++k) ps[k * MR] = T(0);
          continue;
        }
        const T* src =
            a.w + g * a.group_stride + row * a.target_stride + (c0 + s) * a.source_stride;
        for (int64_t k = 0; k < kvol; ++k) ps[k * MR] = src[a.flip ? kvol - 1 - k : k];
      }
    }
  }
}

// The bias padded to whole tiles of MR rows per group (padded rows read 0); empty without bias.
template <typename T>
std::vector<T> padded_bias(const Corr& c, const T* bias, int64_t Mt, int64_t MR) {
  std::vector<T> bpad;
  if (bias == nullptr) return bpad;
  bpad.assign(static_cast<size_t>(c.groups * Mt * MR), T(0));
  for (int64_t g = 0; g < c.groups; ++g)
    std::copy_n(bias + g * c.Ct, c.Ct, bpad.begin() + g * Mt * MR);
  return bpad;
}

// The (n, group, first plane, first row) of a task, and its block's end plane and row.
struct CorrTask {
  int64_t n, g, d0, d1, h0, h1;
};
CorrTask corr_task(const Corr& c, const CorrBlocks& k, int64_t task) {
  CorrTask t{};
  t.n = task / (c.groups * k.ndb * k.nhb);
  t.g = task / (k.ndb * k.nhb) % c.groups;
  t.d0 = task / k.nhb % k.ndb * k.bd;
  t.h0 = task % k.nhb * k.bh;
  t.d1 = std::min(c.dst[0], t.d0 + k.bd);
  t.h1 = std::min(c.dst[1], t.h0 + k.bh);
  return t;
}

// dst = the correlation c of src with the weight matrix a (A_g[t][k]) plus bias (or nullptr),
// rows tiling. Tasks: (n, group, block of bd output planes x bh rows); per task one window, then
// register tiles of MR target channels x NV output vectors (tile_rows).
// Loop order inside a task: output vectors (NV at a time) > tap blocks (kTapBlock taps) > row
// tiles, so the window data of one tap block is reused from L1 by all row tiles. Full tiles are
// accumulated straight in dst; tiles with padded rows or lanes (Ct % MR, oW % L, the last vectors)
// live in a scratch tile and are copied out at the end.
template <typename T, int MR, int NV>
void correlate_rows(const Corr& c, const T* src, const WeightMatrix<T>& a, const T* bias, T* dst) {
  constexpr int L = Simd<T>::L;
  const int64_t Pdst = c.dst[0] * c.dst[1] * c.dst[2];
  const int64_t Psrc = c.src[0] * c.src[1] * c.src[2];
  const CorrBlocks kb = corr_blocks(c, L, MR, sizeof(T));
  const int64_t Mt = kb.Mt, cb = kb.cb;
  const Window w(c, L, kb.bd, kb.bh, cb);
  T* apack = scratch<T, kTagPack>(c.groups * Mt * MR * cb * c.kvol());  // shared by the threads
  const std::vector<T> bpad = padded_bias(c, bias, Mt, MR);
  int64_t tile_off[NV];  // vector offsets inside a scratch tile
  for (int v = 0; v < NV; ++v) tile_off[v] = v * L;

#pragma omp parallel
  {
    T* win = scratch<T, kTagWindow>(w.elems());
    T* tile = scratch<T, kTagTile>(Mt * MR * NV * L);  // scratch row tiles, (MR, NV) vectors each
    std::vector<OutVec>& vecs = thread_vectors();
    for (int64_t c0 = 0; c0 < c.Cs; c0 += cb) {
      const int64_t nc = std::min(cb, c.Cs - c0), K = nc * c.kvol();  // taps of this block
      pack_weights<T, MR>(c, a, Mt, c0, nc, apack);
#pragma omp for schedule(dynamic, 1)
      for (int64_t task = 0; task < kb.ntasks; ++task) {
        const CorrTask tk = corr_task(c, kb, task);
        w.fill(c, src + ((tk.n * c.groups + tk.g) * c.Cs + c0) * Psrc, nc, tk.d0, tk.h0, win);
        block_vectors(c, w, L, tk.d0, tk.d1, tk.h0, tk.h1, vecs);
        const int64_t nvec = static_cast<int64_t>(vecs.size());
        T* dg = dst + (tk.n * c.groups + tk.g) * c.Ct * Pdst;  // (Ct, dst spatial) of this (n, g)
        const T* ag = apack + tk.g * Mt * K * MR;
        const T* bg = !bpad.empty() && c0 == 0 ? bpad.data() + tk.g * Mt * MR : nullptr;
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
          if (c.accumulate || c0 > 0) {  // scratch tiles start from what dst holds so far
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
            const bool load = c.accumulate || c0 > 0 || k0 > 0;
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

// The same correlation, positions tiling. Per task one window (as correlate_rows); its output
// positions are taken in chunks whose scratch tile (Mt x the chunk's positions x MR values) fits
// kPositionTileBytes. A chunk's tile starts from the bias (or from dst, for source-channel blocks
// after the first), then every tap block, every channel tile and every group of NP positions
// (tile_positions), in that loop order: the weights of one tap block and channel tile stay in L1
// for all the chunk's positions. Then the tile is written to dst (its channels are Pdst apart).
template <typename T, int CV, int NP>
void correlate_positions(const Corr& c, const T* src, const WeightMatrix<T>& a, const T* bias,
                         T* dst) {
  constexpr int L = Simd<T>::L, MR = CV * L;
  const int64_t Pdst = c.dst[0] * c.dst[1] * c.dst[2];
  const int64_t Psrc = c.src[0] * c.src[1] * c.src[2];
  const CorrBlocks kb = corr_blocks(c, L, MR, sizeof(T));
  const int64_t Mt = kb.Mt, cb = kb.cb;
  const Window w(c, L, kb.bd, kb.bh, cb);
  T* apack = scratch<T, kTagPack>(c.groups * Mt * MR * cb * c.kvol());  // shared by the threads
  const std::vector<T> bpad = padded_bias(c, bias, Mt, MR);
  // Positions per chunk: a multiple of NP, at least NP.
  const int64_t chunk = std::max<int64_t>(
      NP, kPositionTileBytes / (Mt * MR * static_cast<int64_t>(sizeof(T))) / NP * NP);

#pragma omp parallel
  {
    T* win = scratch<T, kTagWindow>(w.elems());
    T* tile = scratch<T, kTagTile>(Mt * chunk * MR);  // tile t, position p: (t*chunk + p) * MR
    std::vector<OutVec>& pos = thread_vectors();      // one output each (lanes = 1)
    for (int64_t c0 = 0; c0 < c.Cs; c0 += cb) {
      const int64_t nc = std::min(cb, c.Cs - c0), K = nc * c.kvol();  // taps of this block
      pack_weights<T, MR>(c, a, Mt, c0, nc, apack);
#pragma omp for schedule(dynamic, 1)
      for (int64_t task = 0; task < kb.ntasks; ++task) {
        const CorrTask tk = corr_task(c, kb, task);
        w.fill(c, src + ((tk.n * c.groups + tk.g) * c.Cs + c0) * Psrc, nc, tk.d0, tk.h0, win);
        block_positions(c, w, tk.d0, tk.d1, tk.h0, tk.h1, pos);
        const int64_t npos = static_cast<int64_t>(pos.size());
        T* dg = dst + (tk.n * c.groups + tk.g) * c.Ct * Pdst;  // (Ct, dst spatial) of this (n, g)
        const T* ag = apack + tk.g * Mt * K * MR;
        const T* bg = !bpad.empty() && c0 == 0 ? bpad.data() + tk.g * Mt * MR : nullptr;
        for (int64_t p0 = 0; p0 < npos; p0 += chunk) {
          const int64_t np = std::min(chunk, npos - p0);  // positions of this chunk
          const int64_t ng = ceil_div(np, NP);            // groups of NP (the last one padded)
          // Start values: 0 + bias (as tile_rows), or what dst holds; padded rows and positions 0.
          for (int64_t t = 0; t < Mt; ++t) {
            for (int64_t p = 0; p < ng * NP; ++p) {
              T* tp = tile + (t * chunk + p) * MR;
              for (int64_t i = 0; i < MR; ++i) {
                const int64_t ch = t * MR + i;
                if (ch >= c.Ct || p >= np) {
                  tp[i] = T(0);
                } else if (c.accumulate || c0 > 0) {
                  tp[i] = dg[ch * Pdst + pos[p0 + p].dst];
                } else {
                  tp[i] = T(0) + (bg != nullptr ? bg[ch] : T(0));
                }
              }
            }
          }
          for (int64_t k0 = 0; k0 < K; k0 += kTapBlock) {
            const int64_t kn = std::min(kTapBlock, K - k0);
            for (int64_t t = 0; t < Mt; ++t) {
              const T* a = ag + (t * K + k0) * MR;
              for (int64_t j = 0; j < ng; ++j) {
                const T* bptr[NP];  // padded positions repeat the chunk's last one
                for (int p = 0; p < NP; ++p)
                  bptr[p] = win + pos[p0 + std::min(j * NP + p, np - 1)].win;
                tile_positions<T, CV, NP>(kn, a, w.koff.data() + k0, bptr,
                                          tile + (t * chunk + j * NP) * MR);
              }
            }
          }
          for (int64_t t = 0; t < Mt; ++t)
            for (int64_t p = 0; p < np; ++p)
              for (int64_t i = 0; i < MR && t * MR + i < c.Ct; ++i)
                dg[(t * MR + i) * Pdst + pos[p0 + p].dst] = tile[(t * chunk + p) * MR + i];
        }
      }
    }
  }
}

// The register tiles of each tiling for Ct target channels (MR*NV = CV*NP = the accumulator
// registers). Rows: few target channels (e.g. the input gradient of a 1-channel first layer) get
// short, wide tiles instead of mostly-empty tall ones. Positions: two channel vectors, or one when
// Ct fits one vector.
struct RowsTile {
  int MR, NV;
};
inline RowsTile rows_tile(int64_t Ct) {
  if (kAccRegs >= 24 && Ct >= 8) return {8, kAccRegs / 8};
  if (Ct >= 4) return {4, kAccRegs / 4};
  if (Ct >= 2) return {2, std::min(8, kAccRegs / 2)};
  return {1, kAccRegs * 2 / 3};
}
template <typename T>
int positions_cv(int64_t Ct) {
  return Ct > Simd<T>::L ? 2 : 1;
}

// The tiling with the lower estimated cost for this correlation, in multiply-add lanes: every
// tap of every computed lane, useful or padding. Rows pay for oW rounded up to whole vectors and
// each task's vectors rounded up to NV; positions pay for each task's positions rounded up to NP
// and Ct rounded up to CV * L, plus, per output element and source-channel block, about 2 * L
// lanes for starting its tile and scattering it to dst (which makes them lose when there are
// few taps, e.g. a 1-channel first layer). Rows win ties (their contiguous window loads are the
// proven path of the large volumes).
template <typename T>
DirectTiling choose_tiling(const Corr& c) {
  constexpr int L = Simd<T>::L;
  const RowsTile rt = rows_tile(c.Ct);
  const int cv = positions_cv<T>(c.Ct), np = kAccRegs / cv;
  const CorrBlocks rb = corr_blocks(c, L, rt.MR, sizeof(T));
  const CorrBlocks pb = corr_blocks(c, L, cv * L, sizeof(T));
  // Lanes per tap (summed over the tasks of one (n, group)).
  auto lanes = [&](const CorrBlocks& kb, bool rows) {
    double total = 0;
    for (int64_t d0 = 0; d0 < c.dst[0]; d0 += kb.bd) {
      for (int64_t h0 = 0; h0 < c.dst[1]; h0 += kb.bh) {
        const int64_t nrows =
            (std::min(c.dst[0], d0 + kb.bd) - d0) * (std::min(c.dst[1], h0 + kb.bh) - h0);
        if (rows) {
          const int64_t nvec = nrows * ceil_div(c.dst[2], L);
          total += static_cast<double>(ceil_div(nvec, rt.NV) * rt.NV * L * kb.Mt * rt.MR);
        } else {
          const int64_t npos = nrows * c.dst[2];
          total += static_cast<double>(ceil_div(npos, np) * np * kb.Mt * cv * L);
        }
      }
    }
    return total;
  };
  const double taps = static_cast<double>(c.Cs * c.kvol());
  const double outputs = static_cast<double>(c.Ct * c.dst[0] * c.dst[1] * c.dst[2]);
  const double rows_cost = lanes(rb, true) * taps;
  const double positions_cost =
      lanes(pb, false) * taps + 2.0 * L * outputs * static_cast<double>(ceil_div(c.Cs, pb.cb));
  return positions_cost < rows_cost ? DirectTiling::kPositions : DirectTiling::kRows;
}

// Runs the correlation with the given tiling (kAuto: choose_tiling).
template <typename T>
void correlate(const Corr& c, const T* src, const WeightMatrix<T>& a, const T* bias, T* dst,
               DirectTiling tiling) {
  if (tiling == DirectTiling::kAuto) tiling = choose_tiling<T>(c);
  if (tiling == DirectTiling::kPositions) {
    if (positions_cv<T>(c.Ct) == 2) {
      correlate_positions<T, 2, kAccRegs / 2>(c, src, a, bias, dst);
    } else {
      correlate_positions<T, 1, kAccRegs>(c, src, a, bias, dst);
    }
    return;
  }
  const RowsTile rt = rows_tile(c.Ct);
  if (kAccRegs >= 24 && rt.MR == 8) {
    correlate_rows<T, 8, kAccRegs / 8>(c, src, a, bias, dst);
  } else if (rt.MR == 4) {
    correlate_rows<T, 4, kAccRegs / 4>(c, src, a, bias, dst);
  } else if (rt.MR == 2) {
    correlate_rows<T, 2, std::min(8, kAccRegs / 2)>(c, src, a, bias, dst);
  } else {
    correlate_rows<T, 1, kAccRegs * 2 / 3>(c, src, a, bias, dst);
  }
}

}  // namespace

template <typename T>
void direct_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y,
                    DirectTiling tiling, bool accumulate) {
  const int64_t Mg = g.Cout / g.groups, Cin_g = g.Cin / g.groups;
  const int64_t kvol = g.kernel[0] * g.kernel[1] * g.kernel[2];
  // A_g[co][ci*kvol + k] = W[g*Mg + co][ci][k].
  const WeightMatrix<T> a{w, Mg * Cin_g * kvol, Cin_g * kvol, kvol, false};
  Corr c = forward_corr(g);
  c.accumulate = accumulate;
  correlate<T>(c, x, a, accumulate ? nullptr : b, y, tiling);
}

template <typename T>
void direct_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx,
                           DirectTiling tiling) {
  const int64_t Mg = g.Cout / g.groups, Cin_g = g.Cin / g.groups;
  const int64_t kvol = g.kernel[0] * g.kernel[1] * g.kernel[2];
  // A_g[ci][co*kvol + k] = W[g*Mg + co][ci][kvol-1-k]: transposed, kernel flipped on all axes.
  const WeightMatrix<T> a{w, Mg * Cin_g * kvol, kvol, Cin_g * kvol, true};
  correlate<T>(input_grad_corr(g), gy, a, static_cast<const T*>(nullptr), gx, tiling);
}

template <typename T>
DirectTiling chosen_tiling(const ConvGeometry& g, bool input_gradient) {
  return choose_tiling<T>(input_gradient ? input_grad_corr(g) : forward_corr(g));
}

template DirectTiling chosen_tiling<float>(const ConvGeometry&, bool);
template DirectTiling chosen_tiling<double>(const ConvGeometry&, bool);
template void direct_forward<float>(const ConvGeometry&, const float*, const float*, const float*,
                                    float*, DirectTiling, bool);
template void direct_forward<double>(const ConvGeometry&, const double*, const double*,
                                     const double*, double*, DirectTiling, bool);
template void direct_backward_input<float>(const ConvGeometry&, const float*, const float*, float*,
                                           DirectTiling);
template void direct_backward_input<double>(const ConvGeometry&, const double*, const double*,
                                            double*, DirectTiling);

}  // namespace ldae::cpu::conv_detail
