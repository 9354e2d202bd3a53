// Scaled dot-product attention, the plain composition of matmul, softmax and matmul:
//   y = softmax(q kᵀ * scale, last axis) v.
// It materialises the (..., Lq, Lk) weight matrix, which is fine for the token counts of
// the LDAE's attention blocks (a fused "flash" kernel would avoid it).
#include <cmath>

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

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    double scale) {
  check_attention_inputs(q, k, v);
  return matmul(attention_weights(q, k, scale), v);  // (..., Lq, Lk) @ (..., Lk, dv)
}

}  // namespace ldae
