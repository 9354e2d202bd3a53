// The per-element update rules of the optimizers, shared by the CPU loops and the CUDA
// kernels of the fused update ops (tensor/optim_update.cpp, tensor/cuda/optim.cu; LDAE_HD,
// as in tensor/math.h), which nn/sgd.cpp and nn/adam.cpp call. Each rule is
// written in exactly the order of operations of PyTorch 1.13's single-tensor
// implementation (torch/optim/sgd.py, adam.py, adamw.py), with every scalar cast to the
// element type T once, as PyTorch's kernels do, so that results agree with PyTorch to
// rounding.
#pragma once
#include <cmath>

#include "tensor/math.h"

namespace ldae::optim_math {

// SGD with optional weight decay, momentum (dampening) and Nesterov momentum:
//   d = g + wd * p
//   buf = first ? d : momentum * buf + (1 - dampening) * d
//   d = nesterov ? d + momentum * buf : buf        (when momentum != 0)
//   p = p - lr * d
struct SgdRule {
  double lr, momentum, dampening, weight_decay;
  bool nesterov;
  bool first;  // the momentum buffer does not exist yet: it becomes d
  template <typename T>
  LDAE_HD void operator()(T& p, T g, T* buf) const {
    T d = g;
    if (weight_decay != 0) d = d + T(weight_decay) * p;
    if (momentum != 0) {
      T b = first ? d : *buf * T(momentum) + T(1 - dampening) * d;
      *buf = b;
      d = nesterov ? d + T(momentum) * b : b;
    }
    p = p + T(-lr) * d;
  }
};

// Adam (L2 penalty added to the gradient) and AdamW (decoupled weight decay):
//   AdamW:  p = p * (1 - lr * wd)
//   Adam:   g = g + wd * p
//   m = beta1 * m + (1 - beta1) * g
//   v = beta2 * v + (1 - beta2) * g * g
//   p = p - step_size * m / (sqrt(v) / sqrt_bc2 + eps)
// with step_size = lr / (1 - beta1^t) and sqrt_bc2 = sqrt(1 - beta2^t) computed in
// double by the caller (t = this parameter's step count, from 1).
struct AdamRule {
  double beta1, beta2, eps, weight_decay;
  bool decoupled;  // true: AdamW
  double lr, step_size, sqrt_bc2;
  template <typename T>
  LDAE_HD void operator()(T& p, T g, T& m, T& v) const {
    if (weight_decay != 0) {
      if (decoupled)
        p = p * T(1 - lr * weight_decay);
      else
        g = g + T(weight_decay) * p;
    }
    m = m * T(beta1) + T(1 - beta1) * g;
    v = v * T(beta2) + T(1 - beta2) * g * g;
    const T denom = std::sqrt(v) / T(sqrt_bc2) + T(eps);
    p = p + T(-step_size) * m / denom;  // addcdiv: (value * m) / denom
  }
};

}  // namespace ldae::optim_math
