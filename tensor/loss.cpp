// Pointwise losses: the per-element term (tensor/math.h) followed by the reduction.
// As PyTorch: input and target must have the same shape (no broadcasting: a (N, 1)
// target against an (N,) input silently broadcasting to (N, N) is a classic bug), and
// reduction is "mean" (average over all elements), "sum" or "none" (per element).
#include "tensor/cpu/map.h"
#include "tensor/math.h"
#include "tensor/ops.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/elementwise.h"
#endif

namespace ldae {

namespace {

template <typename F>
Tensor pointwise_loss(const std::string& op, const Tensor& input, const Tensor& target,
                      const std::string& reduction, F term) {
  check_plain_input(op, input);
  check_plain_input(op, target);
  check(reduction == "mean" || reduction == "sum" || reduction == "none", op,
        "reduction must be \"mean\", \"sum\" or \"none\", got \"" + reduction + "\"");
  check(input.shape() == target.shape(), op,
        "input shape " + shape_str(input.shape()) + " and target shape " +
            shape_str(target.shape()) + " differ (the target is not broadcast)");
  check(input.dtype() == target.dtype(), op,
        "input dtype " + dtype_name(input.dtype()) + " and target dtype " +
            dtype_name(target.dtype()) + " differ");
  check(input.device() == target.device(), op,
        "input is on " + input.device().str() + " but target is on " + target.device().str());
#ifndef LDAE_WITH_CUDA
  check(
      input.device().is_cpu() && target.device().is_cpu(), op,
      "tensor on " + input.device().str() + " but the CUDA backend is not built into this program");
#endif
  Tensor per_element = Tensor::empty(input.shape(), input.dtype(), input.device());
  if (input.device().is_cuda()) {
#ifdef LDAE_WITH_CUDA
    LDAE_DISPATCH(input.dtype(), T, { cuda::binary_map<T>(per_element, input, target, term); });
#endif
  } else {
    LDAE_DISPATCH(input.dtype(), T, { cpu::binary_map<T>(per_element, input, target, term); });
  }
  if (reduction == "none") return per_element;
  return reduction == "sum" ? sum(per_element) : mean(per_element);
}

}  // namespace

Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  return pointwise_loss("mse_loss", input, target, reduction, math::SquaredDiff{});
}

Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction) {
  return pointwise_loss("l1_loss", input, target, reduction, math::AbsDiff{});
}

Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const std::string& reduction) {
  return pointwise_loss("binary_cross_entropy_with_logits", logits, target, reduction,
                        math::BceWithLogits{});
}

}  // namespace ldae
