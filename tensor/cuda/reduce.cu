// Row reductions (contracts in tensor/cuda/reduce.h).
//
// Plan: short rows (inner <= 64) take one thread per row. Longer rows are cut into
// `chunks` pieces, one block per (row, piece) reducing its piece in a fixed tree order
// into a partial result; a second kernel adds each row's partials in order. The number
// of pieces grows with the row length and shrinks with the number of rows, so that one
// long row (a loss over a whole volume) still spreads over many blocks.
#include <limits>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/reduce.h"

namespace ldae::cuda {

namespace {

struct SumOp {
  template <typename A>
  __device__ A operator()(A acc, A x) const {
    return acc + x;
  }
};
// As the CPU's take_max: a NaN wins (x != x only for NaN).
struct MaxOp {
  template <typename A>
  __device__ A operator()(A acc, A x) const {
    return (x > acc || x != x) ? x : acc;
  }
};

constexpr int kReduceThreads = 256;

// Reduces v over the block with `op` in a fixed order; thread 0 gets the result.
template <typename A, typename Op>
__device__ A block_reduce(A v, Op op) {
  __shared__ A shared[kReduceThreads / 32];
  for (int offset = 16; offset > 0; offset /= 2)
    v = op(v, __shfl_down_sync(0xffffffffu, v, offset));
  const int lane = threadIdx.x % 32, warp = threadIdx.x / 32;
  if (lane == 0) shared[warp] = v;
  __syncthreads();
  if (threadIdx.x == 0)
    for (int w = 1; w < kReduceThreads / 32; ++w) v = op(v, shared[w]);
  __syncthreads();  // shared may be reused by the next row of this block
  return v;
}

// One thread per row: out[r] = finish(op over row r).
template <typename T, typename A, typename Op>
__global__ void short_rows_kernel(const T* in, T* out, int64_t outer, int64_t inner, A init, Op op,
                                  T scale, bool average) {
  LDAE_KERNEL_LOOP(r, outer) {
    A acc = init;
    for (int64_t i = 0; i < inner; ++i) acc = op(acc, static_cast<A>(in[r * inner + i]));
    out[r] = average ? static_cast<T>(acc) * scale : static_cast<T>(acc);
  }
}

// Block b reduces piece (b % chunks) of row (b / chunks) into partial[b].
template <typename T, typename A, typename Op>
__global__ void pieces_kernel(const T* in, A* partial, int64_t outer, int64_t inner, int64_t chunks,
                              int64_t chunk_len, A init, Op op) {
  for (int64_t b = blockIdx.x; b < outer * chunks; b += gridDim.x) {
    const int64_t row = b / chunks, piece = b % chunks;
    const int64_t begin = piece * chunk_len;
    const int64_t end = begin + chunk_len < inner ? begin + chunk_len : inner;
    A acc = init;
    for (int64_t i = begin + threadIdx.x; i < end; i += blockDim.x)
      acc = op(acc, static_cast<A>(in[row * inner + i]));
    acc = block_reduce(acc, op);
    if (threadIdx.x == 0) partial[b] = acc;
  }
}

// Kernel 2: out[r] = finish(op over partial[r, 0..chunks)).
template <typename T, typename A, typename Op>
__global__ void join_kernel(const A* partial, T* out, int64_t outer, int64_t chunks, A init, Op op,
                            T scale, bool average) {
  LDAE_KERNEL_LOOP(r, outer) {
    A acc = init;
    for (int64_t c = 0; c < chunks; ++c) acc = op(acc, partial[r * chunks + c]);
    out[r] = average ? static_cast<T>(acc) * scale : static_cast<T>(acc);
  }
}

template <typename T, typename A, typename Op>
void reduce(const Tensor& rows, Tensor& out, A init, Op op, bool average) {
  const int64_t outer = rows.shape()[0], inner = rows.shape()[1];
  if (outer == 0) return;
  // The mean's factor as on the CPU: 1/inner in T, NaN for an empty row.
  const T scale = inner > 0 ? T(1) / T(inner) : std::numeric_limits<T>::quiet_NaN();
  const T* in = ptr<T>(rows);
  T* o = mutable_ptr<T>(out);
  if (inner <= 64) {
    short_rows_kernel<T, A, Op>
        <<<blocks_for(outer), kThreads>>>(in, o, outer, inner, init, op, scale, average);
    LDAE_CUDA_CHECK_LAUNCH();
    return;
  }
  // About 16 elements per thread per piece, and at most ~4096 blocks in all.
  const int64_t per_piece = 16 * kReduceThreads;
  int64_t chunks = (inner + per_piece - 1) / per_piece;
  chunks = std::max<int64_t>(1, std::min<int64_t>(chunks, 4096 / outer));
  const int64_t chunk_len = (inner + chunks - 1) / chunks;
  DeviceBuffer partial(static_cast<size_t>(outer * chunks) * sizeof(A), out.device().index);
  const unsigned blocks = static_cast<unsigned>(std::min<int64_t>(outer * chunks, 65536));
  pieces_kernel<T, A, Op>
      <<<blocks, kReduceThreads>>>(in, partial.as<A>(), outer, inner, chunks, chunk_len, init, op);
  LDAE_CUDA_CHECK_LAUNCH();
  join_kernel<T, A, Op><<<blocks_for(outer), kThreads>>>(partial.as<A>(), o, outer, chunks, init,
                                                         op, scale, average);
  LDAE_CUDA_CHECK_LAUNCH();
}

}  // namespace

void sum_rows(const Tensor& rows, Tensor& out, bool average) {
  require_device("sum", rows.device().index);
  LDAE_DISPATCH(rows.dtype(), T, { reduce<T, double>(rows, out, 0.0, SumOp{}, average); });
}

void max_rows(const Tensor& rows, Tensor& out) {
  require_device("amax", rows.device().index);
  LDAE_DISPATCH(rows.dtype(), T,
                { reduce<T, T>(rows, out, -std::numeric_limits<T>::infinity(), MaxOp{}, false); });
}

}  // namespace ldae::cuda
