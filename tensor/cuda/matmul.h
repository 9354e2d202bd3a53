// Matrix products on the GPU through cuBLAS: the twins of the Eigen GEMM calls of
// tensor/matmul.cpp (and the GEMM inside the convolution, tensor/cuda/conv.cu).
// Plain C++ declarations; all pointers are device pointers of the current device.
#pragma once
#include <cstdint>
#include <vector>

namespace ldae::cuda {

// Row-major GEMM: C = alpha op(A) op(B) + beta C, where C is M x N with row stride ldc,
// op(A) is M x K (A itself is M x K with row stride lda, or K x M when trans_a), op(B) is
// K x N (B is K x N with row stride ldb, or N x K when trans_b). T: float or double.
// cuBLAS works column-major; a row-major matrix read column-major is its transpose, so
// this computes Cᵀ = op(B)ᵀ op(A)ᵀ, which needs no copy at all.
template <typename T>
void gemm(bool trans_a, bool trans_b, int64_t M, int64_t N, int64_t K, T alpha, const T* A,
          int64_t lda, const T* B, int64_t ldb, T beta, T* C, int64_t ldc);

// c[i] = a[a_index[i]] @ b[b_index[i]] for i < batches, where a holds (n x k) matrices,
// b (k x m) and c (n x m), all contiguous row-major; indices count matrices. When the
// indices are i * stride (stride 0 for a broadcast operand), one strided-batched cuBLAS
// call does everything; otherwise one GEMM per product.
template <typename T>
void batched_matmul(const T* a, const T* b, T* c, int64_t n, int64_t k, int64_t m,
                    const std::vector<int64_t>& a_index, const std::vector<int64_t>& b_index);

}  // namespace ldae::cuda
