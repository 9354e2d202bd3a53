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

// The sums below accumulate in double. `omp simd reduction` lets the compiler keep
// several partial sums in SIMD lanes (a plain loop is a chain of dependent additions
// that it may not reorder: about 3.5x slower here).

// sum(x - k) and sum((x - k)^2) over n values.
template <typename T>
std::pair<double, double> shifted_sums(const T* x, int64_t n, double k) {
  double s = 0, q = 0;
#pragma omp simd reduction(+ : s, q)
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(x[i]) - k;
    s += d;
    q += d * d;
  }
  return {s, q};
}

// sum(w g) and sum(w g (x - m)) over n values; w null means w = 1.
template <typename T>
std::pair<double, double> grad_sums(const T* g, const T* x, const T* w, int64_t n, double m) {
  double s = 0, q = 0;
  if (w) {
#pragma omp simd reduction(+ : s, q)
    for (int64_t i = 0; i < n; ++i) {
      const double wg = static_cast<double>(w[i]) * static_cast<double>(g[i]);
      s += wg;
      q += wg * (static_cast<double>(x[i]) - m);
    }
  } else {
#pragma omp simd reduction(+ : s, q)
    for (int64_t i = 0; i < n; ++i) {
      const double gv = static_cast<double>(g[i]);
      s += gv;
      q += gv * (static_cast<double>(x[i]) - m);
    }
  }
  return {s, q};
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
    const auto s = shifted_sums(x + nc * S, S, k);
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
    const auto s = grad_sums<T>(gy + nc * S, x + nc * S, nullptr, S, m);
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

// The backward pass sums gw and gb over the rows in this many parts (at most; one per row
// when there are fewer rows): enough for the threads of a large machine to share, few
// enough that the partial sums (2 L doubles per part) stay small.
constexpr int64_t kLayerNormParts = 64;

template <typename T>
void layer_norm_forward(int64_t M, int64_t L, const T* x, const T* w, const T* b, double eps, T* y,
                        T* mean, T* rstd) {
#pragma omp parallel for schedule(static) if (M * L > kParallelGrain)
  for (int64_t r = 0; r < M; ++r) {
    const T* xr = x + r * L;
    T* yr = y + r * L;
    const double k = static_cast<double>(xr[0]);
    const auto s = shifted_sums(xr, L, k);
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
  // gw and gb are sums over the rows. The rows are cut into a fixed number of parts that
  // does not depend on the thread count; each part adds its rows into its own partial sums
  // (in double), and the parts are added in part order at the end: no races, and the
  // same bits on every run whatever the number of threads.
  const bool parallel = M * L > kParallelGrain;
  const int64_t parts = parallel ? std::min<int64_t>(M, kLayerNormParts) : 1;
  std::vector<double> partial(static_cast<size_t>(parts * 2 * L), 0.0);

#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t part = 0; part < parts; ++part) {
    double* part_w = partial.data() + part * 2 * L;
    double* part_b = part_w + L;
    for (int64_t r = M * part / parts; r < M * (part + 1) / parts; ++r) {
      const T* gr = gy + r * L;
      const T* xr = x + r * L;
      T* out = gx + r * L;
      const double m = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
      // A = sum(w gy), B = rstd sum(w gy (x - mean)).
      const auto s = grad_sums(gr, xr, w, L, m);
      const double A = s.first, B = s.second * rs;
      const double beta = -rs * rs * B / static_cast<double>(L);
      const double gamma = -m * beta - rs * A / static_cast<double>(L);
      const T rt = static_cast<T>(rs), be = static_cast<T>(beta), ga = static_cast<T>(gamma);
      for (int64_t j = 0; j < L; ++j) {
        out[j] = gr[j] * (rt * (w ? w[j] : T(1))) + xr[j] * be + ga;
        const double gv = static_cast<double>(gr[j]);
        part_b[j] += gv;
        part_w[j] += gv * (static_cast<double>(xr[j]) - m) * rs;
      }
    }
  }

  for (int64_t j = 0; j < L; ++j) {
    double acc_w = 0, acc_b = 0;
    for (int64_t part = 0; part < parts; ++part) {
      acc_w += partial[part * 2 * L + j];
      acc_b += partial[part * 2 * L + L + j];
    }
    gw[j] = static_cast<T>(acc_w);
    gb[j] = static_cast<T>(acc_b);
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
