// Differentiable scaled dot-product attention with its own backward (not composed from
// ag::matmul / ag::softmax): the forward saves q, k, v and the weights P, and the
// backward is, with s the scale, S = s q kᵀ, P = softmax(S), y = P v:
//   gv = Pᵀ g,   gP = g vᵀ,   gS = softmax_backward(P, gP),   gq = s gS k,   gk = s gSᵀ q.
// Batch axes broadcast as in matmul, so each gradient is summed back to its input's shape.
#include "autograd/functions.h"
#include "autograd/plain.h"

namespace ldae::ag {

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    double scale) {
  const std::string op = "scaled_dot_product_attention";
  Tensor p, y;
  plain([&] {
    check_attention_inputs(q, k, v);
    p = attention_weights(q, k, scale);  // (..., Lq, Lk)
    y = ldae::matmul(p, v);              // (..., Lq, dv)
    return y;
  });
  const double s = attention_scale(q, scale);
  const SavedTensor sq(q, op), sk(k, op), sv(v, op), sp(p, op);
  return record(op, y, {q, k, v}, [sq, sk, sv, sp, s](const Tensor& g, const Needs& need) {
    const Tensor &qv = sq.get(), &kv = sk.get(), &vv = sv.get();
    Grads grads(3);
    if (need[2]) grads[2] = sum_to(ldae::matmul(sp.get().transpose(-2, -1), g), sv.shape());
    if (need[0] || need[1]) {
      const Tensor gp = ldae::matmul(g, vv.transpose(-2, -1));  // (..., Lq, Lk)
      // P may have fewer batch axes than gP when v brings extra ones: expand it to match.
      const Tensor pe = sp.get().expand(gp.shape());
      const Tensor gs = ldae::mul_scalar(ldae::softmax_backward(pe, gp, -1), s);  // gS
      if (need[0]) grads[0] = sum_to(ldae::matmul(gs, kv), sq.shape());
      if (need[1]) grads[1] = sum_to(ldae::matmul(gs.transpose(-2, -1), qv), sk.shape());
    }
    return grads;
  });
}

}  // namespace ldae::ag
