// CPU kernels of group norm, layer norm and batch norm (contracts in tensor/cpu/norm.h).
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

  // Per (n, group), in parallel: pass 1 over the group's channels (per (n, c): sum(gy) and
  // sum(gy (x - mean))), the group's coefficients beta and gamma of gx = alpha gy + beta x +
  // gamma, then pass 2 (gx) over the same channels while they are still in cache (a group of the
  // course autoencoder's largest layer is 2 x 40,960 values of x and of gy). Every sum is taken
  // in the same order as in two separate passes over the whole tensor.
  std::vector<double> sum_g(NC), sum_gd(NC);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t ng = 0; ng < NG; ++ng) {
    const double m = static_cast<double>(mean[ng]), r = static_cast<double>(rstd[ng]);
    double A = 0, B = 0;  // sum(w gy), sum(w gy xhat)
    for (int64_t j = 0; j < Cg; ++j) {
      const int64_t nc = ng * Cg + j;
      const auto sums = grad_sums<T>(gy + nc * S, x + nc * S, nullptr, S, m);
      sum_g[nc] = sums.first;
      sum_gd[nc] = sums.second;
      const double wc = weight(nc % C);
      A += wc * sum_g[nc];
      B += wc * sum_gd[nc] * r;
    }
    const double beta = -r * r * B / static_cast<double>(L);
    const double gamma = -m * beta - r * A / static_cast<double>(L);
    for (int64_t j = 0; j < Cg; ++j) {
      const int64_t nc = ng * Cg + j;
      const T alpha = static_cast<T>(r * weight(nc % C));
      const T be = static_cast<T>(beta), ga = static_cast<T>(gamma);
      const T* gc = gy + nc * S;
      const T* xc = x + nc * S;
      T* out = gx + nc * S;
      for (int64_t i = 0; i < S; ++i) out[i] = gc[i] * alpha + xc[i] * be + ga;
    }
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

// ---- Batch norm -------------------------------------------------------------------------
// One set per channel: the N * S values of channel c in all samples. The formulas are
// those of group norm above with L = N * S (training); in eval the statistics are
// constants and the backward is the per-channel affine map gx = rstd w gy.

template <typename T>
void batch_norm_forward(const BatchNormGeometry& g, const T* x, const T* w, const T* b,
                        T* running_mean, T* running_var, bool training, double momentum,
                        double eps, T* y, T* mean, T* rstd) {
  const int64_t C = g.C, S = g.S, NC = g.N * C, L = g.N * S;
  const bool parallel = NC * S > kParallelGrain;
  std::vector<double> mean_d(C), rstd_d(C);
  if (training) {
    // Pass 1: per (n, c), the shifted sums of its S values; the shift is the channel's
    // first value x[0, c, 0], so that the sums of one channel add up over n.
    std::vector<double> sum(NC), sumsq(NC);
#pragma omp parallel for schedule(static) if (parallel)
    for (int64_t nc = 0; nc < NC; ++nc) {
      const auto s = shifted_sums(x + nc * S, S, static_cast<double>(x[nc % C * S]));
      sum[nc] = s.first;
      sumsq[nc] = s.second;
    }
    // Per channel: add the sample sums in n order (C * N numbers: cheap, serial).
    for (int64_t c = 0; c < C; ++c) {
      double s = 0, q = 0;
      for (int64_t n = 0; n < g.N; ++n) {
        s += sum[n * C + c];
        q += sumsq[n * C + c];
      }
      const double k = static_cast<double>(x[c * S]);
      const double m = s / static_cast<double>(L);  // mean of d = x - k
      const double var = std::max(q / static_cast<double>(L) - m * m, 0.0);
      mean_d[c] = k + m;
      rstd_d[c] = 1.0 / std::sqrt(var + eps);
      if (running_mean) {
        running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) +
                                         momentum * mean_d[c]);
      }
      if (running_var) {
        const double unbiased = var * static_cast<double>(L) / static_cast<double>(L - 1);
        running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) +
                                        momentum * unbiased);
      }
    }
  } else {
    for (int64_t c = 0; c < C; ++c) {
      mean_d[c] = static_cast<double>(running_mean[c]);
      rstd_d[c] = 1.0 / std::sqrt(static_cast<double>(running_var[c]) + eps);
    }
  }
  for (int64_t c = 0; c < C; ++c) {
    mean[c] = static_cast<T>(mean_d[c]);
    rstd[c] = static_cast<T>(rstd_d[c]);
  }

  // Pass 2: y = x * scale + shift, with scale = rstd w and shift = b - mean scale per c.
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t nc = 0; nc < NC; ++nc) {
    const int64_t c = nc % C;
    const double scale = rstd_d[c] * (w ? static_cast<double>(w[c]) : 1.0);
    const double shift = (b ? static_cast<double>(b[c]) : 0.0) - mean_d[c] * scale;
    const T sc = static_cast<T>(scale), sh = static_cast<T>(shift);
    const T* xc = x + nc * S;
    T* yc = y + nc * S;
    for (int64_t i = 0; i < S; ++i) yc[i] = xc[i] * sc + sh;
  }
}

template <typename T>
void batch_norm_backward(const BatchNormGeometry& g, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, bool training, T* gx, T* gw, T* gb) {
  const int64_t C = g.C, S = g.S, NC = g.N * C, L = g.N * S;
  const bool parallel = NC * S > kParallelGrain;

  // Pass 1: per (n, c), sum(gy) and sum(gy (x - mean)).
  std::vector<double> sum_g(NC), sum_gd(NC);
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t nc = 0; nc < NC; ++nc) {
    const auto s = grad_sums<T>(gy + nc * S, x + nc * S, nullptr, S,
                                static_cast<double>(mean[nc % C]));
    sum_g[nc] = s.first;
    sum_gd[nc] = s.second;
  }

  // Per channel, sums over n in order: gb, gw and the coefficients of
  // gx = alpha gy + beta x + gamma (beta = gamma = 0 in eval).
  std::vector<double> alpha(C), beta(C), gamma(C);
  for (int64_t c = 0; c < C; ++c) {
    double sg = 0, sgd = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      sg += sum_g[n * C + c];
      sgd += sum_gd[n * C + c];
    }
    const double m = static_cast<double>(mean[c]), r = static_cast<double>(rstd[c]);
    const double wc = w ? static_cast<double>(w[c]) : 1.0;
    gb[c] = static_cast<T>(sg);
    gw[c] = static_cast<T>(sgd * r);
    alpha[c] = r * wc;
    if (training) {
      const double A = wc * sg, B = wc * sgd * r;  // sum(w gy), sum(w gy xhat)
      beta[c] = -r * r * B / static_cast<double>(L);
      gamma[c] = -m * beta[c] - r * A / static_cast<double>(L);
    } else {
      beta[c] = 0.0;
      gamma[c] = 0.0;
    }
  }

  // Pass 2: gx.
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t nc = 0; nc < NC; ++nc) {
    const int64_t c = nc % C;
    const T al = static_cast<T>(alpha[c]), be = static_cast<T>(beta[c]),
            ga = static_cast<T>(gamma[c]);
    const T* gc = gy + nc * S;
    const T* xc = x + nc * S;
    T* out = gx + nc * S;
    if (training) {
      for (int64_t i = 0; i < S; ++i) out[i] = gc[i] * al + xc[i] * be + ga;
    } else {
      for (int64_t i = 0; i < S; ++i) out[i] = gc[i] * al;
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
                                       const T*, T*, T*, T*);                                     \
  template void batch_norm_forward<T>(const BatchNormGeometry&, const T*, const T*, const T*,     \
                                      T*, T*, bool, double, double, T*, T*, T*);                 \
  template void batch_norm_backward<T>(const BatchNormGeometry&, const T*, const T*, const T*,    \
                                       const T*, const T*, bool, T*, T*, T*);
LDAE_NORM_INSTANTIATE(float)
LDAE_NORM_INSTANTIATE(double)
#undef LDAE_NORM_INSTANTIATE

}  // namespace ldae::cpu
