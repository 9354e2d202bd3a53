// Fused optimizer updates: checks and dispatch; the CPU loops. The rules are in
// tensor/optim_math.h, the CUDA kernels in tensor/cuda/optim.cu.
#include "tensor/optim_update.h"

#include <cmath>

#include "tensor/grad_mode.h"
#include "tensor/optim_math.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/optim.h"
#endif

namespace ldae {

namespace {

// Checks that `t` (a state tensor or the gradient) matches the parameter.
void check_like_param(const std::string& op, const std::string& what, const Tensor& t,
                      const Tensor& param, bool must_be_contiguous) {
  check(t.defined(), op, what + " is undefined");
  check(t.shape() == param.shape() && t.dtype() == param.dtype() && t.device() == param.device(),
        op,
        what + " " + shape_str(t.shape()) + " " + dtype_name(t.dtype()) + " on " +
            t.device().str() + " does not match the parameter " + shape_str(param.shape()) + " " +
            dtype_name(param.dtype()) + " on " + param.device().str());
  check(!must_be_contiguous || t.is_contiguous(), op, what + " must be contiguous");
}

void check_param(const std::string& op, const Tensor& param) {
  check(param.defined(), op, "the parameter is undefined");
  check(param.is_contiguous(), op,
        "the parameter " + shape_str(param.shape()) + " must be contiguous");
  check(!grad_mode_enabled() || !param.requires_grad(), op,
        "in-place update of a parameter that requires grad; call it inside a NoGrad scope");
#ifndef LDAE_WITH_CUDA
  check(param.device().is_cpu(), op, "CUDA backend is not built into this program");
#endif
}

template <typename T>
void adam_loop(T* p, const T* g, T* m, T* v, int64_t n, const optim_math::AdamRule& rule) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) rule(p[i], g[i], m[i], v[i]);
}

template <typename T>
void sgd_loop(T* p, const T* g, T* buf, int64_t n, const optim_math::SgdRule& rule) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) rule(p[i], g[i], buf ? buf + i : nullptr);
}

}  // namespace

void adam_update(Tensor& param, const Tensor& grad_in, Tensor& exp_avg, Tensor& exp_avg_sq,
                 double lr, double beta1, double beta2, double eps, double weight_decay,
                 bool decoupled, int64_t step) {
  const std::string op = decoupled ? "adamw_update" : "adam_update";
  check_param(op, param);
  check_like_param(op, "grad", grad_in, param, false);
  check_like_param(op, "exp_avg", exp_avg, param, true);
  check_like_param(op, "exp_avg_sq", exp_avg_sq, param, true);
  check(step >= 1, op, "step must be >= 1, got " + std::to_string(step));
  const Tensor grad = grad_in.contiguous();
  // Bias corrections in double, as PyTorch computes them in Python.
  const double t = static_cast<double>(step);
  const double bc1 = 1.0 - std::pow(beta1, t);
  const double bc2 = 1.0 - std::pow(beta2, t);
  const optim_math::AdamRule rule{beta1,     beta2, eps,      weight_decay,
                                  decoupled, lr,    lr / bc1, std::sqrt(bc2)};
  if (param.device().is_cuda()) {
#ifdef LDAE_WITH_CUDA
    cuda::adam_update(param, grad, exp_avg, exp_avg_sq, rule);  // tensor/cuda/optim.cu
#endif
  } else {
    LDAE_DISPATCH(param.dtype(), T, {
      adam_loop<T>(param.mutable_data<T>(), grad.data<T>(), exp_avg.mutable_data<T>(), exp_avg_sq.mutable_data<T>(),
                   param.numel(), rule);
    });
  }
  for (Tensor* w : {&param, &exp_avg, &exp_avg_sq}) w->storage()->bump_version();
}

void sgd_update(Tensor& param, const Tensor& grad_in, Tensor& momentum_buffer, double lr,
                double momentum, double dampening, double weight_decay, bool nesterov, bool first) {
  const std::string op = "sgd_update";
  check_param(op, param);
  check_like_param(op, "grad", grad_in, param, false);
  check(momentum == 0 || momentum_buffer.defined(), op, "momentum needs a momentum_buffer");
  if (momentum_buffer.defined())
    check_like_param(op, "momentum_buffer", momentum_buffer, param, true);
  const Tensor grad = grad_in.contiguous();
  const optim_math::SgdRule rule{lr, momentum, dampening, weight_decay, nesterov, first};
  const bool with_buffer = momentum != 0;
  if (param.device().is_cuda()) {
#ifdef LDAE_WITH_CUDA
    cuda::sgd_update(param, grad, with_buffer ? momentum_buffer : Tensor(), rule);
#endif
  } else {
    LDAE_DISPATCH(param.dtype(), T, {
      sgd_loop<T>(param.mutable_data<T>(), grad.data<T>(),
                  with_buffer ? momentum_buffer.mutable_data<T>() : nullptr, param.numel(), rule);
    });
  }
  param.storage()->bump_version();
  if (with_buffer) momentum_buffer.storage()->bump_version();
}

}  // namespace ldae
