// Fill and strided copy kernels (contracts in tensor/cuda/copy.h).
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/copy.h"

namespace ldae::cuda {

namespace {

template <typename T>
__global__ void fill_contiguous_kernel(T* out, int64_t n, T value) {
  LDAE_KERNEL_LOOP(i, n) out[i] = value;
}

template <typename T>
__global__ void fill_strided_kernel(T* out, StridedIndexer<1> ix, int64_t n, T value) {
  LDAE_KERNEL_LOOP(i, n) {
    int64_t off[1];
    ix.offsets(i, off);
    out[off[0]] = value;
  }
}

// dst[i] = (D) src[i] for two tensors of the same shape.
template <typename D, typename S>
__global__ void copy_contiguous_kernel(D* dst, const S* src, int64_t n) {
  LDAE_KERNEL_LOOP(i, n) dst[i] = static_cast<D>(src[i]);
}

template <typename D, typename S>
__global__ void copy_strided_kernel(D* dst, const S* src, StridedIndexer<2> ix, int64_t n) {
  LDAE_KERNEL_LOOP(i, n) {
    int64_t off[2];
    ix.offsets(i, off);
    dst[off[0]] = static_cast<D>(src[off[1]]);
  }
}

template <typename D, typename S>
void copy_on_device(const Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (n == 0) return;
  bool contiguous = false;
  const StridedIndexer<2> ix =
      make_indexer<2>(dst.shape(), {dst.strides(), src.strides()}, &contiguous);
  if (contiguous) {
    copy_contiguous_kernel<D, S><<<blocks_for(n), kThreads>>>(mutable_ptr<D>(dst), ptr<S>(src), n);
  } else {
    copy_strided_kernel<D, S><<<blocks_for(n), kThreads>>>(mutable_ptr<D>(dst), ptr<S>(src), ix, n);
  }
  LDAE_CUDA_CHECK_LAUNCH();
}

// Both on the same GPU.
void copy_device_device(const Tensor& dst, const Tensor& src) {
  LDAE_DISPATCH(dst.dtype(), D,
                { LDAE_DISPATCH(src.dtype(), S, { copy_on_device<D, S>(dst, src); }); });
}

}  // namespace

void fill(const Tensor& t, double value) {
  require_device("fill_", t.device().index);
  const int64_t n = t.numel();
  if (n == 0) return;
  LDAE_DISPATCH(t.dtype(), T, {
    bool contiguous = false;
    const StridedIndexer<1> ix = make_indexer<1>(t.shape(), {t.strides()}, &contiguous);
    if (contiguous) {
      fill_contiguous_kernel<T><<<blocks_for(n), kThreads>>>(mutable_ptr<T>(t), n, static_cast<T>(value));
    } else {
      fill_strided_kernel<T><<<blocks_for(n), kThreads>>>(mutable_ptr<T>(t), ix, n, static_cast<T>(value));
    }
    LDAE_CUDA_CHECK_LAUNCH();
  });
}

void copy(const Tensor& dst, const Tensor& src) {
  const int64_t n = dst.numel();
  if (dst.device().is_cuda() && src.device().is_cuda()) {
    check(dst.device() == src.device(), "copy_",
          "cannot copy directly from " + src.device().str() + " to " + dst.device().str() +
              "; go through the CPU");
    require_device("copy_", dst.device().index);
    copy_device_device(dst, src);
    return;
  }
  if (n == 0) return;
  if (dst.device().is_cuda()) {
    // Host side first: contiguous, in dst's dtype (a no-op when it already is).
    require_device("copy_", dst.device().index);
    const Tensor host = src.to(dst.dtype()).contiguous();
    const size_t nbytes = static_cast<size_t>(n) * dtype_size(dst.dtype());
    if (dst.is_contiguous()) {
      copy_host_to_device(mutable_raw_ptr(dst), raw_ptr(host), nbytes);
      return;
    }
    const Tensor staged = Tensor::empty(dst.shape(), dst.dtype(), dst.device());
    copy_host_to_device(mutable_raw_ptr(staged), raw_ptr(host), nbytes);
    copy_device_device(dst, staged);
    return;
  }
  // dst on the CPU, src on a GPU.
  require_device("copy_", src.device().index);
  const Tensor dense = src.is_contiguous() ? src : src.contiguous();
  const Tensor host = Tensor::empty(src.shape(), src.dtype());
  copy_device_to_host(mutable_raw_ptr(host), raw_ptr(dense),
                      static_cast<size_t>(n) * dtype_size(src.dtype()));
  Tensor(dst).copy_(host);  // host strided copy with dtype conversion
}

}  // namespace ldae::cuda
