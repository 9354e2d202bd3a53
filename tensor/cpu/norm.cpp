// CPU kernels of group norm and layer norm (contracts in tensor/cpu/norm.h).
//
// Backward formulas, for one normalised set of L values with xhat = (x - mean) rstd and
// upstream gradient gy (w = the weight of each value's channel or position):
//   gb = sum(gy),  gw = sum(gy xhat)                      (summed over the sets)
//   gx = rstd (w gy - A / L - xhat B / L),  A = sum(w gy),  B = sum(w gy xhat)
// which we evaluate as gx = alpha gy + beta x + gamma with
//   alpha = rstd w,  beta = -rstd^2 B / L,  gamma = -mean beta - rstd A / L,
// so that the last pass is one fused multiply-add per element.
#include "tensor/cpu/norm.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "tensor/cpu/strided_loop.h"  // kParallelGrain

namespace ldae::cpu {

namespace {

// Two sums over i < n, accumulated in double: term(i, a, b) adds its share to a and b.
// Eight independent accumulators per sum, so that the compiler can keep them in SIMD
// lanes; a single accumulator would be a chain of dependent additions (4x slower).
constexpr int kLanes = 8;

template <typename Term>
std::pair<double, double> lane_sums(int64_t n, Term term) {
  double a[kLanes] = {}, b[kLanes] = {};
  int64_t i = 0;
  for (; i + kLanes <= n; i += kLanes)
    for (int l = 0; l < kLanes; ++l) term(i + l, a[l], b[l]);
  double ta = 0, tb = 0;
  for (; i < n; ++i) term(i, ta, tb);
  for (int l = 0; l < kLanes; ++l) {
    ta += a[l];
    tb += b[l];
  }
  return {ta, tb};
}

// mean and 1/sqrt(var + eps) of a set of L values, from the sums of d = x - k and d^2.
void stats_from_shifted_sums(double k, double sum, double sumsq, int64_t L, double eps,
                             double* mean, double* rstd) {
  const double m = sum / static_cast<double>(L);  // mean of d
  const double var = std::max(sumsq / static_cast<double>(L) - m * m, 0.0);
  *mean = k + m;
  *rstd = 1.0 / std::sqrt(var + eps);
}

}  // namespace

// ---- Group norm -------------------------------------------------------------------------

template <typename T>
void group_norm_forward(const GroupNormGeometry& g, const T* x, const T* w, const T* b, double eps,
                        T* y, T* mean, T* rstd) {
  const int64_t C = g.C, G = g.groups, S = g.S;
  const int64_t Cg = C / G, L = Cg * S, NC = g.N * C, NG = g.N * G;
  const bool parallel = NC * S > kParallelGrain;

  // Pass 1: per (n, c), the shifted sums of its S values. The shift k is the first value
  // of the channel's group, so the sums of the group's channels simply add up.
  std::vector<double> sum(NC), sumsq(NC);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t nc = 0; nc < NC; ++nc) {
    const int64_t n = nc / C, c = nc % C;
    const double k = x[(n * C + c / Cg * Cg) * S];
    const T* xc = x + nc * S;
    const auto s = lane_sums(S, [&](int64_t i, double& a, double& q) {
      const double d = static_cast<double>(xc[i]) - k;
      a += d;
      q += d * d;
    });
    sum[nc] = s.first;
    sumsq[nc] = s.second;
  }

  // Per (n, group): combine the channel sums (N * C numbers: cheap, serial).
  std::vector<double> mean_d(NG), rstd_d(NG);
  for (int64_t ng = 0; ng < NG; ++ng) {
    const int64_t c0 = ng * Cg;  // == n * C + group * Cg: the group's first (n, c) row
    double s = 0, q = 0;
    for (int64_t c = 0; c < Cg; ++c) {
      s += sum[c0 + c];
      q += sumsq[c0 + c];
    }
    stats_from_shifted_sums(static_cast<double>(x[c0 * S]), s, q, L, eps, &mean_d[ng], &rstd_d[ng]);
    mean[ng] = static_cast<T>(mean_d[ng]);
    rstd[ng] = static_cast<T>(rstd_d[ng]);
  }

  // Pass 2: y = x * scale + shift, with scale = rstd w and shift = b - mean scale per (n, c).
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t nc = 0; nc < NC; ++nc) {
    const int64_t c = nc % C, ng = nc / Cg;
    const double scale = rstd_d[ng] * (w ? static_cast<double>(w[c]) : 1.0);
    const double shift = (b ? static_cast<double>(b[c]) : 0.0) - mean_d[ng] * scale;
    const T sc = static_cast<T>(scale), sh = static_cast<T>(shift);
    const T* xc = x + nc * S;
    T* yc = y + nc * S;
    for (int64_t i = 0; i < S; ++i) yc[i] = xc[i] * sc + sh;
  }
}

template <typename T>
void group_norm_backward(const GroupNormGeometry& g, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* gx, T* gw, T* gb) {
  const int64_t C = g.C, G = g.groups, S = g.S;
  const int64_t Cg = C / G, L = Cg * S, NC = g.N * C, NG = g.N * G;
  const bool parallel = NC * S > kParallelGrain;
  auto weight = [&](int64_t c) { return w ? static_cast<double>(w[c]) : 1.0; };

  // Pass 1: per (n, c), sum(gy) and sum(gy (x - mean)).
  std::vector<double> sum_g(NC), sum_gd(NC);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t nc = 0; nc < NC; ++nc) {
    const double m = static_cast<double>(mean[nc / Cg]);
    const T* gc = gy + nc * S;
    const T* xc = x + nc * S;
    const auto s = lane_sums(S, [&](int64_t i, double& a, double& q) {
      const double gv = static_cast<double>(gc[i]);
      a += gv;
      q += gv * (static_cast<double>(xc[i]) - m);
    });
    sum_g[nc] = s.first;
    sum_gd[nc] = s.second;
  }

  // Weight and bias gradients: gb[c] = sum_n sum(gy), gw[c] = sum_n rstd sum(gy (x - mean)).
  for (int64_t c = 0; c < C; ++c) {
    double acc_w = 0, acc_b = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      const int64_t nc = n * C + c;
      acc_w += static_cast<double>(rstd[nc / Cg]) * sum_gd[nc];
      acc_b += sum_g[nc];
    }
    gw[c] = static_cast<T>(acc_w);
    gb[c] = static_cast<T>(acc_b);
  }

  // Per (n, group): the coefficients beta and gamma of gx = alpha gy + beta x + gamma.
  std::vector<double> beta(NG), gamma(NG);
  for (int64_t ng = 0; ng < NG; ++ng) {
    const double m = static_cast<double>(mean[ng]), r = static_cast<double>(rstd[ng]);
    double A = 0, B = 0;  // sum(w gy), sum(w gy xhat)
    for (int64_t j = 0; j < Cg; ++j) {
      const int64_t nc = ng * Cg + j;
      const double wc = weight(nc % C);
      A += wc * sum_g[nc];
      B += wc * sum_gd[nc] * r;
    }
    beta[ng] = -r * r * B / static_cast<double>(L);
    gamma[ng] = -m * beta[ng] - r * A / static_cast<double>(L);
  }

  // Pass 2: gx.
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t nc = 0; nc < NC; ++nc) {
    const int64_t ng = nc / Cg;
    const T alpha = static_cast<T>(static_cast<double>(rstd[ng]) * weight(nc % C));
    const T be = static_cast<T>(beta[ng]), ga = static_cast<T>(gamma[ng]);
    const T* gc = gy + nc * S;
    const T* xc = x + nc * S;
    T* out = gx + nc * S;
    for (int64_t i = 0; i < S; ++i) out[i] = gc[i] * alpha + xc[i] * be + ga;
  }
}

// ---- Layer norm -------------------------------------------------------------------------

template <typename T>
void layer_norm_forward(int64_t M, int64_t L, const T* x, const T* w, const T* b, double eps, T* y,
                        T* mean, T* rstd) {
#pragma omp parallel for schedule(static) if (M * L > kParallelGrain)
  for (int64_t r = 0; r < M; ++r) {
    const T* xr = x + r * L;
    T* yr = y + r * L;
    const double k = static_cast<double>(xr[0]);
    const auto s = lane_sums(L, [&](int64_t i, double& a, double& q) {
      const double d = static_cast<double>(xr[i]) - k;
      a += d;
      q += d * d;
    });
    double m, rs;
    stats_from_shifted_sums(k, s.first, s.second, L, eps, &m, &rs);
    mean[r] = static_cast<T>(m);
    rstd[r] = static_cast<T>(rs);
    // The row was just read, so it is in cache: this second pass is cheap.
    const T mt = static_cast<T>(m), rt = static_cast<T>(rs);
    for (int64_t j = 0; j < L; ++j)
      yr[j] = (xr[j] - mt) * rt * (w ? w[j] : T(1)) + (b ? b[j] : T(0));
  }
}

template <typename T>
void layer_norm_backward(int64_t M, int64_t L, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* gx, T* gw, T* gb) {
  const bool parallel = M * L > kParallelGrain;

  // gx, row by row.
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < M; ++r) {
    const T* gr = gy + r * L;
    const T* xr = x + r * L;
    T* out = gx + r * L;
    const double m = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
    // A = sum(w gy), B / rstd = sum(w gy (x - mean)).
    const auto s = lane_sums(L, [&](int64_t i, double& a, double& q) {
      const double wg = static_cast<double>(gr[i]) * (w ? static_cast<double>(w[i]) : 1.0);
      a += wg;
      q += wg * (static_cast<double>(xr[i]) - m);
    });
    const double A = s.first, B = s.second * rs;
    const double beta = -rs * rs * B / static_cast<double>(L);
    const double gamma = -m * beta - rs * A / static_cast<double>(L);
    const T rt = static_cast<T>(rs), be = static_cast<T>(beta), ga = static_cast<T>(gamma);
    for (int64_t j = 0; j < L; ++j) out[j] = gr[j] * (rt * (w ? w[j] : T(1))) + xr[j] * be + ga;
  }

  // gw, gb: sums over the rows, one block of columns per thread (each row's block is
  // contiguous, so the reads stream through memory).
  constexpr int64_t kBlock = 256;
  const int64_t blocks = (L + kBlock - 1) / kBlock;
#pragma omp parallel for schedule(static) if (parallel && blocks > 1)
  for (int64_t blk = 0; blk < blocks; ++blk) {
    const int64_t j0 = blk * kBlock, j1 = std::min(L, j0 + kBlock);
    double acc_w[kBlock] = {}, acc_b[kBlock] = {};
    for (int64_t r = 0; r < M; ++r) {
      const double m = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
      const T* gr = gy + r * L;
      const T* xr = x + r * L;
      for (int64_t j = j0; j < j1; ++j) {
        const double gv = static_cast<double>(gr[j]);
        acc_b[j - j0] += gv;
        acc_w[j - j0] += gv * (static_cast<double>(xr[j]) - m) * rs;
      }
    }
    for (int64_t j = j0; j < j1; ++j) {
      gw[j] = static_cast<T>(acc_w[j - j0]);
      gb[j] = static_cast<T>(acc_b[j - j0]);
    }
  }
}

// The two dtypes the library supports.
#define LDAE_NORM_INSTANTIATE(T)                                                                  \
  template void group_norm_forward<T>(const GroupNormGeometry&, const T*, const T*, const T*,     \
                                      double, T*, T*, T*);                                        \
  template void group_norm_backward<T>(const GroupNormGeometry&, const T*, const T*, const T*,    \
                                       const T*, const T*, T*, T*, T*);                           \
  template void layer_norm_forward<T>(int64_t, int64_t, const T*, const T*, const T*, double, T*, \
                                      T*, T*);                                                    \
  template void layer_norm_backward<T>(int64_t, int64_t, const T*, const T*, const T*, const T*,  \
                                       const T*, T*, T*, T*);
LDAE_NORM_INSTANTIATE(float)
LDAE_NORM_INSTANTIATE(double)
#undef LDAE_NORM_INSTANTIATE

}  // namespace ldae::cpu
