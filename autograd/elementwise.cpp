// Differentiable elementwise ops. Binary ops broadcast, so each input's gradient is
// summed back to that input's shape (sum_to).
#include <cmath>

#include "autograd/functions.h"
#include "autograd/plain.h"

namespace ldae::ag {

Tensor add(const Tensor& a, const Tensor& b) {
  const Shape sa = a.shape(), sb = b.shape();
  return record("add", plain([&] { return ldae::add(a, b); }), {a, b},
                [sa, sb](const Tensor& g, const Needs& need) {
                  return Grads{need[0] ? sum_to(g, sa) : Tensor(), need[1] ? sum_to(g, sb) : Tensor()};
                });
}

Tensor sub(const Tensor& a, const Tensor& b) {
  const Shape sa = a.shape(), sb = b.shape();
  return record("sub", plain([&] { return ldae::sub(a, b); }), {a, b},
                [sa, sb](const Tensor& g, const Needs& need) {
                  return Grads{need[0] ? sum_to(g, sa) : Tensor(),
                               need[1] ? sum_to(ldae::neg(g), sb) : Tensor()};
                });
}

Tensor mul(const Tensor& a, const Tensor& b) {
  SavedTensor sa(a, "mul"), sb(b, "mul");
  return record("mul", plain([&] { return ldae::mul(a, b); }), {a, b},
                [sa, sb](const Tensor& g, const Needs& need) {
                  return Grads{need[0] ? sum_to(ldae::mul(g, sb.get()), sa.shape()) : Tensor(),
                               need[1] ? sum_to(ldae::mul(g, sa.get()), sb.shape()) : Tensor()};
                });
}

Tensor div(const Tensor& a, const Tensor& b) {
  SavedTensor sa(a, "div"), sb(b, "div");
  return record("div", plain([&] { return ldae::div(a, b); }), {a, b},
                [sa, sb](const Tensor& g, const Needs& need) {
                  // d(a/b)/da = 1/b, d(a/b)/db = -a/b^2
                  const Tensor& bv = sb.get();
                  Tensor ga, gb;
                  if (need[0]) ga = sum_to(ldae::div(g, bv), sa.shape());
                  if (need[1])
                    gb = sum_to(ldae::neg(ldae::div(ldae::mul(g, sa.get()), ldae::mul(bv, bv))),
                                sb.shape());
                  return Grads{ga, gb};
                });
}

Tensor add_scalar(const Tensor& a, double s) {
  return record("add_scalar", plain([&] { return ldae::add_scalar(a, s); }), {a},
                [](const Tensor& g, const Needs&) { return Grads{g}; });
}

Tensor mul_scalar(const Tensor& a, double s) {
  return record("mul_scalar", plain([&] { return ldae::mul_scalar(a, s); }), {a},
                [s](const Tensor& g, const Needs&) { return Grads{ldae::mul_scalar(g, s)}; });
}

Tensor pow(const Tensor& a, double e) {
  SavedTensor sa(a, "pow");
  return record("pow", plain([&] { return ldae::pow_scalar(a, e); }), {a},
                [sa, e](const Tensor& g, const Needs&) {
                  // d(x^e)/dx = e x^(e-1)
                  return Grads{ldae::mul(g, ldae::mul_scalar(ldae::pow_scalar(sa.get(), e - 1), e))};
                });
}

Tensor neg(const Tensor& a) {
  return record("neg", plain([&] { return ldae::neg(a); }), {a},
                [](const Tensor& g, const Needs&) { return Grads{ldae::neg(g)}; });
}

Tensor exp(const Tensor& a) {
  Tensor y = plain([&] { return ldae::exp(a); });
  SavedTensor sy(y, "exp");
  return record("exp", y, {a},
                [sy](const Tensor& g, const Needs&) { return Grads{ldae::mul(g, sy.get())}; });
}

Tensor log(const Tensor& a) {
  SavedTensor sa(a, "log");
  return record("log", plain([&] { return ldae::log(a); }), {a},
                [sa](const Tensor& g, const Needs&) { return Grads{ldae::div(g, sa.get())}; });
}

Tensor sqrt(const Tensor& a) {
  Tensor y = plain([&] { return ldae::sqrt(a); });
  SavedTensor sy(y, "sqrt");
  return record("sqrt", y, {a}, [sy](const Tensor& g, const Needs&) {
    return Grads{ldae::div(ldae::mul_scalar(g, 0.5), sy.get())};  // 1 / (2 sqrt x)
  });
}

Tensor abs(const Tensor& a) {
  SavedTensor sa(a, "abs");
  return record("abs", plain([&] { return ldae::abs(a); }), {a}, [sa](const Tensor& g, const Needs&) {
    return Grads{ldae::mul(g, ldae::sign(sa.get()))};  // sign(0) = 0, as PyTorch
  });
}

Tensor tanh(const Tensor& a) {
  Tensor y = plain([&] { return ldae::tanh(a); });
  SavedTensor sy(y, "tanh");
  return record("tanh", y, {a},
                [sy](const Tensor& g, const Needs&) { return Grads{tanh_backward(sy.get(), g)}; });
}

Tensor sigmoid(const Tensor& a) {
  Tensor y = plain([&] { return ldae::sigmoid(a); });
  SavedTensor sy(y, "sigmoid");
  return record("sigmoid", y, {a},
                [sy](const Tensor& g, const Needs&) { return Grads{sigmoid_backward(sy.get(), g)}; });
}

Tensor relu(const Tensor& a) {
  SavedTensor sa(a, "relu");
  return record("relu", plain([&] { return ldae::relu(a); }), {a},
                [sa](const Tensor& g, const Needs&) { return Grads{relu_backward(sa.get(), g)}; });
}

Tensor leaky_relu(const Tensor& a, double slope) {
  SavedTensor sa(a, "leaky_relu");
  return record("leaky_relu", plain([&] { return ldae::leaky_relu(a, slope); }), {a},
                [sa, slope](const Tensor& g, const Needs&) {
                  return Grads{leaky_relu_backward(sa.get(), g, slope)};
                });
}

Tensor silu(const Tensor& a) {
  SavedTensor sa(a, "silu");
  return record("silu", plain([&] { return ldae::silu(a); }), {a},
                [sa](const Tensor& g, const Needs&) { return Grads{silu_backward(sa.get(), g)}; });
}

Tensor gelu(const Tensor& a, const std::string& approximate) {
  SavedTensor sa(a, "gelu");
  return record("gelu", plain([&] { return ldae::gelu(a, approximate); }), {a},
                [sa, approximate](const Tensor& g, const Needs&) {
                  return Grads{gelu_backward(sa.get(), g, approximate)};
                });
}

Tensor clamp(const Tensor& a, double lo, double hi) {
  SavedTensor sa(a, "clamp");
  return record("clamp", plain([&] { return ldae::clamp(a, lo, hi); }), {a},
                [sa, lo, hi](const Tensor& g, const Needs&) {
                  // 1 where lo <= x <= hi: (clamp(x) == x) as a 0/1 mask.
                  const Tensor& x = sa.get();
                  Tensor inside = ldae::sub(ldae::clamp(x, lo, hi), x);
                  inside = ldae::sub(Tensor::ones({}, x.dtype(), x.device()), ldae::sign(ldae::abs(inside)));
                  return Grads{ldae::mul(g, inside)};
                });
}

}  // namespace ldae::ag
