// cuBLAS GEMM wrappers (contracts in tensor/cuda/matmul.h).
#include <climits>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/matmul.h"

namespace ldae::cuda {

namespace {

int as_int(int64_t v, const char* what) {
  check(v >= 0 && v <= INT_MAX, "matmul",
        std::string(what) + " = " + std::to_string(v) + " exceeds what cuBLAS accepts (2^31 - 1)");
  return static_cast<int>(v);
}

// The column-major cuBLAS calls, by element type.
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                         int k, const float* alpha, const float* A, int lda, const float* B,
                         int ldb, const float* beta, float* C, int ldc) {
  return cublasSgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t gemm_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m, int n,
                         int k, const double* alpha, const double* A, int lda, const double* B,
                         int ldb, const double* beta, double* C, int ldc) {
  return cublasDgemm(h, ta, tb, m, n, k, alpha, A, lda, B, ldb, beta, C, ldc);
}
cublasStatus_t strided_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                            int n, int k, const float* alpha, const float* A, int lda, long long sa,
                            const float* B, int ldb, long long sb, const float* beta, float* C,
                            int ldc, long long sc, int count) {
  return cublasSgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc,
                                   sc, count);
}
cublasStatus_t strided_call(cublasHandle_t h, cublasOperation_t ta, cublasOperation_t tb, int m,
                            int n, int k, const double* alpha, const double* A, int lda,
                            long long sa, const double* B, int ldb, long long sb,
                            const double* beta, double* C, int ldc, long long sc, int count) {
  return cublasDgemmStridedBatched(h, ta, tb, m, n, k, alpha, A, lda, sa, B, ldb, sb, beta, C, ldc,
                                   sc, count);
}

// The common stride of indices i * stride, or -1 if they are not of that form.
int64_t uniform_stride(const std::vector<int64_t>& index) {
  const int64_t stride = index.size() > 1 ? index[1] - index[0] : 0;
  for (size_t i = 0; i < index.size(); ++i)
    if (index[i] != static_cast<int64_t>(i) * stride) return -1;
  return stride;
}

}  // namespace

template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc) {
  if (M == 0 || N == 0) return;
  // Row-major C (M x N) = column-major Cᵀ (N x M) = op(B)ᵀ op(A)ᵀ: B comes first.
  LDAE_CUBLAS_CHECK(gemm_call(cublas_handle(), trans_b ? CUBLAS_OP_T : CUBLAS_OP_N,
                              trans_a ? CUBLAS_OP_T : CUBLAS_OP_N, as_int(N, "N"), as_int(M, "M"),
                              as_int(K, "K"), &alpha, B, as_int(ldb, "ldb"), A, as_int(lda, "lda"),
                              &beta, C, as_int(ldc, "ldc")));
}

template <typename T>
void batched_matmul(const T* a, const T* b, T* c, int64_t n, int64_t k, int64_t m,
                    const std::vector<int64_t>& a_index, const std::vector<int64_t>& b_index) {
  const int64_t batches = static_cast<int64_t>(a_index.size());
  if (batches == 0 || n == 0 || m == 0) return;
  const T one = T(1), zero = T(0);
  const int64_t sa = uniform_stride(a_index), sb = uniform_stride(b_index);
  if (batches == 1) {
    gemm<T>(false, false, n, m, k, one, a + a_index[0] * n * k, k, b + b_index[0] * k * m, m, zero,
            c, m);
    return;
  }
  if (sa >= 0 && sb >= 0) {
    // Column-major view, as in gemm: per batch, Cᵀ = Bᵀ Aᵀ.
    LDAE_CUBLAS_CHECK(strided_call(cublas_handle(), CUBLAS_OP_N, CUBLAS_OP_N, as_int(m, "m"),
                                   as_int(n, "n"), as_int(k, "k"), &one, b, as_int(m, "m"),
                                   sb * k * m, a, as_int(k, "k"), sa * n * k, &zero, c,
                                   as_int(m, "m"), n * m, as_int(batches, "batches")));
    return;
  }
  for (int64_t i = 0; i < batches; ++i)
    gemm<T>(false, false, n, m, k, one, a + a_index[i] * n * k, k, b + b_index[i] * k * m, m, zero,
            c + i * n * m, m);
}

template void gemm<float>(bool, bool, int64_t, int64_t, int64_t, float, const float*, int64_t,
                          const float*, int64_t, float, float*, int64_t);
template void gemm<double>(bool, bool, int64_t, int64_t, int64_t, double, const double*, int64_t,
                           const double*, int64_t, double, double*, int64_t);
template void batched_matmul<float>(const float*, const float*, float*, int64_t, int64_t, int64_t,
                                    const std::vector<int64_t>&, const std::vector<int64_t>&);
template void batched_matmul<double>(const double*, const double*, double*, int64_t, int64_t,
                                     int64_t, const std::vector<int64_t>&,
                                     const std::vector<int64_t>&);

}  // namespace ldae::cuda
