// Elementwise ops: checks, broadcasting and dispatch. The math is in tensor/math.h,
// the CPU loops in tensor/cpu/map.h.
#include "tensor/cpu/map.h"
#include "tensor/math.h"
#include "tensor/ops.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/elementwise.h"
#endif

namespace ldae {

namespace {

// Refuses a CUDA tensor in a build without the CUDA backend (it cannot exist there, but
// the check keeps the error clear if it ever did).
void check_cpu(const std::string& op, const Tensor& t) {
#ifndef LDAE_WITH_CUDA
  check(t.device().is_cpu(), op, "tensor on " + t.device().str() +
                                     " but the CUDA backend is not built into this program");
#else
  (void)op;
  (void)t;
#endif
}

template <typename F>
Tensor unary(const std::string& op, const Tensor& a, F f) {
  check_plain_input(op, a);
  check_cpu(op, a);
  Tensor out = Tensor::empty(a.shape(), a.dtype(), a.device());
#ifdef LDAE_WITH_CUDA
  if (a.device().is_cuda()) {
    LDAE_DISPATCH(a.dtype(), T, { cuda::unary_map<T>(out, a, f); });
    return out;
  }
#endif
  LDAE_DISPATCH(a.dtype(), T, { cpu::unary_map<T>(out, a, f); });
  return out;
}

template <typename F>
Tensor binary(const std::string& op, const Tensor& a, const Tensor& b, F f) {
  check_plain_input(op, a);
  check_plain_input(op, b);
  check(a.dtype() == b.dtype(), op,
        "dtypes " + dtype_name(a.dtype()) + " and " + dtype_name(b.dtype()) + " differ (shapes " +
            shape_str(a.shape()) + " and " + shape_str(b.shape()) + ")");
  check(a.device() == b.device(), op,
        "devices " + a.device().str() + " and " + b.device().str() + " differ");
  check_cpu(op, a);
  const Shape shape = broadcast_shapes(a.shape(), b.shape(), op);
  Tensor out = Tensor::empty(shape, a.dtype(), a.device());
  const Tensor ea = make_view(a, shape, broadcast_strides(a.shape(), a.strides(), shape), a.offset());
  const Tensor eb = make_view(b, shape, broadcast_strides(b.shape(), b.strides(), shape), b.offset());
#ifdef LDAE_WITH_CUDA
  if (a.device().is_cuda()) {
    LDAE_DISPATCH(a.dtype(), T, { cuda::binary_map<T>(out, ea, eb, f); });
    return out;
  }
#endif
  LDAE_DISPATCH(a.dtype(), T, { cpu::binary_map<T>(out, ea, eb, f); });
  return out;
}

void check_gelu_approximate(const std::string& op, const std::string& approximate) {
  check(approximate == "none" || approximate == "tanh", op,
        "approximate must be \"none\" or \"tanh\", got \"" + approximate + "\"");
}

}  // namespace

Tensor add(const Tensor& a, const Tensor& b) { return binary("add", a, b, math::Add{}); }
Tensor sub(const Tensor& a, const Tensor& b) { return binary("sub", a, b, math::Sub{}); }
Tensor mul(const Tensor& a, const Tensor& b) { return binary("mul", a, b, math::Mul{}); }
Tensor div(const Tensor& a, const Tensor& b) { return binary("div", a, b, math::Div{}); }
Tensor maximum(const Tensor& a, const Tensor& b) { return binary("maximum", a, b, math::Maximum{}); }
Tensor add_scaled(const Tensor& a, const Tensor& b, double alpha) {
  return binary("add_scaled", a, b, math::AddScaled{alpha});
}

Tensor add_scalar(const Tensor& a, double s) { return unary("add_scalar", a, math::AddScalar{s}); }
Tensor mul_scalar(const Tensor& a, double s) { return unary("mul_scalar", a, math::MulScalar{s}); }
Tensor pow_scalar(const Tensor& a, double e) { return unary("pow", a, math::PowScalar{e}); }
Tensor clamp(const Tensor& a, double lo, double hi) {
  check(lo <= hi, "clamp", "lower bound " + std::to_string(lo) + " exceeds upper " + std::to_string(hi));
  return unary("clamp", a, math::Clamp{lo, hi});
}

Tensor neg(const Tensor& a) { return unary("neg", a, math::Neg{}); }
Tensor exp(const Tensor& a) { return unary("exp", a, math::Exp{}); }
Tensor log(const Tensor& a) { return unary("log", a, math::Log{}); }
Tensor sqrt(const Tensor& a) { return unary("sqrt", a, math::Sqrt{}); }
Tensor abs(const Tensor& a) { return unary("abs", a, math::Abs{}); }
Tensor sign(const Tensor& a) { return unary("sign", a, math::Sign{}); }
Tensor tanh(const Tensor& a) { return unary("tanh", a, math::Tanh{}); }
Tensor sigmoid(const Tensor& a) { return unary("sigmoid", a, math::Sigmoid{}); }
Tensor relu(const Tensor& a) { return unary("relu", a, math::Relu{}); }
Tensor leaky_relu(const Tensor& a, double slope) {
  return unary("leaky_relu", a, math::LeakyRelu{slope});
}
Tensor silu(const Tensor& a) { return unary("silu", a, math::Silu{}); }
Tensor gelu(const Tensor& a, const std::string& approximate) {
  check_gelu_approximate("gelu", approximate);
  if (approximate == "tanh") return unary("gelu", a, math::GeluTanh{});
  return unary("gelu", a, math::GeluErf{});
}

Tensor tanh_backward(const Tensor& y, const Tensor& g) {
  return binary("tanh_backward", y, g, math::TanhGrad{});
}
Tensor sigmoid_backward(const Tensor& y, const Tensor& g) {
  return binary("sigmoid_backward", y, g, math::SigmoidGrad{});
}
Tensor relu_backward(const Tensor& x, const Tensor& g) {
  return binary("relu_backward", x, g, math::ReluGrad{});
}
Tensor leaky_relu_backward(const Tensor& x, const Tensor& g, double slope) {
  return binary("leaky_relu_backward", x, g, math::LeakyReluGrad{slope});
}
Tensor silu_backward(const Tensor& x, const Tensor& g) {
  return binary("silu_backward", x, g, math::SiluGrad{});
}
Tensor gelu_backward(const Tensor& x, const Tensor& g, const std::string& approximate) {
  check_gelu_approximate("gelu_backward", approximate);
  if (approximate == "tanh") return binary("gelu_backward", x, g, math::GeluTanhGrad{});
  return binary("gelu_backward", x, g, math::GeluErfGrad{});
}

}  // namespace ldae
