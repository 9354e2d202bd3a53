// The weight gradient of the direct path (stride 1 on every axis), and the bias gradient summed
// on the way: gw[co][k] = sum over n and output positions of gy * the input at tap k. Two
// register-tiled SIMD schemes, vectors along output channels (tile_taps) or along W (tile_dots);
// see the overview at the top of tensor/cpu/conv.cpp.
#include <algorithm>
#include <cstdint>
#include <vector>

#include "tensor/cpu/conv_common.h"

namespace ldae::cpu::conv_detail {

namespace {

// (whole planes when a plane fits, else whole rows), such that a block holds at most max_units
// units (row_units per output row) and the x window of one input channel fits kWindowBytes.
void position_blocks(const Corr& c, int L, int64_t row_units, int64_t max_units, int64_t esize,
                     int64_t& bd, int64_t& bh) {
  auto fits = [&](int64_t d, int64_t h) {
    return d * h * row_units <= std::max(max_units, row_units) &&
           Window::channel_elems(c, L, d, h) * esize <= kWindowBytes;
  };
  bd = 1;
  bh = c.dst[1];
  int64_t most = 1;
  if (fits(1, c.dst[1])) {
    while (most < c.dst[0] && fits(most + 1, c.dst[1])) ++most;
    bd = ceil_div(c.dst[0], ceil_div(c.dst[0], most));
  } else {
    while (most < c.dst[1] && fits(1, most + 1)) ++most;
    bh = ceil_div(c.dst[1], ceil_div(c.dst[1], most));
  }
}

// Micro-kernel of the weight gradient: an MR x NJ tile of dot products over nq output vectors,
//   acc[i][j] += sum_q  gy_i[q] * x_j[xbase[q] .. + L)      (elementwise: acc stays a vector)
// gy_i = g + i * gs (a row of the gy window, vectors contiguous), x_j = xptr[j] (the window at the
// offset of tap j), acc = MR * NJ vectors at `acc` (loaded and stored back). Per output vector:
// MR + NJ loads and MR * NJ fused multiply-adds. The lanes of acc are summed later, once per task.
template <typename T, int MR, int NJ>
void tile_dots(int64_t nq, const T* __restrict g, int64_t gs, const int64_t* __restrict xbase,
               const T* const* xptr, T* __restrict acc_io) {
  using V = typename Simd<T>::V;
  constexpr int L = Simd<T>::L;
  V acc[MR][NJ];
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NJ; ++j) acc[i][j] = vload(acc_io + (i * NJ + j) * L);
  const T* x[NJ];
  for (int j = 0; j < NJ; ++j) x[j] = xptr[j];
  for (int64_t q = 0; q < nq; ++q) {
    V gv[MR];
    for (int i = 0; i < MR; ++i) gv[i] = vload(g + i * gs + q * L);
    const int64_t o = xbase[q];
    for (int j = 0; j < NJ; ++j) {
      const V xv = vload(x[j] + o);
      for (int i = 0; i < MR; ++i) acc[i][j] += gv[i] * xv;
    }
  }
  for (int i = 0; i < MR; ++i)
    for (int j = 0; j < NJ; ++j) vstore(acc_io + (i * NJ + j) * L, acc[i][j]);
}

// gw (and gb) for a stride-1 convolution: gw[co][k] = sum over n, positions of gy * window.
// The volume is walked in position blocks (bd planes x bh rows), one after the other. Per block:
//   1. the threads copy gy of the block into a shared "gy window" gyw[g][co][q][L] (a row of nq
//      vectors per output channel; zero in the lanes past oW and in padded channels), summing it
//      into gb on the way;
//   2. tasks (group, block of cb input channels, group of output-channel tiles) run in parallel:
//      each fills its own x window and accumulates MR x NJ tiles of vector dot products
//      (tile_dots) over the block, kQSub output vectors at a time so that the gy rows of a tile
//      stay in L1 while all the taps use them, then sums the lanes into its own part of gw.
// No per-thread copies of gw and no reduction: blocks are sequential, and within a block the
// tasks write disjoint parts of gw.
constexpr int64_t kQSub = 64;          // output vectors per pass of the dot-product tiles
constexpr int64_t kVABytes = 1 << 18;  // per-thread vector accumulators of one task

template <typename T, int MR, int NJ>
void weight_grad_direct(const ConvGeometry& geo, const T* gy, const T* x, T* gw, T* gb) {
  constexpr int L = Simd<T>::L;
  const Corr c = forward_corr(geo);
  const int64_t kvol = c.kvol(), Kg = c.Cs * kvol, Mg = c.Ct;
  const int64_t Mp = ceil_div(Mg, MR) * MR;  // output channels rounded up to whole tiles
  const int64_t Pin = c.src[0] * c.src[1] * c.src[2], P = c.dst[0] * c.dst[1] * c.dst[2];
  const int nthreads = thread_count();
  const int64_t esize = sizeof(T);

  // Position blocks: as few as the gy window budget allows (nq = bd * bh * nvr output vectors).
  const int64_t nvr = ceil_div(c.dst[2], L);
  int64_t bd = 1, bh = 1;
  position_blocks(c, L, nvr, kGyBytes / (c.groups * Mp * L * esize), esize, bd, bh);
  // Input channels per task: enough taps for several whole NJ tiles, within the window budget.
  int64_t cb = std::min(c.Cs, ceil_div(8 * NJ, kvol));
  cb = std::min(cb,
                std::max<int64_t>(1, kWindowBytes / (Window::channel_elems(c, L, bd, bh) * esize)));
  const Window w(c, L, bd, bh, cb);
  const int64_t nkt = ceil_div(cb * kvol, NJ);  // tap tiles per task
  const int64_t ncb = ceil_div(c.Cs, cb), co_tiles = Mp / MR;
  // Output-channel tiles per task: all of them, unless that leaves too few tasks to share or
  // overflows the vector accumulators.
  int64_t cot = co_tiles;
  while (cot > 1 && (c.groups * ncb * ceil_div(co_tiles, cot) < 4 * nthreads ||
                     cot * nkt * MR * NJ * L * esize > kVABytes)) {
    cot = ceil_div(cot, 2);
  }
  const int64_t nct = ceil_div(co_tiles, cot), ntasks = c.groups * ncb * nct;
  const int64_t ndb = ceil_div(c.dst[0], bd), nhb = ceil_div(c.dst[1], bh);
  T* gyw = scratch<T, kTagGy>(c.groups * Mp * bd * bh * nvr * L);  // shared by the threads
  std::vector<T> gbsum(static_cast<size_t>(c.groups * Mg), T(0));

#pragma omp parallel
  {
    T* win = scratch<T, kTagWindow>(w.elems());
    T* va = scratch<T, kTagTile>(cot * nkt * MR * NJ * L);  // [tile][tap tile][MR][NJ] vectors
    std::vector<OutVec>& vecs = thread_vectors();
    std::vector<int64_t> xbase;  // window offset of each output vector of the block
    for (int64_t blk = 0; blk < c.N * ndb * nhb; ++blk) {
      const int64_t n = blk / (ndb * nhb), d0 = blk / nhb % ndb * bd, h0 = blk % nhb * bh;
      const int64_t d1 = std::min(c.dst[0], d0 + bd), h1 = std::min(c.dst[1], h0 + bh);
      block_vectors(c, w, L, d0, d1, h0, h1, vecs);
      const int64_t nq = static_cast<int64_t>(vecs.size());
      xbase.resize(static_cast<size_t>(nq));
      for (int64_t q = 0; q < nq; ++q) xbase[q] = vecs[q].win;
        // 1. gy window and bias sums (implicit barrier at the end of the loop).
#pragma omp for schedule(static)
      for (int64_t row = 0; row < c.groups * Mp; ++row) {
        const int64_t g = row / Mp, co = row % Mp;
        T* dstrow = gyw + row * nq * L;
        fill_run(dstrow, nq * L, T(0));
        if (co >= Mg) continue;
        const T* gyc = gy + ((n * c.groups + g) * Mg + co) * P;
        typename Simd<T>::V sum{};
        for (int64_t q = 0; q < nq; ++q) {
          copy_run(gyc + vecs[q].dst, vecs[q].lanes, dstrow + q * L);
          sum += vload(dstrow + q * L);
        }
        gbsum[g * Mg + co] += hsum<T>(sum);
      }
      // 2. Dot-product tiles.
#pragma omp for schedule(dynamic, 1)
      for (int64_t task = 0; task < ntasks; ++task) {
        const int64_t g = task / (ncb * nct), c0 = task / nct % ncb * cb, t0 = task % nct * cot;
        const int64_t nc = std::min(cb, c.Cs - c0), K = nc * kvol;
        const int64_t nt = std::min(co_tiles, t0 + cot) - t0;
        w.fill(c, x + ((n * c.groups + g) * c.Cs + c0) * Pin, nc, d0, h0, win);
        fill_run(va, nt * nkt * MR * NJ * L, T(0));
        for (int64_t q0 = 0; q0 < nq; q0 += kQSub) {
          const int64_t nqs = std::min(kQSub, nq - q0);
          for (int64_t kt = 0; kt < ceil_div(K, NJ); ++kt) {
            const T* xptr[NJ];
            for (int j = 0; j < NJ; ++j) xptr[j] = win + w.koff[std::min(kt * NJ + j, K - 1)];
            for (int64_t t = 0; t < nt; ++t) {
              const T* gt = gyw + ((g * Mp + (t0 + t) * MR) * nq + q0) * L;
              tile_dots<T, MR, NJ>(nqs, gt, nq * L, xbase.data() + q0, xptr,
                                   va + (t * nkt + kt) * MR * NJ * L);
            }
          }
        }
        // Sum the lanes into gw (tap tiles past K were computed on a repeated tap: dropped).
        for (int64_t t = 0; t < nt; ++t) {
          for (int64_t i = 0; i < MR && (t0 + t) * MR + i < Mg; ++i) {
            T* gwrow = gw + (g * Mg + (t0 + t) * MR + i) * Kg + c0 * kvol;
            for (int64_t k = 0; k < K; ++k) {
              const T* v = va + (((t * nkt + k / NJ) * MR + i) * NJ + k % NJ) * L;
              gwrow[k] += hsum<T>(vload(v));
            }
          }
        }
      }
    }
  }
  if (gb != nullptr) std::copy(gbsum.begin(), gbsum.end(), gb);
}

// Micro-kernel of the weight gradient with vectors along output channels: an MRK x NVC tile of
// gW^T (MRK taps x NVC vectors of output channels), summed over np positions of a block:
//   acc[i][v] += sum_p  a_i[xpos[p]] * gyT[p * ldg + v * L .. + L)
// a_i = the window at the offset of tap i, xpos[p] = the window offset of position p, gyT = gy of
// the block transposed (one row of output channels per position). Per position: NVC vector loads,
// MRK broadcasts and MRK * NVC fused multiply-adds. The accumulators are gW^T elements already: no
// lane sums.
template <typename T, int MRK, int NVC>
void tile_taps(int64_t np, const int64_t* __restrict xpos, const T* const* aptr,
               const T* __restrict gyT, int64_t ldg, T* __restrict acc_io) {
  using V = typename Simd<T>::V;
  constexpr int L = Simd<T>::L;
  V acc[MRK][NVC];
  for (int i = 0; i < MRK; ++i)
    for (int v = 0; v < NVC; ++v) acc[i][v] = vload(acc_io + (i * NVC + v) * L);
  const T* a[MRK];
  for (int i = 0; i < MRK; ++i) a[i] = aptr[i];
  for (int64_t p = 0; p < np; ++p) {
    V b[NVC];
    for (int v = 0; v < NVC; ++v) b[v] = vload(gyT + p * ldg + v * L);
    const int64_t o = xpos[p];
    for (int i = 0; i < MRK; ++i) {
      const T s = a[i][o];
      for (int v = 0; v < NVC; ++v) acc[i][v] += s * b[v];
    }
  }
  for (int i = 0; i < MRK; ++i)
    for (int v = 0; v < NVC; ++v) vstore(acc_io + (i * NVC + v) * L, acc[i][v]);
}

// gw (and gb) for a stride-1 convolution with at least L output channels per group and many taps
// (every 3x3x3 conv of the networks but the first layer's): the same scheme as
// weight_grad_direct, with vectors along the output channels instead of along W:
//   1. per position block the threads copy gy transposed into a shared gyT[g][p][co] (a row of Mp
//      output channels, zero-padded, per valid position p), and sum gb;
//   2. tasks (group, cb input channels, group of co-tiles) fill their x window and accumulate
//      MRK x NVC tiles of gW^T (tile_taps) over the block, kPSub positions at a time (so that
//      those gyT rows stay in L1 for all taps), then add them into their own part of gw.
// The transposition costs one copy per gy element, against Kg / L vector FMAs per element.
constexpr int64_t kPSub = 128;  // positions per pass of the tap tiles

template <typename T, int MRK, int NVC>
void weight_grad_taps(const ConvGeometry& geo, const T* gy, const T* x, T* gw, T* gb) {
  constexpr int L = Simd<T>::L;
  const Corr c = forward_corr(geo);
  const int64_t kvol = c.kvol(), Kg = c.Cs * kvol, Mg = c.Ct;
  // Output channels padded to whole tiles of NVC vectors (zeros past Mg), so that the last
  // co-tile's vector loads stay inside each gyT row and inside the gyT buffer.
  const int64_t Mp = ceil_div(Mg, NVC * L) * NVC * L;
  const int64_t co_tiles = Mp / (NVC * L);  // tiles of NVC vectors
  const int64_t Pin = c.src[0] * c.src[1] * c.src[2], P = c.dst[0] * c.dst[1] * c.dst[2];
  const int nthreads = thread_count();
  const int64_t esize = sizeof(T);

  // Position blocks: as few as the gyT budget allows (np = bd * bh * oW positions).
  int64_t bd = 1, bh = 1;
  position_blocks(c, L, c.dst[2], kGyBytes / (c.groups * Mp * esize), esize, bd, bh);
  // Input channels per task: taps for several whole MRK tiles, within the window budget.
  int64_t cb = std::min(c.Cs, ceil_div(8 * MRK, kvol));
  cb = std::min(cb,
                std::max<int64_t>(1, kWindowBytes / (Window::channel_elems(c, L, bd, bh) * esize)));
  const Window w(c, L, bd, bh, cb);
  const int64_t nkt = ceil_div(cb * kvol, MRK);  // tap tiles per task
  const int64_t ncb = ceil_div(c.Cs, cb);
  int64_t cot = co_tiles;  // co-tiles per task
  while (cot > 1 && c.groups * ncb * ceil_div(co_tiles, cot) < 4 * nthreads) cot = ceil_div(cot, 2);
  const int64_t nct = ceil_div(co_tiles, cot), ntasks = c.groups * ncb * nct;
  const int64_t ndb = ceil_div(c.dst[0], bd), nhb = ceil_div(c.dst[1], bh);
  T* gyT = scratch<T, kTagGy>(c.groups * bd * bh * c.dst[2] * Mp);  // shared by the threads
  std::vector<T> gbsum(static_cast<size_t>(c.groups * Mg), T(0));

#pragma omp parallel
  {
    T* win = scratch<T, kTagWindow>(w.elems());
    T* va = scratch<T, kTagTile>(cot * nkt * MRK * NVC * L);  // [tile][tap tile][MRK][NVC] vectors
    std::vector<int64_t> xpos;  // window offset of each position of the block
    for (int64_t blk = 0; blk < c.N * ndb * nhb; ++blk) {
      const int64_t n = blk / (ndb * nhb), d0 = blk / nhb % ndb * bd, h0 = blk % nhb * bh;
      const int64_t d1 = std::min(c.dst[0], d0 + bd), h1 = std::min(c.dst[1], h0 + bh);
      // The block's positions are one contiguous run of gy: [p0, p0 + np).
      const int64_t p0 = (d0 * c.dst[1] + h0) * c.dst[2];
      const int64_t np = (d1 - d0) * (h1 - h0) * c.dst[2];
      xpos.clear();
      for (int64_t od = d0; od < d1; ++od) {
        for (int64_t oh = h0; oh < h1; ++oh) {
          for (int64_t ow = 0; ow < c.dst[2]; ++ow) {
            xpos.push_back(((od - d0) * w.WH + (oh - h0)) * w.WW + ow);
          }
        }
      }
      // 1. gyT, in chunks of kPSub positions (one chunk of gyT stays in L1 while every channel
      //    is copied into it), and the bias sums. Barriers at the end of each loop.
      const int64_t nchunks = ceil_div(np, kPSub);
#pragma omp for schedule(static)
      for (int64_t chunk = 0; chunk < c.groups * nchunks; ++chunk) {
        const int64_t g = chunk / nchunks, ps = chunk % nchunks * kPSub;
        const int64_t pe = std::min(np, ps + kPSub);
        T* gt = gyT + g * np * Mp;  // (np, Mp) of group g
        for (int64_t co = 0; co < Mp; ++co) {
          if (co >= Mg) {
            for (int64_t p = ps; p < pe; ++p) gt[p * Mp + co] = T(0);
            continue;
          }
          const T* gyc = gy + ((n * c.groups + g) * Mg + co) * P + p0;
          for (int64_t p = ps; p < pe; ++p) gt[p * Mp + co] = gyc[p];
        }
      }
#pragma omp for schedule(static)
      for (int64_t row = 0; row < c.groups * Mg; ++row) {
        gbsum[row] += sum_run(gy + (n * c.groups * Mg + row) * P + p0, np);
      }
      // 2. Tap tiles.
#pragma omp for schedule(dynamic, 1)
      for (int64_t task = 0; task < ntasks; ++task) {
        const int64_t g = task / (ncb * nct), c0 = task / nct % ncb * cb, t0 = task % nct * cot;
        const int64_t nc = std::min(cb, c.Cs - c0), K = nc * kvol;
        const int64_t nt = std::min(co_tiles, t0 + cot) - t0;
        w.fill(c, x + ((n * c.groups + g) * c.Cs + c0) * Pin, nc, d0, h0, win);
        fill_run(va, nt * nkt * MRK * NVC * L, T(0));
        for (int64_t ps = 0; ps < np; ps += kPSub) {
          const int64_t nps = std::min(kPSub, np - ps);
          // Co-tiles outside, tap tiles inside: the tile's slice of gyT (nps positions x NVC
          // vectors, 16 KiB in float) stays in L1 for all the taps. (The whole gyT chunk, nps x Mp
          // values, does not fit L1 when there are many output channels: 128 KiB for 256.)
          for (int64_t t = 0; t < nt; ++t) {
            const T* gt = gyT + (g * np + ps) * Mp + (t0 + t) * NVC * L;
            for (int64_t kt = 0; kt < ceil_div(K, MRK); ++kt) {
              const T* aptr[MRK];
              for (int i = 0; i < MRK; ++i) aptr[i] = win + w.koff[std::min(kt * MRK + i, K - 1)];
              tile_taps<T, MRK, NVC>(nps, xpos.data() + ps, aptr, gt, Mp,
                                     va + (t * nkt + kt) * MRK * NVC * L);
            }
          }
        }
        // Add the tiles into gw (taps past K were computed on a repeated tap: dropped).
        for (int64_t t = 0; t < nt; ++t) {
          for (int64_t k = 0; k < K; ++k) {
            const T* row = va + ((t * nkt + k / MRK) * MRK + k % MRK) * NVC * L;
            const int64_t co0 = (t0 + t) * NVC * L;
            for (int64_t j = 0; j < NVC * L && co0 + j < Mg; ++j) {
              gw[(g * Mg + co0 + j) * Kg + c0 * kvol + k] += row[j];
            }
          }
        }
      }
    }
  }
  if (gb != nullptr) std::copy(gbsum.begin(), gbsum.end(), gb);
}

}  // namespace

template <typename T>
void direct_backward_weight(const ConvGeometry& geo, const T* gy, const T* x, T* gw, T* gb) {
  // gw is accumulated block by block: start from zero.
  std::fill(gw,
            gw + geo.Cout * (geo.Cin / geo.groups) * geo.kernel[0] * geo.kernel[1] * geo.kernel[2],
            T(0));
  constexpr int L = Simd<T>::L;
  const int64_t Mg = geo.Cout / geo.groups;
  const int64_t Kg = (geo.Cin / geo.groups) * geo.kernel[0] * geo.kernel[1] * geo.kernel[2];
  // Vectors along the output channels when there are enough of them (and enough taps to pay
  // for transposing gy); else vectors along W (dot products).
  // Two channel vectors per tile, not more: with 4 (a 3 x 4 tile) the 12 accumulators and 4
  // gy vectors leave no register for the broadcast, so GCC reads gy from memory in every
  // multiply-add (16 loads per 12 FMAs, load-bound); 6 x 2 needs 9 loads and ran 10-25% faster.
  if (Mg >= 2 * L && Kg >= 64) {
    weight_grad_taps<T, kAccRegs / 2, 2>(geo, gy, x, gw, gb);
  } else if (Mg >= L && Kg >= 64) {
    weight_grad_taps<T, kAccRegs * 2 / 3, 1>(geo, gy, x, gw, gb);
  } else if (Mg >= 4) {
    weight_grad_direct<T, 4, kAccRegs / 4>(geo, gy, x, gw, gb);
  } else {
    weight_grad_direct<T, 1, std::min(8, kAccRegs / 2)>(geo, gy, x, gw, gb);
  }
}

template void direct_backward_weight<float>(const ConvGeometry&, const float*, const float*, float*,
                                            float*);
template void direct_backward_weight<double>(const ConvGeometry&, const double*, const double*,
                                             double*, double*);

}  // namespace ldae::cpu::conv_detail
