// Differentiable matrix products. For C = A B: dA = dC Bᵀ, dB = Aᵀ dC, each summed
// over the batch axes that broadcasting added.
#include "autograd/functions.h"
#include "autograd/plain.h"

namespace ldae::ag {

Tensor matmul(const Tensor& a, const Tensor& b) {
  SavedTensor sa(a, "matmul"), sb(b, "matmul");
  return record("matmul", plain([&] { return ldae::matmul(a, b); }), {a, b},
                [sa, sb](const Tensor& g, const Needs& need) {
                  Tensor ga, gb;
                  if (need[0]) ga = sum_to(ldae::matmul(g, sb.get().transpose(-1, -2)), sa.shape());
                  if (need[1]) gb = sum_to(ldae::matmul(sa.get().transpose(-1, -2), g), sb.shape());
                  return Grads{ga, gb};
                });
}

Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias) {
  // y = x Wᵀ + b, composed from differentiable ops (its gradient follows from theirs).
  Tensor x2 = ag::reshape(x, {-1, x.size(-1)});
  Tensor y = ag::matmul(x2, ag::transpose(weight, 0, 1));
  if (bias.defined()) y = ag::add(y, bias);
  Shape out_shape = x.shape();
  out_shape.back() = weight.size(0);
  return ag::reshape(y, out_shape);
}

}  // namespace ldae::ag
