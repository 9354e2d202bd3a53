// Elementwise kernels (contracts in tensor/cuda/elementwise.h). Two kernels per arity:
// a plain loop when every tensor is dense (the common case), and a strided one that
// turns each index into per-tensor offsets (broadcasting, transposed views, slices).
// The functor F is the same object the CPU loop calls: the math is shared.
#include "tensor/cuda/common.cuh"
#include "tensor/cuda/elementwise.h"
#include "tensor/math.h"

namespace ldae::cuda {

namespace {

template <typename T, typename F>
__global__ void unary_contiguous_kernel(T* out, const T* a, int64_t n, F f) {
  LDAE_KERNEL_LOOP(i, n) out[i] = f(a[i]);
}

template <typename T, typename F>
__global__ void unary_strided_kernel(T* out, const T* a, StridedIndexer<2> ix, int64_t n, F f) {
  LDAE_KERNEL_LOOP(i, n) {
    int64_t off[2];
    ix.offsets(i, off);
    out[off[0]] = f(a[off[1]]);
  }
}

template <typename T, typename F>
__global__ void binary_contiguous_kernel(T* out, const T* a, const T* b, int64_t n, F f) {
  LDAE_KERNEL_LOOP(i, n) out[i] = f(a[i], b[i]);
}

template <typename T, typename F>
__global__ void binary_strided_kernel(T* out, const T* a, const T* b, StridedIndexer<3> ix,
                                      int64_t n, F f) {
  LDAE_KERNEL_LOOP(i, n) {
    int64_t off[3];
    ix.offsets(i, off);
    out[off[0]] = f(a[off[1]], b[off[2]]);
  }
}

}  // namespace

template <typename T, typename F>
void unary_map(Tensor& out, const Tensor& a, F f) {
  require_device("unary_map", out.device().index);
  const int64_t n = out.numel();
  if (n == 0) return;
  bool contiguous = false;
  const StridedIndexer<2> ix =
      make_indexer<2>(out.shape(), {out.strides(), a.strides()}, &contiguous);
  if (contiguous) {
    unary_contiguous_kernel<T, F><<<blocks_for(n), kThreads>>>(mutable_ptr<T>(out), ptr<T>(a), n, f);
  } else {
    unary_strided_kernel<T, F><<<blocks_for(n), kThreads>>>(mutable_ptr<T>(out), ptr<T>(a), ix, n, f);
  }
  LDAE_CUDA_CHECK_LAUNCH();
}

template <typename T, typename F>
void binary_map(Tensor& out, const Tensor& a, const Tensor& b, F f) {
  require_device("binary_map", out.device().index);
  const int64_t n = out.numel();
  if (n == 0) return;
  bool contiguous = false;
  const StridedIndexer<3> ix =
      make_indexer<3>(out.shape(), {out.strides(), a.strides(), b.strides()}, &contiguous);
  if (contiguous) {
    binary_contiguous_kernel<T, F>
        <<<blocks_for(n), kThreads>>>(mutable_ptr<T>(out), ptr<T>(a), ptr<T>(b), n, f);
  } else {
    binary_strided_kernel<T, F>
        <<<blocks_for(n), kThreads>>>(mutable_ptr<T>(out), ptr<T>(a), ptr<T>(b), ix, n, f);
  }
  LDAE_CUDA_CHECK_LAUNCH();
}

// ---- Instantiations: every functor of tensor/math.h, in float and double ----

#define LDAE_UNARY(F)                                                       \
  template void unary_map<float, math::F>(Tensor&, const Tensor&, math::F); \
  template void unary_map<double, math::F>(Tensor&, const Tensor&, math::F);
#define LDAE_BINARY(F)                                                                      \
  template void binary_map<float, math::F>(Tensor&, const Tensor&, const Tensor&, math::F); \
  template void binary_map<double, math::F>(Tensor&, const Tensor&, const Tensor&, math::F);

LDAE_UNARY(AddScalar)
LDAE_UNARY(MulScalar)
LDAE_UNARY(PowScalar)
LDAE_UNARY(Clamp)
LDAE_UNARY(Neg)
LDAE_UNARY(Exp)
LDAE_UNARY(Log)
LDAE_UNARY(Sqrt)
LDAE_UNARY(Abs)
LDAE_UNARY(Sign)
LDAE_UNARY(Tanh)
LDAE_UNARY(Sigmoid)
LDAE_UNARY(Relu)
LDAE_UNARY(LeakyRelu)
LDAE_UNARY(Silu)
LDAE_UNARY(GeluErf)
LDAE_UNARY(GeluTanh)
LDAE_UNARY(ZeroIfInf)

LDAE_BINARY(Add)
LDAE_BINARY(Sub)
LDAE_BINARY(Mul)
LDAE_BINARY(Div)
LDAE_BINARY(Maximum)
LDAE_BINARY(AddScaled)
LDAE_BINARY(TanhGrad)
LDAE_BINARY(SigmoidGrad)
LDAE_BINARY(ReluGrad)
LDAE_BINARY(LeakyReluGrad)
LDAE_BINARY(SiluGrad)
LDAE_BINARY(GeluErfGrad)
LDAE_BINARY(GeluTanhGrad)
LDAE_BINARY(SquaredDiff)
LDAE_BINARY(AbsDiff)
LDAE_BINARY(BceWithLogits)

#undef LDAE_UNARY
#undef LDAE_BINARY

}  // namespace ldae::cuda
