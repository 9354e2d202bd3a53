// Differentiable losses, with gradients for both the input and the target (as PyTorch):
//   mse:  d/dx = 2 (x - t),         d/dt = -2 (x - t)
//   l1:   d/dx = sign(x - t),       d/dt = -sign(x - t)      (0 at x == t)
//   bce with logits x:  d/dx = sigmoid(x) - t,   d/dt = -x
// times the upstream gradient g (a scalar for "mean"/"sum", per element for "none"),
// times 1/numel for "mean".
#include "autograd/functions.h"
#include "autograd/plain.h"

namespace ldae::ag {

namespace {

// The factor the reduction puts on each element's gradient.
double reduction_factor(const std::string& reduction, int64_t numel) {
  return reduction == "mean" && numel > 0 ? 1.0 / static_cast<double>(numel) : 1.0;
}

// g (broadcast from a scalar when reduced) * d * factor.
Tensor chain(const Tensor& g, const Tensor& d, double factor) {
  return ldae::mul_scalar(ldae::mul(g, d), factor);
}

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  const std::string op = "mse_loss";
  const Tensor y = plain([&] { return ldae::mse_loss(input, target, reduction); });
  const SavedTensor sx(input, op), st(target, op);
  const double f = 2.0 * reduction_factor(reduction, input.numel());
  return record(op, y, {input, target}, [sx, st, f](const Tensor& g, const Needs& need) {
    const Tensor gx = chain(g, ldae::sub(sx.get(), st.get()), f);
    return Grads{need[0] ? gx : Tensor(), need[1] ? ldae::neg(gx) : Tensor()};
  });
}

Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  const std::string op = "l1_loss";
  const Tensor y = plain([&] { return ldae::l1_loss(input, target, reduction); });
  const SavedTensor sx(input, op), st(target, op);
  const double f = reduction_factor(reduction, input.numel());
  return record(op, y, {input, target}, [sx, st, f](const Tensor& g, const Needs& need) {
    const Tensor gx = chain(g, ldae::sign(ldae::sub(sx.get(), st.get())), f);
    return Grads{need[0] ? gx : Tensor(), need[1] ? ldae::neg(gx) : Tensor()};
  });
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const std::string& reduction) {
  const std::string op = "binary_cross_entropy_with_logits";
  const Tensor y =
      plain([&] { return ldae::binary_cross_entropy_with_logits(logits, target, reduction); });
  const SavedTensor sx(logits, op), st(target, op);
  const double f = reduction_factor(reduction, logits.numel());
  return record(op, y, {logits, target}, [sx, st, f](const Tensor& g, const Needs& need) {
    Tensor gx, gt;
    if (need[0]) gx = chain(g, ldae::sub(ldae::sigmoid(sx.get()), st.get()), f);
    if (need[1]) gt = chain(g, ldae::neg(sx.get()), f);
    return Grads{gx, gt};
  });
}

}  // namespace ldae::ag
