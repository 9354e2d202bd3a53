// Differentiable group norm, layer norm and batch norm. The forward saves x and the per-set
// mean and 1/std; the fused backward kernels (tensor/cpu/norm.cpp) return the gradients of x,
// weight and bias in one call.
#include "autograd/functions.h"
#include "autograd/plain.h"

namespace ldae::ag {

namespace {

// A SavedTensor for an optional input (weight may be undefined).
SavedTensor save_optional(const Tensor& t, const std::string& op) {
  return t.defined() ? SavedTensor(t, op) : SavedTensor();
}

Tensor get_optional(const SavedTensor& s) {
  return s.defined() ? s.get() : Tensor();
}

Grads pick(const NormGrads& d, const Needs& need) {
  return Grads{need[0] ? d.gx : Tensor(), need[1] ? d.gw : Tensor(), need[2] ? d.gb : Tensor()};
}

}  // namespace

Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                  double eps) {
  const NormResult r = plain([&] { return ldae::group_norm(x, groups, weight, bias, eps); });
  const SavedTensor sx(x, "group_norm"), smean(r.mean, "group_norm"), srstd(r.rstd, "group_norm");
  const SavedTensor sw = save_optional(weight, "group_norm");
  return record("group_norm", r.y, {x, weight, bias},
                [sx, smean, srstd, sw, groups](const Tensor& g, const Needs& need) {
                  return pick(group_norm_backward(g, sx.get(), smean.get(), srstd.get(), groups,
                                                  get_optional(sw)),
                              need);
                });
}

Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps) {
  const NormResult r =
      plain([&] { return ldae::layer_norm(x, normalized_shape, weight, bias, eps); });
  const SavedTensor sx(x, "layer_norm"), smean(r.mean, "layer_norm"), srstd(r.rstd, "layer_norm");
  const SavedTensor sw = save_optional(weight, "layer_norm");
  return record("layer_norm", r.y, {x, weight, bias},
                [sx, smean, srstd, sw, normalized_shape](const Tensor& g, const Needs& need) {
                  return pick(layer_norm_backward(g, sx.get(), smean.get(), srstd.get(),
                                                  normalized_shape, get_optional(sw)),
                              need);
                });
}

Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum,
                  double eps) {
  for (const Tensor* r : {&running_mean, &running_var}) {
    check(!r->defined() || (!r->requires_grad() && r->grad_fn() == nullptr), "batch_norm",
          "running_mean / running_var must not require grad (they are statistics, updated in "
          "place)");
  }
  const NormResult r = plain([&] {
    return ldae::batch_norm(x, running_mean, running_var, weight, bias, training, momentum, eps);
  });
  // mean and rstd are fresh tensors (copies in eval): later updates of the running
  // statistics do not disturb this node's backward.
  const SavedTensor sx(x, "batch_norm"), smean(r.mean, "batch_norm"), srstd(r.rstd, "batch_norm");
  const SavedTensor sw = save_optional(weight, "batch_norm");
  return record("batch_norm", r.y, {x, weight, bias},
                [sx, smean, srstd, sw, training](const Tensor& g, const Needs& need) {
                  return pick(batch_norm_backward(g, sx.get(), smean.get(), srstd.get(),
                                                  get_optional(sw), training),
                              need);
                });
}

}  // namespace ldae::ag
