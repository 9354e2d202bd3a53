// Reference group norm, layer norm and batch norm as plain loops (contracts in norm_reference.h).
//
// Group norm splits the C channels of each sample into `groups` groups of Cg = C / groups
// channels; one "set" is the Cg * S values of one group of one sample (contiguous in memory).
// For each set of L = Cg * S values:
//   mean = sum(x) / L,   var = sum((x - mean)^2) / L   (biased, as PyTorch),
//   rstd = 1 / sqrt(var + eps),   xhat = (x - mean) * rstd,   y = xhat * w[c] + b[c].
// Backward, with dxhat = gy * w[c] (the gradient reaching xhat):
//   gb[c] = sum of gy over all samples and positions of channel c,
//   gw[c] = sum of gy * xhat over the same values,
//   gx    = rstd * (dxhat - mean(dxhat) - xhat * mean(dxhat * xhat))   (means over the set).
// (The last line is the derivative of xhat through x, mean and rstd; tensor/cpu/norm.cpp derives
// the same expression and evaluates it in a faster form.)
//
// Layer norm of rows of length L with a weight per position is the same computation: a group
// norm with N = M samples, C = L channels of one position each (S = 1) and a single group.
#include "tensor/cpu/norm_reference.h"

#include <cmath>
#include <cstdint>

namespace ldae::cpu {

template <typename T>
void group_norm_reference_forward(const GroupNormGeometry& g, const T* x, const T* w, const T* b,
                                  double eps, T* y, T* mean, T* rstd) {
  const int64_t Cg = g.C / g.groups, S = g.S, L = Cg * S;
  // One set (n, group) per iteration: it writes that set's y, mean and rstd.
#pragma omp parallel for schedule(static)
  for (int64_t set = 0; set < g.N * g.groups; ++set) {
    const int64_t c0 = set % g.groups * Cg;  // first channel of the group
    const T* xs = x + set * L;               // the set's L values: (Cg, S)
    T* ys = y + set * L;
    double sum = 0;
    for (int64_t i = 0; i < L; ++i) sum += xs[i];
    const double m = sum / static_cast<double>(L);
    double sq = 0;
    for (int64_t i = 0; i < L; ++i) sq += (xs[i] - m) * (xs[i] - m);
    const double r = 1.0 / std::sqrt(sq / static_cast<double>(L) + eps);
    for (int64_t j = 0; j < Cg; ++j) {
      const double wc = w ? w[c0 + j] : 1.0, bc = b ? b[c0 + j] : 0.0;
      for (int64_t s = 0; s < S; ++s) {
        ys[j * S + s] = static_cast<T>((xs[j * S + s] - m) * r * wc + bc);
      }
    }
    mean[set] = static_cast<T>(m);
    rstd[set] = static_cast<T>(r);
  }
}

template <typename T>
void group_norm_reference_backward(const GroupNormGeometry& g, const T* gy, const T* x,
                                   const T* mean, const T* rstd, const T* w, T* gx, T* gw, T* gb) {
  const int64_t C = g.C, Cg = C / g.groups, S = g.S, L = Cg * S;
  // xhat of element (n, c, s), from the statistics of its set (n, c / Cg).
  auto xhat = [&](int64_t n, int64_t c, int64_t s) {
    const int64_t set = n * g.groups + c / Cg;
    return (static_cast<double>(x[(n * C + c) * S + s]) - mean[set]) * rstd[set];
  };

  // gb and gw: one channel per iteration, summed over samples then positions.
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double sum_gy = 0, sum_gy_xhat = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      for (int64_t s = 0; s < S; ++s) {
        const double dy = gy[(n * C + c) * S + s];
        sum_gy += dy;
        sum_gy_xhat += dy * xhat(n, c, s);
      }
    }
    gb[c] = static_cast<T>(sum_gy);
    gw[c] = static_cast<T>(sum_gy_xhat);
  }

  // gx: one set per iteration.
#pragma omp parallel for schedule(static)
  for (int64_t set = 0; set < g.N * g.groups; ++set) {
    const int64_t n = set / g.groups, c0 = set % g.groups * Cg;
    // The two means over the set: mean(dxhat) and mean(dxhat * xhat), dxhat = gy * w.
    double sum_d = 0, sum_d_xhat = 0;
    for (int64_t c = c0; c < c0 + Cg; ++c) {
      const double wc = w ? w[c] : 1.0;
      for (int64_t s = 0; s < S; ++s) {
        const double d = gy[(n * C + c) * S + s] * wc;
        sum_d += d;
        sum_d_xhat += d * xhat(n, c, s);
      }
    }
    const double mean_d = sum_d / static_cast<double>(L);
    const double mean_d_xhat = sum_d_xhat / static_cast<double>(L);
    for (int64_t c = c0; c < c0 + Cg; ++c) {
      const double wc = w ? w[c] : 1.0;
      for (int64_t s = 0; s < S; ++s) {
        const double d = gy[(n * C + c) * S + s] * wc;
        gx[(n * C + c) * S + s] =
            static_cast<T>(rstd[set] * (d - mean_d - xhat(n, c, s) * mean_d_xhat));
      }
    }
  }
}

// Layer norm: a group norm of (M samples, L channels, S = 1) with one group (see the top).
template <typename T>
void layer_norm_reference_forward(int64_t M, int64_t L, const T* x, const T* w, const T* b,
                                  double eps, T* y, T* mean, T* rstd) {
  GroupNormGeometry g;
  g.N = M;
  g.C = L;
  g.groups = 1;
  g.S = 1;
  group_norm_reference_forward(g, x, w, b, eps, y, mean, rstd);
}

template <typename T>
void layer_norm_reference_backward(int64_t M, int64_t L, const T* gy, const T* x, const T* mean,
                                   const T* rstd, const T* w, T* gx, T* gw, T* gb) {
  GroupNormGeometry g;
  g.N = M;
  g.C = L;
  g.groups = 1;
  g.S = 1;
  group_norm_reference_backward(g, gy, x, mean, rstd, w, gx, gw, gb);
}

// Batch norm: one set per channel c, the N * S values x[n, c, s] (strided in memory).
// Training: mean, biased var over the set (two passes), the running statistics updated with
// the unbiased var * L / (L - 1); backward as group norm's above with L = N * S.
// Eval: mean, var = the running statistics; gx = gy * rstd * w (the statistics are constants).
template <typename T>
void batch_norm_reference_forward(const BatchNormGeometry& g, const T* x, const T* w, const T* b,
                                  T* running_mean, T* running_var, bool training, double momentum,
                                  double eps, T* y, T* mean, T* rstd) {
  const int64_t C = g.C, S = g.S, L = g.N * S;
  auto at = [&](int64_t n, int64_t c, int64_t s) { return (n * C + c) * S + s; };
  // One channel per iteration: it writes that channel's y, mean, rstd and running entries.
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    double m, var;
    if (training) {
      double sum = 0;
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t s = 0; s < S; ++s) sum += x[at(n, c, s)];
      m = sum / static_cast<double>(L);
      double sq = 0;
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t s = 0; s < S; ++s) sq += (x[at(n, c, s)] - m) * (x[at(n, c, s)] - m);
      var = sq / static_cast<double>(L);
      if (running_mean)
        running_mean[c] = static_cast<T>((1 - momentum) * running_mean[c] + momentum * m);
      if (running_var) {
        const double unbiased = sq / static_cast<double>(L - 1);
        running_var[c] = static_cast<T>((1 - momentum) * running_var[c] + momentum * unbiased);
      }
    } else {
      m = running_mean[c];
      var = running_var[c];
    }
    const double r = 1.0 / std::sqrt(var + eps);
    const double wc = w ? w[c] : 1.0, bc = b ? b[c] : 0.0;
    for (int64_t n = 0; n < g.N; ++n)
      for (int64_t s = 0; s < S; ++s)
        y[at(n, c, s)] = static_cast<T>((x[at(n, c, s)] - m) * r * wc + bc);
    mean[c] = static_cast<T>(m);
    rstd[c] = static_cast<T>(r);
  }
}

template <typename T>
void batch_norm_reference_backward(const BatchNormGeometry& g, const T* gy, const T* x,
                                   const T* mean, const T* rstd, const T* w, bool training, T* gx,
                                   T* gw, T* gb) {
  const int64_t C = g.C, S = g.S, L = g.N * S;
  auto at = [&](int64_t n, int64_t c, int64_t s) { return (n * C + c) * S + s; };
#pragma omp parallel for schedule(static)
  for (int64_t c = 0; c < C; ++c) {
    const double m = mean[c], r = rstd[c], wc = w ? w[c] : 1.0;
    auto xhat = [&](int64_t i) { return (static_cast<double>(x[i]) - m) * r; };
    double sum_gy = 0, sum_gy_xhat = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      for (int64_t s = 0; s < S; ++s) {
        sum_gy += gy[at(n, c, s)];
        sum_gy_xhat += gy[at(n, c, s)] * xhat(at(n, c, s));
      }
    }
    gb[c] = static_cast<T>(sum_gy);
    gw[c] = static_cast<T>(sum_gy_xhat);
    // dxhat = gy * w; its means over the set (training only).
    const double mean_d = training ? wc * sum_gy / static_cast<double>(L) : 0.0;
    const double mean_d_xhat = training ? wc * sum_gy_xhat / static_cast<double>(L) : 0.0;
    for (int64_t n = 0; n < g.N; ++n) {
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = at(n, c, s);
        gx[i] = static_cast<T>(r * (gy[i] * wc - mean_d - xhat(i) * mean_d_xhat));
      }
    }
  }
}

#define LDAE_INSTANTIATE(T)                                                                      \
  template void group_norm_reference_forward<T>(const GroupNormGeometry&, const T*, const T*,    \
                                                const T*, double, T*, T*, T*);                   \
  template void group_norm_reference_backward<T>(const GroupNormGeometry&, const T*, const T*,   \
                                                 const T*, const T*, const T*, T*, T*, T*);      \
  template void layer_norm_reference_forward<T>(int64_t, int64_t, const T*, const T*, const T*,  \
                                                double, T*, T*, T*);                             \
  template void layer_norm_reference_backward<T>(int64_t, int64_t, const T*, const T*, const T*, \
                                                 const T*, const T*, T*, T*, T*);                \
  template void batch_norm_reference_forward<T>(const BatchNormGeometry&, const T*, const T*,    \
                                                const T*, T*, T*, bool, double, double, T*, T*,  \
                                                T*);                                             \
  template void batch_norm_reference_backward<T>(const BatchNormGeometry&, const T*, const T*,   \
                                                 const T*, const T*, const T*, bool, T*, T*, T*);
LDAE_INSTANTIATE(float)
LDAE_INSTANTIATE(double)
#undef LDAE_INSTANTIATE

}  // namespace ldae::cpu
