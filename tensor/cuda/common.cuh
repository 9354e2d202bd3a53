// Shared by the .cu files of the CUDA backend (never included by plain C++): the
// checking macros, the launch geometry, the strided indexer of the elementwise kernels
// and the cuBLAS handle.
//
// Conventions of every kernel in tensor/cuda/:
//   - one thread per output element, in a grid-stride loop (LDAE_KERNEL_LOOP), so any
//     size works with a bounded grid and every index is checked against the size;
//   - 64-bit indices (a 5-d volume easily exceeds 2^31 elements across a batch);
//   - launched on the default stream, then checked with LDAE_CUDA_CHECK_LAUNCH();
//   - the per-element math comes from tensor/math.h (the CPU twin runs the same code).
#pragma once
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <array>
#include <cstdint>
#include <string>

#include "tensor/cpu/strided_loop.h"  // merge_axes: the same axis merging as the CPU loops
#include "tensor/cuda/runtime.h"
#include "tensor/error.h"
#include "tensor/tensor.h"

namespace ldae::cuda {

// Throw Error("CUDA error: <call> failed at <file>:<line>: <error string> (<name>)").
void check_cuda(cudaError_t status, const char* call, const char* file, int line);
void check_cublas(cublasStatus_t status, const char* call, const char* file, int line);

}  // namespace ldae::cuda

#define LDAE_CUDA_CHECK(call) ::ldae::cuda::check_cuda((call), #call, __FILE__, __LINE__)
#define LDAE_CUBLAS_CHECK(call) ::ldae::cuda::check_cublas((call), #call, __FILE__, __LINE__)
// After a kernel launch: reports a bad launch configuration at once. (An error inside
// the kernel shows up at the next synchronising call; run with CUDA_LAUNCH_BLOCKING=1
// to have it reported at the launch that caused it.)
#define LDAE_CUDA_CHECK_LAUNCH() LDAE_CUDA_CHECK(cudaGetLastError())

// for (int64_t i = first index of this thread; i < n; i += all threads of the grid)
#define LDAE_KERNEL_LOOP(i, n)                                                           \
  for (int64_t i = static_cast<int64_t>(blockIdx.x) * blockDim.x + threadIdx.x; i < (n); \
       i += static_cast<int64_t>(blockDim.x) * gridDim.x)

namespace ldae::cuda {

constexpr int kThreads = 256;  // threads per block of the elementwise kernels

// Blocks for n elements at kThreads per block, capped (the grid-stride loop does the rest).
inline unsigned blocks_for(int64_t n) {
  const int64_t blocks = (n + kThreads - 1) / kThreads;
  return static_cast<unsigned>(std::max<int64_t>(1, std::min<int64_t>(blocks, 65536)));
}

// The device pointer of element 0 of a CUDA tensor (dtype checked), for reading.
template <typename T>
const T* ptr(const Tensor& t) {
  return t.device_data<T>();
}
// The same for writing: bumps the storage version (see Tensor::mutable_data).
template <typename T>
T* mutable_ptr(const Tensor& t) {
  return t.mutable_device_data<T>();
}
template <typename T>
const T* ptr_or_null(const Tensor& t) {
  return t.defined() ? t.device_data<T>() : nullptr;
}
// The address of element 0 as bytes, for copies of any dtype: for reading...
inline const void* raw_ptr(const Tensor& t) {
  return static_cast<const char*>(t.storage()->data()) +
         t.offset() * static_cast<int64_t>(dtype_size(t.dtype()));
}
// ... and for writing (bumps the storage version).
inline void* mutable_raw_ptr(const Tensor& t) {
  t.storage()->bump_version();
  return static_cast<char*>(t.storage()->data()) +
         t.offset() * static_cast<int64_t>(dtype_size(t.dtype()));
}

// The device that kernels launch on now (set by require_device, e.g. when the output
// tensor was allocated).
inline int current_device() {
  int device = 0;
  LDAE_CUDA_CHECK(cudaGetDevice(&device));
  return device;
}

// The cuBLAS handle of the current device (created on first use, one per device).
cublasHandle_t cublas_handle();

// ---- Strided indexing ----------------------------------------------------------------------
// K tensors of the same shape, each with its own strides: the GPU form of the CPU's
// for_each_row. Element i (row-major over the shape) sits at offsets off[k] of tensor k.

constexpr int kMaxDims = 12;

template <int K>
struct StridedIndexer {
  int ndim = 0;
  int64_t sizes[kMaxDims];
  int64_t strides[K][kMaxDims];

  __device__ __forceinline__ void offsets(int64_t i, int64_t (&off)[K]) const {
    for (int k = 0; k < K; ++k) off[k] = 0;
    for (int d = ndim - 1; d >= 0; --d) {
      const int64_t idx = i % sizes[d];
      i /= sizes[d];
      for (int k = 0; k < K; ++k) off[k] += idx * strides[k][d];
    }
  }
};

// Builds the indexer after merging axes that are contiguous in every tensor (so a
// contiguous tensor is one axis). Sets *contiguous when every tensor is one dense row.
template <int K>
StridedIndexer<K> make_indexer(const Shape& shape, const std::array<Strides, K>& strides,
                               bool* contiguous) {
  const cpu::MergedLayout<K> m = cpu::merge_axes<K>(shape, strides);
  StridedIndexer<K> ix;
  check(m.shape.size() <= static_cast<size_t>(kMaxDims), "cuda",
        "tensors of more than " + std::to_string(kMaxDims) + " non-mergeable axes (" +
            shape_str(shape) + ") are not supported");
  ix.ndim = static_cast<int>(m.shape.size());
  for (int d = 0; d < ix.ndim; ++d) {
    ix.sizes[d] = m.shape[d];
    for (int k = 0; k < K; ++k) ix.strides[k][d] = m.strides[k][d];
  }
  bool dense = ix.ndim == 1;
  for (int k = 0; k < K && dense; ++k) dense = ix.strides[k][0] == 1;
  *contiguous = dense;
  return ix;
}

// ---- Block reductions ------------------------------------------------------------------------

// The sum of `v` over the block (blockDim.x a multiple of 32, at most 1024); every thread
// gets the result. `shared` holds 32 values. Sums are accumulated in a fixed order, so
// the result is the same on every run.
template <typename A>
__device__ A block_sum(A v, A* shared) {
  for (int offset = 16; offset > 0; offset /= 2) v += __shfl_down_sync(0xffffffffu, v, offset);
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  __syncthreads();  // `shared` may still be read by a previous call
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  const int warps = blockDim.x / 32;
  A total = A(0);
  for (int w = 0; w < warps; ++w) total += shared[w];
  return total;
}

}  // namespace ldae::cuda
