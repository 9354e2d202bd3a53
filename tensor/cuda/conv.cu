// Convolution kernels (contracts and method in tensor/cuda/conv.h).
//
// Notation: Cgi = Cin / groups, Cgo = Cout / groups, kvol = kD kH kW, rows = Cgi kvol,
// Si / So = input / output positions per channel (D H W). Column matrix of a chunk of
// `len` output positions starting at p0: col[r][j], r = ci * kvol + kernel offset,
// j = p - p0, row-major with row stride len.
#include <atomic>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/conv.h"
#include "tensor/cuda/matmul.h"

namespace ldae::cuda {

namespace {

using cpu::ConvGeometry;

struct Sizes {
  int64_t Cgi, Cgo, kvol, rows, Si, So;
};

Sizes sizes_of(const ConvGeometry& g) {
  Sizes s;
  s.Cgi = g.Cin / g.groups;
  s.Cgo = g.Cout / g.groups;
  s.kvol = g.kernel[0] * g.kernel[1] * g.kernel[2];
  s.rows = s.Cgi * s.kvol;
  s.Si = g.in[0] * g.in[1] * g.in[2];
  s.So = g.out[0] * g.out[1] * g.out[2];
  return s;
}

// A 1x1x1 kernel, stride 1, no padding: output position p reads input position p.
bool is_pointwise(const ConvGeometry& g) {
  for (int a = 0; a < 3; ++a)
    if (g.kernel[a] != 1 || g.stride[a] != 1 || g.padding[a] != 0) return false;
  return true;
}

std::atomic<size_t>& workspace_bytes() {
  static std::atomic<size_t> bytes{size_t(64) << 20};
  return bytes;
}

// Output positions per chunk so that the column matrix fits the workspace.
template <typename T>
int64_t chunk_length(const Sizes& s) {
  const int64_t fit = static_cast<int64_t>(workspace_bytes().load() / sizeof(T)) / s.rows;
  return std::max<int64_t>(1, std::min<int64_t>(s.So, fit));
}

// col (rows x len) from x (Cgi x Si, one sample and group): the input value each kernel
// tap of each output position reads, 0 in the padding.
template <typename T>
__global__ void im2col_kernel(const T* x, T* col, ConvGeometry g, int64_t Si, int64_t kvol,
                              int64_t rows, int64_t p0, int64_t len) {
  LDAE_KERNEL_LOOP(i, rows * len) {
    const int64_t j = i % len, r = i / len;
    const int64_t ci = r / kvol, k = r % kvol;
    const int64_t kw = k % g.kernel[2], kh = (k / g.kernel[2]) % g.kernel[1],
                  kd = k / (g.kernel[2] * g.kernel[1]);
    const int64_t p = p0 + j;
    const int64_t ow = p % g.out[2], oh = (p / g.out[2]) % g.out[1], od = p / (g.out[2] * g.out[1]);
    const int64_t id = od * g.stride[0] - g.padding[0] + kd * g.dilation[0];
    const int64_t ih = oh * g.stride[1] - g.padding[1] + kh * g.dilation[1];
    const int64_t iw = ow * g.stride[2] - g.padding[2] + kw * g.dilation[2];
    T v = T(0);
    if (id >= 0 && id < g.in[0] && ih >= 0 && ih < g.in[1] && iw >= 0 && iw < g.in[2])
      v = x[ci * Si + (id * g.in[1] + ih) * g.in[2] + iw];
    col[i] = v;
  }
}

// The output index along one axis that kernel tap k of input index i contributes to, or
// -1: o * stride - padding + k * dilation = i must have a whole solution o in [0, out).
__device__ __forceinline__ int64_t tap_output(int64_t i, int64_t k, int64_t stride, int64_t padding,
                                              int64_t dilation, int64_t out) {
  const int64_t num = i + padding - k * dilation;
  if (num < 0 || num % stride != 0) return -1;
  const int64_t o = num / stride;
  return o < out ? o : -1;
}

// gx (Cgi x Si, one sample and group) (+)= the column entries of chunk [p0, p0 + len)
// that were read from each input position (the transpose of im2col, as a gather).
template <typename T>
__global__ void col2im_kernel(const T* col, T* gx, ConvGeometry g, int64_t Si, int64_t kvol,
                              int64_t Cgi, int64_t p0, int64_t len, bool accumulate) {
  LDAE_KERNEL_LOOP(i, Cgi * Si) {
    const int64_t ci = i / Si, s = i % Si;
    const int64_t iw = s % g.in[2], ih = (s / g.in[2]) % g.in[1], id = s / (g.in[2] * g.in[1]);
    T acc = T(0);
    for (int64_t kd = 0; kd < g.kernel[0]; ++kd) {
      const int64_t od = tap_output(id, kd, g.stride[0], g.padding[0], g.dilation[0], g.out[0]);
      if (od < 0) continue;
      for (int64_t kh = 0; kh < g.kernel[1]; ++kh) {
        const int64_t oh = tap_output(ih, kh, g.stride[1], g.padding[1], g.dilation[1], g.out[1]);
        if (oh < 0) continue;
        for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
          const int64_t ow = tap_output(iw, kw, g.stride[2], g.padding[2], g.dilation[2], g.out[2]);
          if (ow < 0) continue;
          const int64_t p = (od * g.out[1] + oh) * g.out[2] + ow;
          if (p < p0 || p >= p0 + len) continue;
          const int64_t r = ci * kvol + (kd * g.kernel[1] + kh) * g.kernel[2] + kw;
          acc += col[r * len + (p - p0)];
        }
      }
    }
    gx[i] = accumulate ? gx[i] + acc : acc;
  }
}

// y[n][c][p] += b[c] for y: (N, C, So).
template <typename T>
__global__ void add_bias_kernel(T* y, const T* b, int64_t C, int64_t So, int64_t total) {
  LDAE_KERNEL_LOOP(i, total) y[i] += b[(i / So) % C];
}

// gb[c] = sum over n and p of gy[n][c][p], in double: one block per channel.
template <typename T>
__global__ void bias_grad_kernel(const T* gy, T* gb, int64_t N, int64_t C, int64_t So) {
  __shared__ double shared[32];
  for (int64_t c = blockIdx.x; c < C; c += gridDim.x) {
    double acc = 0;
    for (int64_t n = 0; n < N; ++n)
      for (int64_t p = threadIdx.x; p < So; p += blockDim.x)
        acc += static_cast<double>(gy[(n * C + c) * So + p]);
    acc = block_sum(acc, shared);
    if (threadIdx.x == 0) gb[c] = static_cast<T>(acc);
  }
}

}  // namespace

size_t conv_workspace_bytes() {
  return workspace_bytes().load();
}
size_t set_conv_workspace_bytes(size_t bytes) {
  return workspace_bytes().exchange(bytes);
}

template <typename T>
void conv_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const Sizes s = sizes_of(g);
  const bool pointwise = is_pointwise(g);
  const int64_t chunk = chunk_length<T>(s);
  DeviceBuffer col(pointwise ? 0 : static_cast<size_t>(s.rows * chunk) * sizeof(T),
                   current_device());
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      const T* xs = x + (n * g.Cin + gi * s.Cgi) * s.Si;
      const T* wg = w + gi * s.Cgo * s.rows;
      T* ys = y + (n * g.Cout + gi * s.Cgo) * s.So;
      for (int64_t p0 = 0; p0 < s.So; p0 += chunk) {
        const int64_t len = std::min(chunk, s.So - p0);
        const T* colp = xs + p0;  // pointwise: the input is its own column matrix
        int64_t ldcol = s.Si;
        if (!pointwise) {
          im2col_kernel<T><<<blocks_for(s.rows * len), kThreads>>>(xs, col.as<T>(), g, s.Si, s.kvol,
                                                                   s.rows, p0, len);
          LDAE_CUDA_CHECK_LAUNCH();
          colp = col.as<T>();
          ldcol = len;
        }
        // ys[:, p0:p0+len] (Cgo x len, row stride So) = wg (Cgo x rows) @ col (rows x len)
        gemm<T>(false, false, s.Cgo, len, s.rows, T(1), wg, s.rows, colp, ldcol, T(0), ys + p0,
                s.So);
      }
    }
  if (b != nullptr) {
    const int64_t total = g.N * g.Cout * s.So;
    add_bias_kernel<T><<<blocks_for(total), kThreads>>>(y, b, g.Cout, s.So, total);
    LDAE_CUDA_CHECK_LAUNCH();
  }
}

template <typename T>
void conv_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx) {
  const Sizes s = sizes_of(g);
  const bool pointwise = is_pointwise(g);
  const int64_t chunk = chunk_length<T>(s);
  DeviceBuffer col(pointwise ? 0 : static_cast<size_t>(s.rows * chunk) * sizeof(T),
                   current_device());
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t gi = 0; gi < g.groups; ++gi) {
      const T* gys = gy + (n * g.Cout + gi * s.Cgo) * s.So;
      const T* wg = w + gi * s.Cgo * s.rows;
      T* gxs = gx + (n * g.Cin + gi * s.Cgi) * s.Si;
      for (int64_t p0 = 0; p0 < s.So; p0 += chunk) {
        const int64_t len = std::min(chunk, s.So - p0);
        if (pointwise) {
          // gxs[:, p0:p0+len] (Cgi x len, row stride Si) = wgᵀ (Cgi x Cgo) @ gys[:, p0:p0+len]
          gemm<T>(true, false, s.rows, len, s.Cgo, T(1), wg, s.rows, gys + p0, s.So, T(0), gxs + p0,
                  s.Si);
          continue;
        }
        // col (rows x len) = wgᵀ (rows x Cgo) @ gys[:, p0:p0+len] (Cgo x len)
        gemm<T>(true, false, s.rows, len, s.Cgo, T(1), wg, s.rows, gys + p0, s.So, T(0),
                col.as<T>(), len);
        col2im_kernel<T><<<blocks_for(s.Cgi * s.Si), kThreads>>>(col.as<T>(), gxs, g, s.Si, s.kvol,
                                                                 s.Cgi, p0, len, p0 > 0);
        LDAE_CUDA_CHECK_LAUNCH();
      }
    }
}

template <typename T>
void conv_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb) {
  const Sizes s = sizes_of(g);
  const bool pointwise = is_pointwise(g);
  const int64_t chunk = chunk_length<T>(s);
  DeviceBuffer col(pointwise ? 0 : static_cast<size_t>(s.rows * chunk) * sizeof(T),
                   current_device());
  for (int64_t gi = 0; gi < g.groups; ++gi) {
    T* gwg = gw + gi * s.Cgo * s.rows;
    bool first = true;  // the first GEMM of a group overwrites gwg, the others add to it
    for (int64_t n = 0; n < g.N; ++n) {
      const T* xs = x + (n * g.Cin + gi * s.Cgi) * s.Si;
      const T* gys = gy + (n * g.Cout + gi * s.Cgo) * s.So;
      for (int64_t p0 = 0; p0 < s.So; p0 += chunk) {
        const int64_t len = std::min(chunk, s.So - p0);
        const T* colp = xs + p0;
        int64_t ldcol = s.Si;
        if (!pointwise) {
          im2col_kernel<T><<<blocks_for(s.rows * len), kThreads>>>(xs, col.as<T>(), g, s.Si, s.kvol,
                                                                   s.rows, p0, len);
          LDAE_CUDA_CHECK_LAUNCH();
          colp = col.as<T>();
          ldcol = len;
        }
        // gwg (Cgo x rows) (+)= gys[:, p0:p0+len] (Cgo x len) @ colᵀ (len x rows)
        gemm<T>(false, true, s.Cgo, s.rows, len, T(1), gys + p0, s.So, colp, ldcol,
                first ? T(0) : T(1), gwg, s.rows);
        first = false;
      }
    }
  }
  if (gb != nullptr) {
    const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(g.Cout, 65536));
    bias_grad_kernel<T><<<blocks, kThreads>>>(gy, gb, g.N, g.Cout, s.So);
    LDAE_CUDA_CHECK_LAUNCH();
  }
}

#define LDAE_CONV_INSTANTIATE(T)                                                        \
  template void conv_forward<T>(const ConvGeometry&, const T*, const T*, const T*, T*); \
  template void conv_backward_input<T>(const ConvGeometry&, const T*, const T*, T*);    \
  template void conv_backward_weight<T>(const ConvGeometry&, const T*, const T*, T*, T*);
LDAE_CONV_INSTANTIATE(float)
LDAE_CONV_INSTANTIATE(double)
#undef LDAE_CONV_INSTANTIATE

}  // namespace ldae::cuda
