// CPU convolution kernels (2D and 3D). See conv.h for the contracts.
//
// Notation. Per group (groups are independent convolutions):
//   Cin_g = Cin / groups, Mg = Cout / groups, kvol = kD * kH * kW, Kg = Cin_g * kvol,
//   P = oD * oH * oW output positions.
// A convolution is the matrix product  Y_g (Mg x P) = W_g (Mg x Kg) * col (Kg x P), with
//   col[(ci, kd, kh, kw)][(od, oh, ow)] = x[ci, od*s - p + kd*dil, oh*s - p + kh*dil, ...]
// (per axis; 0 where the index falls into the padding). Two implementations of it live here.
//
// 1. The direct path (stride 1 on every axis: every 3x3x3 "same" conv of the UNet and the VAE).
//    No im2col. A task (a block of output planes x rows) copies the input it reads into a small
//    zero-padded "window" (the padding becomes real zeros). Then the inputs that tap
//    k = (ci, kd, kh, kw) contributes to a run of consecutive outputs along W are a contiguous run
//    of the window at a fixed offset koff[k]: col is never materialised, its rows are pointers into
//    the window. Register-tiled micro-kernels on explicit SIMD vectors do the arithmetic:
//      forward          y[t][o] = b[t] + sum_k W[t][k] * win[o + koff[k]]   tile_rows: vectors
//                       along W, weights broadcast
//      backward_input   the same kernel: for stride 1 the input gradient is a correlation of gy
//                       with the transposed, flipped weights and padding dil*(k-1) - pad
//      backward_weight  gW[t][k] = sum_o gy[t][o] * win[o + koff[k]]        tile_taps: vectors
//                       along output channels (gy transposed), window values broadcast; or, for
//                       few channels or taps, tile_dots: vectors along W, lanes summed at the end
//
// 2. The general path (any stride): chunked im2col + Eigen GEMM. Output positions are cut into
//    chunks of Pc columns and Kg into blocks of Kc rows so that one block of col fits kColBytes:
//      forward          y_chunk  = W_g * col_chunk (+ b)
//      backward_weight  gW_g    += gy_chunk * col_chunk^T   (per-thread accumulators, then a sum)
//      backward_input   dcol     = W_g^T * gy_chunk, then a col2im scatter-add into gx (race-free
//                       by slabs, see gemm_backward_input).
//
// Threads: OpenMP over independent tasks (blocks of output, or of the weight gradient), thread
// count from OMP_NUM_THREADS. Eigen runs single-threaded inside a parallel region (it checks
// omp_get_num_threads()), which is what we want: splitting each small GEMM across threads would
// synchronise on every chunk.
//
// Workspace bound. Per thread, direct path: a source window <= kWindowBytes (1 MiB), a tile
// scratch (forward / input gradient: Cout_g x 3 vectors; weight gradient: <= kVABytes (256 KiB)
// along W, or Cout_g x (128 + kvol) values along channels) and a list of output vectors. Per
// thread, general path: a col block <= kColBytes (1 MiB) and a gW accumulator <= kAccBytes (1 MiB).
// Shared per call: the packed weights of a block of input channels <= kPackBytes (1 MiB) and, in
// backward_weight, a copy of gy for a block of positions <= kGyBytes (4 MiB). (Only a single input
// channel's weights or window row larger than a budget exceeds it.) Eigen's GEMM packs its
// operands into buffers of similar size. The large buffers are thread_local and grown once: warm
// calls allocate nothing inside the loops.
#include "tensor/cpu/conv.h"

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <stdexcept>
#include <string>
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

#ifdef _OPENMP
#include <omp.h>
#endif

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

namespace {

// ------------------------------------------------------------------------------------------------
// Shared helpers
// ------------------------------------------------------------------------------------------------

constexpr int64_t kWindowBytes = int64_t{1} << 20;  // per-thread source window (direct path)
constexpr int64_t kPackBytes = int64_t{1} << 20;    // packed weights of one input-channel block
constexpr int64_t kGyBytes = int64_t{4} << 20;      // gy window of backward_weight (direct path)
constexpr int64_t kColBytes = int64_t{1} << 20;     // per-thread im2col block (general path)
constexpr int64_t kAccBytes = int64_t{1} << 20;     // per-thread gW accumulator (general path)

int thread_count() {
#ifdef _OPENMP
  return omp_get_max_threads();
#else
  return 1;
#endif
}
int thread_id() {
#ifdef _OPENMP
  return omp_get_thread_num();
#else
  return 0;
#endif
}
int team_size() {
#ifdef _OPENMP
  return omp_get_num_threads();
#else
  return 1;
#endif
}

int64_t ceil_div(int64_t a, int64_t b) {
  return (a + b - 1) / b;
}

// A per-thread scratch buffer of at least n elements, 64-byte aligned, one per (T, Tag). It grows
// on demand and lives as long as the thread, so warm calls allocate nothing (and touch no fresh
// pages). Buffers shared by a parallel region come from the calling thread's scratch.
enum ScratchTag { kTagWindow, kTagTile, kTagCol, kTagPack, kTagGy };
template <typename T, int Tag>
T* scratch(int64_t n) {
  thread_local std::vector<T> buf;
  const size_t need = static_cast<size_t>(n) + 64 / sizeof(T);
  if (buf.size() < need) buf.resize(need);
  const auto p = reinterpret_cast<std::uintptr_t>(buf.data());
  return reinterpret_cast<T*>((p + 63) & ~std::uintptr_t{63});
}

// ------------------------------------------------------------------------------------------------
// Direct path (stride 1 on every axis)
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

// Taps are walked in this many steps so that the B vectors one step reads for all row tiles stay
// in L1 (128 taps x 3 vectors x 64 B = 24 KiB).
constexpr int64_t kTapBlock = 128;

// A stride-1 correlation, the form shared by the forward pass and the input gradient. Per group g:
//   dst[n, g*Ct + t, o] = bias[g*Ct + t] + sum_{s < Cs, k < kvol} A_g[t][s*kvol + k] *
//                         src[n, g*Cs + s, o - pad + k*dil]      (per spatial axis; 0 outside src)
// Forward: src = x, dst = y, A = W, pad = padding.
// Input gradient: src = gy, dst = gx, A_g[ci][co*kvol + k] = W[co][ci][kvol-1-k] (transposed and
// flipped), pad = dil*(k-1) - padding (negative pad: the correlation starts inside src).
struct Corr {
  int64_t N, groups, Cs, Ct;
  int64_t src[3], dst[3], kernel[3], dil[3], pad[3];
  int64_t kvol() const { return kernel[0] * kernel[1] * kernel[2]; }
};

Corr forward_corr(const ConvGeometry& g) {
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

Corr input_grad_corr(const ConvGeometry& g) {
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
void block_vectors(const Corr& c, const Window& w, int L, int64_t d0, int64_t d1, int64_t h0,
                   int64_t h1, std::vector<OutVec>& vecs) {
  vecs.clear();
  for (int64_t od = d0; od < d1; ++od)
    for (int64_t oh = h0; oh < h1; ++oh)
      for (int64_t ow = 0; ow < c.dst[2]; ow += L)
        vecs.push_back({((od - d0) * w.WH + (oh - h0)) * w.WW + ow,
                        (od * c.dst[1] + oh) * c.dst[2] + ow, std::min<int64_t>(L, c.dst[2] - ow)});
}

std::vector<OutVec>& thread_vectors() {
  thread_local std::vector<OutVec> vecs;
  return vecs;
}

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
  const int64_t Mp = ceil_div(Mg, L) * L;                   // output channels, whole vectors
  const int64_t co_tiles = ceil_div(Mp / L, int64_t{NVC});  // tiles of NVC vectors
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
          for (int64_t kt = 0; kt < ceil_div(K, MRK); ++kt) {
            const T* aptr[MRK];
            for (int i = 0; i < MRK; ++i) aptr[i] = win + w.koff[std::min(kt * MRK + i, K - 1)];
            for (int64_t t = 0; t < nt; ++t) {
              const T* gt = gyT + (g * np + ps) * Mp + (t0 + t) * NVC * L;
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

template <typename T>
void weight_grad_direct_any(const ConvGeometry& geo, const T* gy, const T* x, T* gw, T* gb) {
  // gw is accumulated block by block: start from zero.
  std::fill(gw,
            gw + geo.Cout * (geo.Cin / geo.groups) * geo.kernel[0] * geo.kernel[1] * geo.kernel[2],
            T(0));
  constexpr int L = Simd<T>::L;
  const int64_t Mg = geo.Cout / geo.groups;
  const int64_t Kg = (geo.Cin / geo.groups) * geo.kernel[0] * geo.kernel[1] * geo.kernel[2];
  // Vectors along the output channels when there are enough of them (and enough taps to pay
  // for transposing gy); else vectors along W (dot products).
  if (Mg >= 3 * L && Kg >= 64) {
    weight_grad_taps<T, kAccRegs / 4, 4>(geo, gy, x, gw, gb);
  } else if (Mg >= 2 * L && Kg >= 64) {
    weight_grad_taps<T, kAccRegs / 2, 2>(geo, gy, x, gw, gb);
  } else if (Mg >= L && Kg >= 64) {
    weight_grad_taps<T, kAccRegs * 2 / 3, 1>(geo, gy, x, gw, gb);
  } else if (Mg >= 4) {
    weight_grad_direct<T, 4, kAccRegs / 4>(geo, gy, x, gw, gb);
  } else {
    weight_grad_direct<T, 1, std::min(8, kAccRegs / 2)>(geo, gy, x, gw, gb);
  }
}

bool is_unit_stride(const ConvGeometry& g) {
  return g.stride[0] == 1 && g.stride[1] == 1 && g.stride[2] == 1;
}

// ------------------------------------------------------------------------------------------------
// General path (any stride): chunked im2col + Eigen GEMM
// ------------------------------------------------------------------------------------------------

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
// ------------------------------------------------------------------------------------------------
template <typename T>
void gemm_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw) {
  const Plan pl(g, sizeof(T));
  // Column block of gW handled at once: bounded by the col buffer and by the accumulator budget.
  const int64_t Kb =
      std::clamp<int64_t>(kAccBytes / static_cast<int64_t>(sizeof(T)) / pl.Mg, 1, pl.Kc);
  const int64_t nchunks = (pl.P + pl.Pc - 1) / pl.Pc;
  const int64_t ntasks = g.N * nchunks;
  const int nthreads = thread_count();
  std::vector<T> acc_all(static_cast<size_t>(nthreads * pl.Mg * Kb));  // one accumulator per thread

#pragma omp parallel
  {
    const int tid = thread_id();
    T* acc = acc_all.data() + tid * pl.Mg * Kb;
    T* col = scratch<T, kTagCol>(Kb * pl.Pc);
    std::vector<Segment>& segs = thread_segments();
    const int nth = team_size();
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      for (int64_t k0 = 0; k0 < pl.Kg; k0 += Kb) {
        const int64_t kb = std::min(Kb, pl.Kg - k0);
        MatMap<T> acck(acc, pl.Mg, kb, Eigen::OuterStride<>(kb));
        acck.setZero();
#pragma omp for schedule(dynamic, 1)
        for (int64_t t = 0; t < ntasks; ++t) {
          const int64_t n = t / nchunks, c = t % nchunks;
          const int64_t p0 = c * pl.Pc, pc = std::min(pl.Pc, pl.P - p0);
          pl.segments(p0, p0 + pc, segs);
          im2col(pl, x + (n * g.Cin + gi * pl.Cin_g) * pl.Pin, k0, k0 + kb, segs, pc, col);
          ConstMatMap<T> gyc(gy + (n * g.Cout + gi * pl.Mg) * pl.P + p0, pl.Mg, pc,
                             Eigen::OuterStride<>(pl.P));
          ConstMatMap<T> ck(col, kb, pc, Eigen::OuterStride<>(pc));
          acck.noalias() += gyc * ck.transpose();
        }
        // Sum the per-thread accumulators into gW[g rows, k0 : k0 + kb] (implicit barriers around).
        const int64_t nel = pl.Mg * kb;
#pragma omp for schedule(static)
        for (int64_t e = 0; e < nel; ++e) {
          T s = 0;
          for (int th = 0; th < nth; ++th) s += acc_all[th * pl.Mg * Kb + e];
          gw[(gi * pl.Mg + e / kb) * pl.Kg + k0 + e % kb] = s;
        }
      }
    }
  }
}

// gb[co] = sum over n and positions of gy[n, co].
template <typename T>
void bias_grad(const ConvGeometry& g, const T* gy, T* gb) {
  const int64_t P = g.out[0] * g.out[1] * g.out[2];
#pragma omp parallel for schedule(static)
  for (int64_t co = 0; co < g.Cout; ++co) {
    T s = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      s += Eigen::Map<const Eigen::Matrix<T, Eigen::Dynamic, 1>>(gy + (n * g.Cout + co) * P, P)
               .sum();
    }
    gb[co] = s;
  }
}

}  // namespace

// ------------------------------------------------------------------------------------------------
// Public kernels: the direct path for stride 1, the general path otherwise.
// ------------------------------------------------------------------------------------------------

template <typename T>
void conv_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  if (!is_unit_stride(g)) return gemm_forward(g, x, w, b, y);
  const int64_t Mg = g.Cout / g.groups;
  const int64_t Kg = (g.Cin / g.groups) * g.kernel[0] * g.kernel[1] * g.kernel[2];
  // A_g[co][k] = W[g*Mg + co][k], k = (ci, kd, kh, kw).
  auto a_of = [=](int64_t grp, int64_t co, int64_t k) { return w[(grp * Mg + co) * Kg + k]; };
  correlate_any<T>(forward_corr(g), x, a_of, b, y);
}

template <typename T>
void conv_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx) {
  if (!is_unit_stride(g)) return gemm_backward_input(g, gy, w, gx);
  const int64_t Mg = g.Cout / g.groups, Cin_g = g.Cin / g.groups;
  const int64_t kvol = g.kernel[0] * g.kernel[1] * g.kernel[2];
  // A_g[ci][co*kvol + k] = W[g*Mg + co][ci][kvol-1-k]: transposed, kernel flipped on all axes.
  auto a_of = [=](int64_t grp, int64_t ci, int64_t k) {
    const int64_t co = k / kvol, kk = k % kvol;
    return w[((grp * Mg + co) * Cin_g + ci) * kvol + (kvol - 1 - kk)];
  };
  correlate_any<T>(input_grad_corr(g), gy, a_of, static_cast<const T*>(nullptr), gx);
}

template <typename T>
void conv_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb) {
  if (is_unit_stride(g)) {
    weight_grad_direct_any(g, gy, x, gw, gb);  // sums gb on the way
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
