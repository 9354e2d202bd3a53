// Philox fill kernels (contract in tensor/cuda/random.h): one thread per element, each
// computing its own Philox block, exactly as each iteration of the CPU loop does.
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/random.h"
#include "tensor/philox.h"

namespace ldae::cuda {

namespace {

template <typename T>
__global__ void uniform_kernel(T* p, int64_t n, uint64_t seed, uint64_t offset, double low,
                               double high, bool as_double) {
  LDAE_KERNEL_LOOP(i, n)
  p[i] = static_cast<T>(philox::scale_shift(
      philox::uniform(seed, offset, static_cast<uint64_t>(i), as_double), high - low, low));
}

template <typename T>
__global__ void normal_kernel(T* p, int64_t n, uint64_t seed, uint64_t offset, double mean,
                              double stddev) {
  LDAE_KERNEL_LOOP(i, n)
  p[i] = static_cast<T>(
      philox::scale_shift(philox::normal(seed, offset, static_cast<uint64_t>(i)), stddev, mean));
}

}  // namespace

void fill_uniform(Tensor& t, uint64_t seed, uint64_t offset, double low, double high) {
  require_device("rand", t.device().index);
  const int64_t n = t.numel();
  if (n == 0) return;
  const bool as_double = t.dtype() == DType::F64;  // 53 random bits for f64, as the CPU
  LDAE_DISPATCH(t.dtype(), T, {
    uniform_kernel<T>
        <<<blocks_for(n), kThreads>>>(mutable_ptr<T>(t), n, seed, offset, low, high, as_double);
  });
  LDAE_CUDA_CHECK_LAUNCH();
}

void fill_normal(Tensor& t, uint64_t seed, uint64_t offset, double mean, double stddev) {
  require_device("randn", t.device().index);
  const int64_t n = t.numel();
  if (n == 0) return;
  LDAE_DISPATCH(t.dtype(), T, {
    normal_kernel<T><<<blocks_for(n), kThreads>>>(mutable_ptr<T>(t), n, seed, offset, mean, stddev);
  });
  LDAE_CUDA_CHECK_LAUNCH();
}

}  // namespace ldae::cuda
