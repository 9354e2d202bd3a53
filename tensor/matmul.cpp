// Matrix products through Eigen's GEMM.
#include "tensor/cpu/eigen.h"

#include <algorithm>

#include "tensor/cost_counter.h"
#include "tensor/ops.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/matmul.h"
#endif

namespace ldae {

namespace {

template <typename T>
using RowMajor = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;

// c (n x m) = a (n x k) * b (k x m), all row-major contiguous.
template <typename T>
void gemm(const T* a, const T* b, T* c, int64_t n, int64_t k, int64_t m) {
  Eigen::Map<const RowMajor<T>> A(a, n, k);
  Eigen::Map<const RowMajor<T>> B(b, k, m);
  Eigen::Map<RowMajor<T>> C(c, n, m);
  C.noalias() = A * B;
}

// How the products are shared between the threads. Eigen's own multi-threading is off
// (EIGEN_DONT_PARALLELIZE, CMakeLists.txt): it split one product between the threads, which
// then waited for each other by spinning, and made a course UNet training step twice as slow
// (its attention products are 320 x 32 x 320). Instead the work is cut into items, each one
// single-threaded Eigen GEMM, and the items are spread over the OpenMP threads:
//   - a product of fewer than kItemMultiplyAdds multiply-adds is one item;
//   - a larger one is cut into blocks of rows, enough rows for kItemMultiplyAdds each and
//     at most kMaxBlocks blocks (each block packs its own copy of the right operand, so a
//     block of few rows of a large product spends its time copying: a 1024^3 product took
//     11.1 ms in 48-row blocks, 9.3 ms in 8 blocks), rounded up to kRowAlign rows, a
//     multiple of Eigen's register block of rows.
// The cut depends only on the shapes, never on the thread count, so every output element
// comes from the same GEMM call, with the same bits, whatever the number of threads.
constexpr int64_t kItemMultiplyAdds = 64 * 64 * 64;
constexpr int64_t kMaxBlocks = 8;
constexpr int64_t kRowAlign = 48;

// Rows per item of an (n x k)(k x m) product: n (the whole product) or a multiple of kRowAlign.
int64_t rows_per_item(int64_t n, int64_t k, int64_t m) {
  if (n * k * m < kItemMultiplyAdds) return n;
  const int64_t rows = std::max((kItemMultiplyAdds + k * m - 1) / (k * m), (n + kMaxBlocks - 1) / kMaxBlocks);
  return std::min(n, (rows + kRowAlign - 1) / kRowAlign * kRowAlign);
}

// c[i] = a[a_index(i)] b[b_index(i)] for each of `batches` products of (n x k)(k x m).
template <typename T, typename IndexA, typename IndexB>
void batched_gemm(const T* a, const T* b, T* c, int64_t batches, int64_t n, int64_t k, int64_t m,
                  IndexA a_index, IndexB b_index) {
  const int64_t rows = rows_per_item(n, k, m);
  const int64_t blocks = (n + rows - 1) / rows;  // row blocks per product
  const int64_t items = batches * blocks;
#pragma omp parallel for schedule(static) if (items > 1)
  for (int64_t item = 0; item < items; ++item) {
    const int64_t i = item / blocks, r0 = (item % blocks) * rows, nr = std::min(rows, n - r0);
    gemm(a + a_index(i) * n * k + r0 * k, b + b_index(i) * k * m, c + i * n * m + r0 * m, nr, k, m);
  }
}

}  // namespace

Tensor matmul(const Tensor& a_in, const Tensor& b_in) {
  const std::string op = "matmul";
  check_plain_input(op, a_in);
  check_plain_input(op, b_in);
  check(a_in.dim() >= 2 && b_in.dim() >= 2, op,
        "both inputs need at least 2 dimensions, got " + shape_str(a_in.shape()) + " and " +
            shape_str(b_in.shape()));
  check(a_in.dtype() == b_in.dtype(), op,
        "dtypes " + dtype_name(a_in.dtype()) + " and " + dtype_name(b_in.dtype()) + " differ");
  check(a_in.device() == b_in.device(), op,
        "devices " + a_in.device().str() + " and " + b_in.device().str() + " differ");
#ifndef LDAE_WITH_CUDA
  check(a_in.device().is_cpu(), op, "CUDA backend is not built into this program");
#endif
  const int64_t n = a_in.size(-2), k = a_in.size(-1), m = b_in.size(-1);
  check(b_in.size(-2) == k, op,
        "inner sizes differ: " + shape_str(a_in.shape()) + " @ " + shape_str(b_in.shape()));

  // Batch axes broadcast; each input is read in place through (possibly 0) batch strides.
  const Shape a_batch(a_in.shape().begin(), a_in.shape().end() - 2);
  const Shape b_batch(b_in.shape().begin(), b_in.shape().end() - 2);
  const Shape batch = broadcast_shapes(a_batch, b_batch, op);
  Shape out_shape = batch;
  out_shape.push_back(n);
  out_shape.push_back(m);
  Tensor out = Tensor::empty(out_shape, a_in.dtype(), a_in.device());
  const Tensor a = a_in.contiguous(), b = b_in.contiguous();
  const int64_t batches = numel(batch);
  if (batches == 0 || n == 0 || m == 0) return out;
  if (k == 0) return out.zero_();
  cost::add_multiply_adds(static_cast<double>(batches) * n * k * m);
  if (cost::skip_products()) return out.zero_();  // counting only (tensor/cost_counter.h)

  // Batch strides of the contiguous inputs (0 along broadcast axes), in matrices.
  const Strides sa = broadcast_strides(a_batch, contiguous_strides(a_batch), batch);
  const Strides sb = broadcast_strides(b_batch, contiguous_strides(b_batch), batch);
  auto matrix_index = [&](int64_t i, const Strides& s) {
    int64_t idx = 0;
    for (int64_t axis = static_cast<int64_t>(batch.size()) - 1; axis >= 0; --axis) {
      idx += (i % batch[axis]) * s[axis];
      i /= batch[axis];
    }
    return idx;
  };

#ifdef LDAE_WITH_CUDA
  if (a.device().is_cuda()) {  // cuBLAS, strided-batched when the batch layout allows
    std::vector<int64_t> ia(batches), ib(batches);
    for (int64_t i = 0; i < batches; ++i) {
      ia[i] = matrix_index(i, sa);
      ib[i] = matrix_index(i, sb);
    }
    LDAE_DISPATCH(a.dtype(), T, {
      cuda::batched_matmul<T>(a.device_data<T>(), b.device_data<T>(), out.mutable_device_data<T>(), n, k, m,
                              ia, ib);
    });
    return out;
  }
#endif
  LDAE_DISPATCH(a.dtype(), T, {
    batched_gemm<T>(a.data<T>(), b.data<T>(), out.mutable_data<T>(), batches, n, k, m,
                    [&](int64_t i) { return matrix_index(i, sa); },
                    [&](int64_t i) { return matrix_index(i, sb); });
  });
  return out;
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  const std::string op = "linear";
  check_plain_input(op, x);
  check_plain_input(op, weight);
  check(weight.dim() == 2, op, "weight must be (out, in), got " + shape_str(weight.shape()));
  check(x.dim() >= 1 && x.size(-1) == weight.size(1), op,
        "input " + shape_str(x.shape()) + " does not match weight " + shape_str(weight.shape()));
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  Tensor y = matmul(x.reshape({-1, x.size(-1)}), weight.transpose(0, 1)).reshape(out_shape);
  if (bias.defined()) {
    check_plain_input(op, bias);
    check(bias.dim() == 1 && bias.size(0) == weight.size(0), op,
          "bias " + shape_str(bias.shape()) + " does not match weight " + shape_str(weight.shape()));
    y = add(y, bias);
  }
  return y;
}

}  // namespace ldae
