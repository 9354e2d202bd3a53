// Fused optimizer kernels (contracts in tensor/cuda/optim.h).
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/optim.h"

namespace ldae::cuda {

namespace {

template <typename T>
__global__ void adam_kernel(T* p, const T* g, T* m, T* v, int64_t n, optim_math::AdamRule rule) {
  LDAE_KERNEL_LOOP(i, n) rule(p[i], g[i], m[i], v[i]);
}

template <typename T>
__global__ void sgd_kernel(T* p, const T* g, T* buf, int64_t n, optim_math::SgdRule rule) {
  LDAE_KERNEL_LOOP(i, n) rule(p[i], g[i], buf ? buf + i : nullptr);
}

}  // namespace

void adam_update(Tensor& param, const Tensor& grad, Tensor& exp_avg, Tensor& exp_avg_sq,
                 const optim_math::AdamRule& rule) {
  require_device("adam_update", param.device().index);
  const int64_t n = param.numel();
  if (n == 0) return;
  LDAE_DISPATCH(param.dtype(), T, {
    adam_kernel<T><<<blocks_for(n), kThreads>>>(mutable_ptr<T>(param), ptr<T>(grad), mutable_ptr<T>(exp_avg),
                                                mutable_ptr<T>(exp_avg_sq), n, rule);
  });
  LDAE_CUDA_CHECK_LAUNCH();
}

void sgd_update(Tensor& param, const Tensor& grad, const Tensor& momentum_buffer,
                const optim_math::SgdRule& rule) {
  require_device("sgd_update", param.device().index);
  const int64_t n = param.numel();
  if (n == 0) return;
  LDAE_DISPATCH(param.dtype(), T, {
    sgd_kernel<T><<<blocks_for(n), kThreads>>>(
        mutable_ptr<T>(param), ptr<T>(grad), momentum_buffer.defined() ? mutable_ptr<T>(momentum_buffer) : nullptr,
        n, rule);
  });
  LDAE_CUDA_CHECK_LAUNCH();
}

}  // namespace ldae::cuda
