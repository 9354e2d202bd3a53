// Group norm, layer norm and batch norm kernels (contracts in tensor/cuda/norm.h; the formulas are
// explained in tensor/cpu/norm.cpp, which these kernels follow step by step).
#include <cmath>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/norm.h"

namespace ldae::cuda {

namespace {

constexpr int kNormThreads = 512;

// mean and 1/sqrt(var + eps) from the shifted sums of d = x - k and d^2 (as the CPU).
__device__ __forceinline__ void stats_from_shifted_sums(double k, double sum, double sumsq,
                                                        int64_t L, double eps, double* mean,
                                                        double* rstd) {
  const double m = sum / static_cast<double>(L);
  double var = sumsq / static_cast<double>(L) - m * m;
  var = var > 0.0 ? var : 0.0;
  *mean = k + m;
  *rstd = 1.0 / sqrt(var + eps);
}

// ---- Group norm ----

// Block ng normalises group ng = n * groups + group: L = Cg * S contiguous values.
template <typename T>
__global__ void group_norm_forward_kernel(cpu::GroupNormGeometry g, const T* x, const T* w,
                                          const T* b, double eps, T* y, T* mean, T* rstd) {
  __shared__ double shared[32];
  const int64_t Cg = g.C / g.groups, L = Cg * g.S, NG = g.N * g.groups;
  for (int64_t ng = blockIdx.x; ng < NG; ng += gridDim.x) {
    const T* xg = x + ng * L;
    const double k = static_cast<double>(xg[0]);
    double s = 0, q = 0;
    for (int64_t i = threadIdx.x; i < L; i += blockDim.x) {
      const double d = static_cast<double>(xg[i]) - k;
      s += d;
      q += d * d;
    }
    s = block_sum(s, shared);
    q = block_sum(q, shared);
    double m, r;
    stats_from_shifted_sums(k, s, q, L, eps, &m, &r);
    if (threadIdx.x == 0) {
      mean[ng] = static_cast<T>(m);
      rstd[ng] = static_cast<T>(r);
    }
    // y = x * scale + shift per channel, with scale and shift in double, cast once.
    const int64_t c0 = (ng % g.groups) * Cg;
    for (int64_t i = threadIdx.x; i < L; i += blockDim.x) {
      const int64_t c = c0 + i / g.S;
      const double scale = r * (w ? static_cast<double>(w[c]) : 1.0);
      const double shift = (b ? static_cast<double>(b[c]) : 0.0) - m * scale;
      y[ng * L + i] = xg[i] * static_cast<T>(scale) + static_cast<T>(shift);
    }
  }
}

// Block nc: sum(gy) and sum(gy (x - mean)) over the S values of (n, c).
template <typename T>
__global__ void group_norm_sums_kernel(cpu::GroupNormGeometry g, const T* gy, const T* x,
                                       const T* mean, double* sum_g, double* sum_gd) {
  __shared__ double shared[32];
  const int64_t Cg = g.C / g.groups, NC = g.N * g.C;
  for (int64_t nc = blockIdx.x; nc < NC; nc += gridDim.x) {
    const double m = static_cast<double>(mean[nc / Cg]);
    double s = 0, q = 0;
    for (int64_t i = threadIdx.x; i < g.S; i += blockDim.x) {
      const double gv = static_cast<double>(gy[nc * g.S + i]);
      s += gv;
      q += gv * (static_cast<double>(x[nc * g.S + i]) - m);
    }
    s = block_sum(s, shared);
    q = block_sum(q, shared);
    if (threadIdx.x == 0) {
      sum_g[nc] = s;
      sum_gd[nc] = q;
    }
  }
}

// Thread c: gb[c] = sum_n sum(gy), gw[c] = sum_n rstd sum(gy (x - mean)).
template <typename T>
__global__ void group_norm_affine_grad_kernel(cpu::GroupNormGeometry g, const T* rstd,
                                              const double* sum_g, const double* sum_gd, T* gw,
                                              T* gb) {
  const int64_t Cg = g.C / g.groups;
  LDAE_KERNEL_LOOP(c, g.C) {
    double acc_w = 0, acc_b = 0;
    for (int64_t n = 0; n < g.N; ++n) {
      const int64_t nc = n * g.C + c;
      acc_w += static_cast<double>(rstd[nc / Cg]) * sum_gd[nc];
      acc_b += sum_g[nc];
    }
    gw[c] = static_cast<T>(acc_w);
    gb[c] = static_cast<T>(acc_b);
  }
}

// Thread ng: the coefficients beta and gamma of gx = alpha gy + beta x + gamma.
template <typename T>
__global__ void group_norm_coeff_kernel(cpu::GroupNormGeometry g, const T* mean, const T* rstd,
                                        const T* w, const double* sum_g, const double* sum_gd,
                                        double* beta, double* gamma) {
  const int64_t Cg = g.C / g.groups, L = Cg * g.S;
  LDAE_KERNEL_LOOP(ng, g.N * g.groups) {
    const double m = static_cast<double>(mean[ng]), r = static_cast<double>(rstd[ng]);
    double A = 0, B = 0;
    for (int64_t j = 0; j < Cg; ++j) {
      const int64_t nc = ng * Cg + j;
      const double wc = w ? static_cast<double>(w[nc % g.C]) : 1.0;
      A += wc * sum_g[nc];
      B += wc * sum_gd[nc] * r;
    }
    beta[ng] = -r * r * B / static_cast<double>(L);
    gamma[ng] = -m * beta[ng] - r * A / static_cast<double>(L);
  }
}

template <typename T>
__global__ void group_norm_gx_kernel(cpu::GroupNormGeometry g, const T* gy, const T* x,
                                     const T* rstd, const T* w, const double* beta,
                                     const double* gamma, T* gx) {
  const int64_t Cg = g.C / g.groups;
  LDAE_KERNEL_LOOP(i, g.N * g.C * g.S) {
    const int64_t nc = i / g.S, ng = nc / Cg;
    const T alpha = static_cast<T>(static_cast<double>(rstd[ng]) *
                                   (w ? static_cast<double>(w[nc % g.C]) : 1.0));
    gx[i] = gy[i] * alpha + x[i] * static_cast<T>(beta[ng]) + static_cast<T>(gamma[ng]);
  }
}

// ---- Layer norm ----

template <typename T>
__global__ void layer_norm_forward_kernel(int64_t M, int64_t L, const T* x, const T* w, const T* b,
                                          double eps, T* y, T* mean, T* rstd) {
  __shared__ double shared[32];
  for (int64_t r = blockIdx.x; r < M; r += gridDim.x) {
    const T* xr = x + r * L;
    const double k = static_cast<double>(xr[0]);
    double s = 0, q = 0;
    for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
      const double d = static_cast<double>(xr[j]) - k;
      s += d;
      q += d * d;
    }
    s = block_sum(s, shared);
    q = block_sum(q, shared);
    double m, rs;
    stats_from_shifted_sums(k, s, q, L, eps, &m, &rs);
    if (threadIdx.x == 0) {
      mean[r] = static_cast<T>(m);
      rstd[r] = static_cast<T>(rs);
    }
    const T mt = static_cast<T>(m), rt = static_cast<T>(rs);
    for (int64_t j = threadIdx.x; j < L; j += blockDim.x)
      y[r * L + j] = (xr[j] - mt) * rt * (w ? w[j] : T(1)) + (b ? b[j] : T(0));
  }
}

template <typename T>
__global__ void layer_norm_gx_kernel(int64_t M, int64_t L, const T* gy, const T* x, const T* mean,
                                     const T* rstd, const T* w, T* gx) {
  __shared__ double shared[32];
  for (int64_t r = blockIdx.x; r < M; r += gridDim.x) {
    const T* gr = gy + r * L;
    const T* xr = x + r * L;
    const double m = static_cast<double>(mean[r]), rs = static_cast<double>(rstd[r]);
    double A = 0, Bsum = 0;  // sum(w gy), sum(w gy (x - mean))
    for (int64_t j = threadIdx.x; j < L; j += blockDim.x) {
      const double wg = (w ? static_cast<double>(w[j]) : 1.0) * static_cast<double>(gr[j]);
      A += wg;
      Bsum += wg * (static_cast<double>(xr[j]) - m);
    }
    A = block_sum(A, shared);
    Bsum = block_sum(Bsum, shared);
    const double B = Bsum * rs;
    const double beta = -rs * rs * B / static_cast<double>(L);
    const double gamma = -m * beta - rs * A / static_cast<double>(L);
    const T rt = static_cast<T>(rs), be = static_cast<T>(beta), ga = static_cast<T>(gamma);
    for (int64_t j = threadIdx.x; j < L; j += blockDim.x)
      gx[r * L + j] = gr[j] * (rt * (w ? w[j] : T(1))) + xr[j] * be + ga;
  }
}

// Thread j: gb[j] = sum over rows of gy, gw[j] = sum of gy (x - mean) rstd.
template <typename T>
__global__ void layer_norm_affine_grad_kernel(int64_t M, int64_t L, const T* gy, const T* x,
                                              const T* mean, const T* rstd, T* gw, T* gb) {
  LDAE_KERNEL_LOOP(j, L) {
    double acc_w = 0, acc_b = 0;
    for (int64_t r = 0; r < M; ++r) {
      const double gv = static_cast<double>(gy[r * L + j]);
      acc_b += gv;
      acc_w += gv * (static_cast<double>(x[r * L + j]) - static_cast<double>(mean[r])) *
               static_cast<double>(rstd[r]);
    }
    gw[j] = static_cast<T>(acc_w);
    gb[j] = static_cast<T>(acc_b);
  }
}

// ---- Batch norm ----

// Block c handles channel c: the N * S values x[n, c, s] (S contiguous values per sample).
template <typename T>
__global__ void batch_norm_forward_kernel(cpu::BatchNormGeometry g, const T* x, const T* w,
                                          const T* b, T* running_mean, T* running_var,
                                          bool training, double momentum, double eps, T* y,
                                          T* mean, T* rstd) {
  __shared__ double shared[32];
  const int64_t L = g.N * g.S;
  for (int64_t c = blockIdx.x; c < g.C; c += gridDim.x) {
    double m, r;
    if (training) {
      const double k = static_cast<double>(x[c * g.S]);
      double s = 0, q = 0;
      for (int64_t i = threadIdx.x; i < L; i += blockDim.x) {
        const double d = static_cast<double>(x[(i / g.S * g.C + c) * g.S + i % g.S]) - k;
        s += d;
        q += d * d;
      }
      s = block_sum(s, shared);
      q = block_sum(q, shared);
      const double md = s / static_cast<double>(L);
      double var = q / static_cast<double>(L) - md * md;
      var = var > 0.0 ? var : 0.0;
      m = k + md;
      r = 1.0 / sqrt(var + eps);
      if (threadIdx.x == 0) {
        if (running_mean)
          running_mean[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_mean[c]) +
                                           momentum * m);
        if (running_var) {
          const double unbiased = var * static_cast<double>(L) / static_cast<double>(L - 1);
          running_var[c] = static_cast<T>((1.0 - momentum) * static_cast<double>(running_var[c]) +
                                          momentum * unbiased);
        }
      }
    } else {
      m = static_cast<double>(running_mean[c]);
      r = 1.0 / sqrt(static_cast<double>(running_var[c]) + eps);
    }
    if (threadIdx.x == 0) {
      mean[c] = static_cast<T>(m);
      rstd[c] = static_cast<T>(r);
    }
    const double scale = r * (w ? static_cast<double>(w[c]) : 1.0);
    const double shift = (b ? static_cast<double>(b[c]) : 0.0) - m * scale;
    const T sc = static_cast<T>(scale), sh = static_cast<T>(shift);
    for (int64_t i = threadIdx.x; i < L; i += blockDim.x) {
      const int64_t at = (i / g.S * g.C + c) * g.S + i % g.S;
      y[at] = x[at] * sc + sh;
    }
  }
}

// Block c: sum(gy) and sum(gy (x - mean)) over channel c, then gw[c], gb[c] and gx of the
// channel as alpha gy + beta x + gamma (beta = gamma = 0 in eval).
template <typename T>
__global__ void batch_norm_backward_kernel(cpu::BatchNormGeometry g, const T* gy, const T* x,
                                           const T* mean, const T* rstd, const T* w,
                                           bool training, T* gx, T* gw, T* gb) {
  __shared__ double shared[32];
  const int64_t L = g.N * g.S;
  for (int64_t c = blockIdx.x; c < g.C; c += gridDim.x) {
    const double m = static_cast<double>(mean[c]), r = static_cast<double>(rstd[c]);
    const double wc = w ? static_cast<double>(w[c]) : 1.0;
    double sg = 0, sgd = 0;
    for (int64_t i = threadIdx.x; i < L; i += blockDim.x) {
      const int64_t at = (i / g.S * g.C + c) * g.S + i % g.S;
      const double gv = static_cast<double>(gy[at]);
      sg += gv;
      sgd += gv * (static_cast<double>(x[at]) - m);
    }
    sg = block_sum(sg, shared);
    sgd = block_sum(sgd, shared);
    if (threadIdx.x == 0) {
      gb[c] = static_cast<T>(sg);
      gw[c] = static_cast<T>(sgd * r);
    }
    double beta = 0.0, gamma = 0.0;
    if (training) {
      const double A = wc * sg, B = wc * sgd * r;
      beta = -r * r * B / static_cast<double>(L);
      gamma = -m * beta - r * A / static_cast<double>(L);
    }
    const T al = static_cast<T>(r * wc), be = static_cast<T>(beta), ga = static_cast<T>(gamma);
    for (int64_t i = threadIdx.x; i < L; i += blockDim.x) {
      const int64_t at = (i / g.S * g.C + c) * g.S + i % g.S;
      gx[at] = training ? gy[at] * al + x[at] * be + ga : gy[at] * al;
    }
  }
}

unsigned row_blocks(int64_t rows) {
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(rows, 65536)));
}

}  // namespace

template <typename T>
void group_norm_forward(const cpu::GroupNormGeometry& g, const T* x, const T* w, const T* b,
                        double eps, T* y, T* mean, T* rstd) {
  group_norm_forward_kernel<T>
      <<<row_blocks(g.N * g.groups), kNormThreads>>>(g, x, w, b, eps, y, mean, rstd);
  LDAE_CUDA_CHECK_LAUNCH();
}

template <typename T>
void group_norm_backward(const cpu::GroupNormGeometry& g, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* gx, T* gw, T* gb) {
  const int64_t NC = g.N * g.C, NG = g.N * g.groups;
  DeviceBuffer work(static_cast<size_t>(2 * NC + 2 * NG) * sizeof(double), current_device());
  double* sum_g = work.as<double>();
  double* sum_gd = sum_g + NC;
  double* beta = sum_gd + NC;
  double* gamma = beta + NG;
  group_norm_sums_kernel<T><<<row_blocks(NC), kNormThreads>>>(g, gy, x, mean, sum_g, sum_gd);
  LDAE_CUDA_CHECK_LAUNCH();
  group_norm_affine_grad_kernel<T><<<blocks_for(g.C), kThreads>>>(g, rstd, sum_g, sum_gd, gw, gb);
  LDAE_CUDA_CHECK_LAUNCH();
  group_norm_coeff_kernel<T>
      <<<blocks_for(NG), kThreads>>>(g, mean, rstd, w, sum_g, sum_gd, beta, gamma);
  LDAE_CUDA_CHECK_LAUNCH();
  group_norm_gx_kernel<T><<<blocks_for(NC * g.S), kThreads>>>(g, gy, x, rstd, w, beta, gamma, gx);
  LDAE_CUDA_CHECK_LAUNCH();
}

template <typename T>
void layer_norm_forward(int64_t M, int64_t L, const T* x, const T* w, const T* b, double eps, T* y,
                        T* mean, T* rstd) {
  layer_norm_forward_kernel<T><<<row_blocks(M), kNormThreads>>>(M, L, x, w, b, eps, y, mean, rstd);
  LDAE_CUDA_CHECK_LAUNCH();
}

template <typename T>
void layer_norm_backward(int64_t M, int64_t L, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, T* gx, T* gw, T* gb) {
  layer_norm_gx_kernel<T><<<row_blocks(M), kNormThreads>>>(M, L, gy, x, mean, rstd, w, gx);
  LDAE_CUDA_CHECK_LAUNCH();
  layer_norm_affine_grad_kernel<T><<<blocks_for(L), kThreads>>>(M, L, gy, x, mean, rstd, gw, gb);
  LDAE_CUDA_CHECK_LAUNCH();
}

template <typename T>
void batch_norm_forward(const cpu::BatchNormGeometry& g, const T* x, const T* w, const T* b,
                        T* running_mean, T* running_var, bool training, double momentum,
                        double eps, T* y, T* mean, T* rstd) {
  batch_norm_forward_kernel<T><<<row_blocks(g.C), kNormThreads>>>(
      g, x, w, b, running_mean, running_var, training, momentum, eps, y, mean, rstd);
  LDAE_CUDA_CHECK_LAUNCH();
}

template <typename T>
void batch_norm_backward(const cpu::BatchNormGeometry& g, const T* gy, const T* x, const T* mean,
                         const T* rstd, const T* w, bool training, T* gx, T* gw, T* gb) {
  batch_norm_backward_kernel<T>
      <<<row_blocks(g.C), kNormThreads>>>(g, gy, x, mean, rstd, w, training, gx, gw, gb);
  LDAE_CUDA_CHECK_LAUNCH();
}

#define LDAE_NORM_INSTANTIATE(T)                                                                   \
  template void group_norm_forward<T>(const cpu::GroupNormGeometry&, const T*, const T*, const T*, \
                                      double, T*, T*, T*);                                         \
  template void group_norm_backward<T>(const cpu::GroupNormGeometry&, const T*, const T*,          \
                                       const T*, const T*, const T*, T*, T*, T*);                  \
  template void layer_norm_forward<T>(int64_t, int64_t, const T*, const T*, const T*, double, T*,  \
                                      T*, T*);                                                     \
  template void layer_norm_backward<T>(int64_t, int64_t, const T*, const T*, const T*, const T*,   \
                                       const T*, T*, T*, T*);                                      \
  template void batch_norm_forward<T>(const cpu::BatchNormGeometry&, const T*, const T*,           \
                                      const T*, T*, T*, bool, double, double, T*, T*, T*);         \
  template void batch_norm_backward<T>(const cpu::BatchNormGeometry&, const T*, const T*,          \
                                       const T*, const T*, const T*, bool, T*, T*, T*);
LDAE_NORM_INSTANTIATE(float)
LDAE_NORM_INSTANTIATE(double)
#undef LDAE_NORM_INSTANTIATE

}  // namespace ldae::cuda
