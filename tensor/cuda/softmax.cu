// Softmax kernels (contract in tensor/cuda/softmax.h).
#include <cmath>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/softmax.h"

namespace ldae::cuda {

namespace {

enum class Kind { Softmax, LogSoftmax, SoftmaxBackward, LogSoftmaxBackward };

constexpr int kRowThreads = 256;

// The maximum of v over the block; every thread gets it.
template <typename T>
__device__ T block_max(T v, T* shared) {
  for (int offset = 16; offset > 0; offset /= 2) {
    const T other = __shfl_down_sync(0xffffffffu, v, offset);
    v = other > v ? other : v;
  }
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  T m = shared[0];
  for (int w = 1; w < static_cast<int>(blockDim.x / 32); ++w) m = shared[w] > m ? shared[w] : m;
  return m;
}

template <typename T>
__global__ void softmax_kernel(Kind kind, const T* in0, const T* in1, T* out, int64_t count,
                               int64_t len) {
  __shared__ double shared_sum[32];
  __shared__ T shared_max[32];
  for (int64_t r = blockIdx.x; r < count; r += gridDim.x) {
    const T* a = in0 + r * len;
    const T* g = in1 ? in1 + r * len : nullptr;
    T* o = out + r * len;
    if (kind == Kind::Softmax || kind == Kind::LogSoftmax) {
      T m = a[0];
      for (int64_t i = threadIdx.x; i < len; i += blockDim.x) m = a[i] > m ? a[i] : m;
      m = block_max(m, shared_max);
      double total = 0;
      if (kind == Kind::Softmax) {
        for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
          total += (o[i] = std::exp(a[i] - m));
        total = block_sum(total, shared_sum);
        const T inv = static_cast<T>(1.0 / total);
        for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
          o[i] *= inv;  // o[i]: this thread's own write
      } else {
        for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
          total += std::exp(static_cast<double>(a[i] - m));
        total = block_sum(total, shared_sum);
        const T log_total = static_cast<T>(std::log(total)) + m;
        for (int64_t i = threadIdx.x; i < len; i += blockDim.x) o[i] = a[i] - log_total;
      }
    } else if (kind == Kind::SoftmaxBackward) {  // y (g - sum(g y))
      double dot = 0;
      for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
        dot += static_cast<double>(g[i]) * a[i];
      dot = block_sum(dot, shared_sum);
      for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
        o[i] = a[i] * (g[i] - static_cast<T>(dot));
    } else {  // g - exp(y) sum(g)
      double total = 0;
      for (int64_t i = threadIdx.x; i < len; i += blockDim.x) total += g[i];
      total = block_sum(total, shared_sum);
      for (int64_t i = threadIdx.x; i < len; i += blockDim.x)
        o[i] = g[i] - std::exp(a[i]) * static_cast<T>(total);
    }
  }
}

Kind kind_of(const std::string& op) {
  if (op == "softmax") return Kind::Softmax;
  if (op == "log_softmax") return Kind::LogSoftmax;
  if (op == "softmax_backward") return Kind::SoftmaxBackward;
  if (op == "log_softmax_backward") return Kind::LogSoftmaxBackward;
  fail(op, "not a softmax op of the CUDA backend");
}

}  // namespace

void softmax_rows(const std::string& op, const Tensor& in0, const Tensor& in1, Tensor& out,
                  int64_t count, int64_t len) {
  require_device(op, out.device().index);
  if (count == 0 || len == 0) return;
  const Kind kind = kind_of(op);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(count, 65536));
  LDAE_DISPATCH(out.dtype(), T, {
    softmax_kernel<T><<<blocks, kRowThreads>>>(
        kind, ptr<T>(in0), in1.defined() ? ptr<T>(in1) : nullptr, mutable_ptr<T>(out), count, len);
  });
  LDAE_CUDA_CHECK_LAUNCH();
}

}  // namespace ldae::cuda
