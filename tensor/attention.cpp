// Scaled dot-product attention, the plain composition of matmul, softmax and matmul:
//   y = softmax(q kᵀ * scale, last axis) v.
// It materialises the (..., Lq, Lk) weight matrix when that fits the attention budget
// (tensor/kernels.h); otherwise it runs chunks of query rows one after the other, so that
// only one chunk's weights exist at a time (each row's softmax needs only its own scores).
#include <algorithm>
#include <cmath>

#include "tensor/kernels.h"
#include "tensor/ops.h"

namespace ldae {

void check_attention_inputs(const Tensor& q, const Tensor& k, const Tensor& v) {
  const std::string op = "scaled_dot_product_attention";
  for (const Tensor* t : {&q, &k, &v}) {
    check_plain_input(op, *t);
#ifndef LDAE_WITH_CUDA
    check(
        t->device().is_cpu(), op,
        "tensor on " + t->device().str() + " but the CUDA backend is not built into this program");
#endif
    check(t->device() == q.device(), op,
          "q is on " + q.device().str() + " but k or v is on " + t->device().str());
  }
  const std::string shapes =
      "q " + shape_str(q.shape()) + ", k " + shape_str(k.shape()) + ", v " + shape_str(v.shape());
  check(q.dim() >= 2 && k.dim() >= 2 && v.dim() >= 2, op,
        "q, k, v need at least 2 dimensions (..., L, d), got " + shapes);
  check(q.dtype() == k.dtype() && q.dtype() == v.dtype(), op, "dtypes differ for " + shapes);
  check(q.size(-1) == k.size(-1), op, "q and k need the same last size d, got " + shapes);
  check(k.size(-2) == v.size(-2), op, "k and v need the same length Lk, got " + shapes);
  check(q.size(-1) > 0, op, "the feature size d is 0 for " + shapes);
}

double attention_scale(const Tensor& q, double scale) {
  return scale > 0 ? scale : 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
}

Tensor attention_weights(const Tensor& q, const Tensor& k, double scale) {
  // scores: (..., Lq, Lk) = (q * scale) (..., Lq, d) @ kᵀ (..., d, Lk). Scaling q rather
  // than the scores touches Lq d values instead of Lq Lk (as PyTorch's MultiheadAttention).
  const Tensor scores = matmul(mul_scalar(q, attention_scale(q, scale)), k.transpose(-2, -1));
  return softmax(scores, -1);
}

int64_t attention_query_chunk(const Tensor& q, const Tensor& k, const Tensor& v) {
  // The weights of all rows: batch entries (q's and k's batch axes broadcast, v's too) x Lq x Lk.
  Shape batch = broadcast_shapes(Shape(q.shape().begin(), q.shape().end() - 2),
                                 Shape(k.shape().begin(), k.shape().end() - 2), "attention");
  batch = broadcast_shapes(batch, Shape(v.shape().begin(), v.shape().end() - 2), "attention");
  const double row_bytes = static_cast<double>(numel(batch)) * static_cast<double>(k.size(-2)) *
                           static_cast<double>(dtype_size(q.dtype()));
  const int64_t lq = q.size(-2);
  if (row_bytes * static_cast<double>(lq) <= static_cast<double>(attention_budget_bytes())) return lq;
  const auto rows = static_cast<int64_t>(static_cast<double>(attention_budget_bytes()) / std::max(row_bytes, 1.0));
  return std::clamp<int64_t>(rows, 1, lq);
}

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    double scale) {
  check_attention_inputs(q, k, v);
  const int64_t lq = q.size(-2), chunk = attention_query_chunk(q, k, v);
  if (chunk == lq) return matmul(attention_weights(q, k, scale), v);  // (..., Lq, Lk) @ (..., Lk, dv)
  std::vector<Tensor> parts;  // (..., rows, dv) per chunk of query rows
  for (int64_t start = 0; start < lq; start += chunk) {
    const Tensor q_rows = q.slice(q.dim() - 2, start, std::min(start + chunk, lq));
    parts.push_back(matmul(attention_weights(q_rows, k, scale), v));
  }
  return cat(parts, -2);
}

}  // namespace ldae
