// Group norm, layer norm and batch norm: checks, shapes and dtype dispatch. The fused kernels are
// in tensor/cpu/norm.cpp (plain-loop versions in tensor/cpu/norm_reference.cpp, used when
// reference kernels are on: tensor/kernels.h). PyTorch semantics: biased variance,
// rstd = 1/sqrt(var + eps), y = (x - mean) * rstd * weight + bias, weight/bias optional.
#include "tensor/cpu/norm.h"

#include <cmath>

#include "tensor/cpu/norm_reference.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/norm.h"
#endif

namespace ldae {

namespace {

void check_cpu(const std::string& op, const Tensor& t) {
#ifndef LDAE_WITH_CUDA
  check(t.device().is_cpu(), op,
        "tensor on " + t.device().str() + " but the CUDA backend is not built into this program");
#else
  (void)op;
  (void)t;
#endif
}

// Checks an input that must be defined, on x's device, with x's dtype.
void check_like_x(const std::string& op, const std::string& what, const Tensor& t,
                  const Tensor& x) {
  check_plain_input(op, t);
  check_cpu(op, t);
  check(t.device() == x.device(), op,
        what + " is on " + t.device().str() + " but x is on " + x.device().str());
  check(t.dtype() == x.dtype(), op,
        what + " has dtype " + dtype_name(t.dtype()) + " but x has " + dtype_name(x.dtype()));
}

// Checks an optional affine parameter (weight or bias): undefined, or of `shape`.
void check_affine(const std::string& op, const std::string& what, const Tensor& p, const Tensor& x,
                  const Shape& shape) {
  if (!p.defined()) return;
  check_like_x(op, what, p, x);
  check(p.shape() == shape, op,
        what + " has shape " + shape_str(p.shape()) + " but x " + shape_str(x.shape()) + " needs " +
            shape_str(shape));
}

// Pointer to the contiguous data of an optional tensor (null when undefined).
template <typename T>
const T* data_or_null(const Tensor& t) {
  return t.defined() ? t.data<T>() : nullptr;
}
// The same on the tensor's device (a GPU address for a CUDA tensor).
template <typename T>
const T* device_data_or_null(const Tensor& t) {
  return t.defined() ? t.device_data<T>() : nullptr;
}

// A normalisation's backward: its inputs checked (gy like x, mean and rstd `stat_count` elements
// each; `stats_of` ends the error, e.g. " with 4 groups") and made contiguous, and its gradients
// allocated (gx like x, gw and gb zeros of `param_shape`).
struct BackwardPass {
  Tensor gy, x, mean, rstd, w;  // contiguous; w undefined without a weight
  NormGrads grads;
};
BackwardPass prepare_backward(const std::string& op, const Tensor& gy_in, const Tensor& x_in,
                              const Tensor& mean_in, const Tensor& rstd_in, const Tensor& weight_in,
                              int64_t stat_count, const std::string& stats_of, const Shape& param_shape) {
  check_like_x(op, "gy", gy_in, x_in);
  check(
      gy_in.shape() == x_in.shape(), op,
      "gy shape " + shape_str(gy_in.shape()) + " differs from x shape " + shape_str(x_in.shape()));
  for (const Tensor* s : {&mean_in, &rstd_in}) {
    check_like_x(op, "mean/rstd", *s, x_in);
    check(s->numel() == stat_count, op,
          "mean/rstd of shape " + shape_str(s->shape()) + " do not match x " + shape_str(x_in.shape()) +
              stats_of);
  }
  BackwardPass b;
  b.gy = gy_in.contiguous();
  b.x = x_in.contiguous();
  b.mean = mean_in.contiguous();
  b.rstd = rstd_in.contiguous();
  if (weight_in.defined()) b.w = weight_in.contiguous();
  b.grads.gx = Tensor::empty(b.x.shape(), b.x.dtype(), b.x.device());
  b.grads.gw = Tensor::zeros(param_shape, b.x.dtype(), b.x.device());
  b.grads.gb = Tensor::zeros(param_shape, b.x.dtype(), b.x.device());
  return b;
}

// The checks shared by group_norm and group_norm_backward; returns the kernel geometry.
cpu::GroupNormGeometry group_geometry(const std::string& op, const Tensor& x, int64_t groups,
                                      const Tensor& weight) {
  check_plain_input(op, x);
  check_cpu(op, x);
  check(x.dim() >= 2, op, "x must be (N, C, ...), got shape " + shape_str(x.shape()));
  const int64_t C = x.shape()[1];
  check(groups > 0 && C % groups == 0, op,
        "channels " + std::to_string(C) + " of x " + shape_str(x.shape()) +
            " are not divisible by groups " + std::to_string(groups));
  check_affine(op, "weight", weight, x, {C});
  cpu::GroupNormGeometry g;
  g.N = x.shape()[0];
  g.C = C;
  g.groups = groups;
  g.S = numel(Shape(x.shape().begin() + 2, x.shape().end()));  // 1 for x: (N, C)
  return g;
}

// The checks shared by layer_norm and layer_norm_backward: returns (M, L) with
// L = numel(normalized_shape) and the shape of mean/rstd.
struct LayerGeometry {
  int64_t M = 0, L = 0;
  Shape stats_shape;  // x's shape with the normalised axes set to 1 (as PyTorch)
};

LayerGeometry layer_geometry(const std::string& op, const Tensor& x, const Shape& normalized_shape,
                             const Tensor& weight) {
  check_plain_input(op, x);
  check_cpu(op, x);
  const int64_t k = static_cast<int64_t>(normalized_shape.size());
  check(k >= 1 && k <= x.dim(), op,
        "normalized_shape " + shape_str(normalized_shape) + " does not fit x " +
            shape_str(x.shape()));
  const Shape tail(x.shape().end() - k, x.shape().end());
  check(tail == normalized_shape, op,
        "normalized_shape " + shape_str(normalized_shape) + " is not the trailing shape of x " +
            shape_str(x.shape()));
  check_affine(op, "weight", weight, x, normalized_shape);
  LayerGeometry g;
  g.L = numel(normalized_shape);
  check(g.L > 0, op, "normalized_shape " + shape_str(normalized_shape) + " is empty");
  g.M = x.numel() / g.L;
  g.stats_shape = x.shape();
  for (int64_t i = x.dim() - k; i < x.dim(); ++i) g.stats_shape[i] = 1;
  return g;
}

// The checks shared by batch_norm and batch_norm_backward; returns the kernel geometry.
cpu::BatchNormGeometry batch_geometry(const std::string& op, const Tensor& x, const Tensor& weight) {
  check_plain_input(op, x);
  check_cpu(op, x);
  check(x.dim() >= 2, op, "x must be (N, C, ...), got shape " + shape_str(x.shape()));
  cpu::BatchNormGeometry g;
  g.N = x.shape()[0];
  g.C = x.shape()[1];
  g.S = numel(Shape(x.shape().begin() + 2, x.shape().end()));  // 1 for x: (N, C)
  check_affine(op, "weight", weight, x, {g.C});
  return g;
}

}  // namespace

NormResult group_norm(const Tensor& x_in, int64_t groups, const Tensor& weight_in,
                      const Tensor& bias_in, double eps) {
  const std::string op = "group_norm";
  const cpu::GroupNormGeometry g = group_geometry(op, x_in, groups, weight_in);
  check_affine(op, "bias", bias_in, x_in, {g.C});
  check(eps >= 0, op, "eps must be >= 0, got " + std::to_string(eps));
  const Tensor x = x_in.contiguous();
  const Tensor w = weight_in.defined() ? weight_in.contiguous() : Tensor();
  const Tensor b = bias_in.defined() ? bias_in.contiguous() : Tensor();
  NormResult r;
  r.y = Tensor::empty(x.shape(), x.dtype(), x.device());
  r.mean = Tensor::empty({g.N, groups}, x.dtype(), x.device());
  r.rstd = Tensor::empty({g.N, groups}, x.dtype(), x.device());
  if (x.numel() == 0) {  // empty sets: undefined statistics, as PyTorch's NaN
    r.mean.fill_(NAN);
    r.rstd.fill_(NAN);
    return r;
  }
#ifdef LDAE_WITH_CUDA
  if (x.device().is_cuda()) {  // tensor/cuda/norm.cu
    LDAE_DISPATCH(x.dtype(), T, {
      cuda::group_norm_forward<T>(g, x.device_data<T>(), device_data_or_null<T>(w),
                                  device_data_or_null<T>(b), eps, r.y.mutable_device_data<T>(),
                                  r.mean.mutable_device_data<T>(), r.rstd.mutable_device_data<T>());
    });
    return r;
  }
#endif
  // CPU: the fast kernels, or the plain loops when reference kernels are on (tensor/kernels.h).
  const bool reference = reference_kernels();
  LDAE_DISPATCH(x.dtype(), T, {
    if (reference) {
      cpu::group_norm_reference_forward<T>(g, x.data<T>(), data_or_null<T>(w), data_or_null<T>(b),
                                           eps, r.y.mutable_data<T>(), r.mean.mutable_data<T>(),
                                           r.rstd.mutable_data<T>());
    } else {
      cpu::group_norm_forward<T>(g, x.data<T>(), data_or_null<T>(w), data_or_null<T>(b), eps,
                                 r.y.mutable_data<T>(), r.mean.mutable_data<T>(),
                                 r.rstd.mutable_data<T>());
    }
  });
  return r;
}

NormGrads group_norm_backward(const Tensor& gy_in, const Tensor& x_in, const Tensor& mean_in,
                              const Tensor& rstd_in, int64_t groups, const Tensor& weight_in) {
  const std::string op = "group_norm_backward";
  const cpu::GroupNormGeometry g = group_geometry(op, x_in, groups, weight_in);
  const BackwardPass in = prepare_backward(op, gy_in, x_in, mean_in, rstd_in, weight_in, g.N * groups,
                                           " with " + std::to_string(groups) + " groups", {g.C});
  const Tensor &gy = in.gy, &x = in.x, &mean = in.mean, &rstd = in.rstd, &w = in.w;
  NormGrads r = in.grads;
  if (x.numel() == 0) return r;
#ifdef LDAE_WITH_CUDA
  if (x.device().is_cuda()) {
    LDAE_DISPATCH(x.dtype(), T, {
      cuda::group_norm_backward<T>(g, gy.device_data<T>(), x.device_data<T>(), mean.device_data<T>(),
                                   rstd.device_data<T>(), device_data_or_null<T>(w),
                                   r.gx.mutable_device_data<T>(), r.gw.mutable_device_data<T>(), r.gb.mutable_device_data<T>());
    });
    return r;
  }
#endif
  const bool reference = reference_kernels();  // see group_norm
  LDAE_DISPATCH(x.dtype(), T, {
    if (reference) {
      cpu::group_norm_reference_backward<T>(
          g, gy.data<T>(), x.data<T>(), mean.data<T>(), rstd.data<T>(), data_or_null<T>(w),
          r.gx.mutable_data<T>(), r.gw.mutable_data<T>(), r.gb.mutable_data<T>());
    } else {
      cpu::group_norm_backward<T>(g, gy.data<T>(), x.data<T>(), mean.data<T>(), rstd.data<T>(),
                                  data_or_null<T>(w), r.gx.mutable_data<T>(),
                                  r.gw.mutable_data<T>(), r.gb.mutable_data<T>());
    }
  });
  return r;
}

NormResult layer_norm(const Tensor& x_in, const Shape& normalized_shape, const Tensor& weight_in,
                      const Tensor& bias_in, double eps) {
  const std::string op = "layer_norm";
  const LayerGeometry g = layer_geometry(op, x_in, normalized_shape, weight_in);
  check_affine(op, "bias", bias_in, x_in, normalized_shape);
  check(eps >= 0, op, "eps must be >= 0, got " + std::to_string(eps));
  const Tensor x = x_in.contiguous();
  const Tensor w = weight_in.defined() ? weight_in.contiguous() : Tensor();
  const Tensor b = bias_in.defined() ? bias_in.contiguous() : Tensor();
  NormResult r;
  r.y = Tensor::empty(x.shape(), x.dtype(), x.device());
  r.mean = Tensor::empty(g.stats_shape, x.dtype(), x.device());
  r.rstd = Tensor::empty(g.stats_shape, x.dtype(), x.device());
  if (x.numel() == 0) return r;
#ifdef LDAE_WITH_CUDA
  if (x.device().is_cuda()) {
    LDAE_DISPATCH(x.dtype(), T, {
      cuda::layer_norm_forward<T>(g.M, g.L, x.device_data<T>(), device_data_or_null<T>(w),
                                  device_data_or_null<T>(b), eps, r.y.mutable_device_data<T>(),
                                  r.mean.mutable_device_data<T>(), r.rstd.mutable_device_data<T>());
    });
    return r;
  }
#endif
  const bool reference = reference_kernels();  // see group_norm
  LDAE_DISPATCH(x.dtype(), T, {
    if (reference) {
      cpu::layer_norm_reference_forward<T>(g.M, g.L, x.data<T>(), data_or_null<T>(w),
                                           data_or_null<T>(b), eps, r.y.mutable_data<T>(),
                                           r.mean.mutable_data<T>(), r.rstd.mutable_data<T>());
    } else {
      cpu::layer_norm_forward<T>(g.M, g.L, x.data<T>(), data_or_null<T>(w), data_or_null<T>(b), eps,
                                 r.y.mutable_data<T>(), r.mean.mutable_data<T>(),
                                 r.rstd.mutable_data<T>());
    }
  });
  return r;
}

NormGrads layer_norm_backward(const Tensor& gy_in, const Tensor& x_in, const Tensor& mean_in,
                              const Tensor& rstd_in, const Shape& normalized_shape,
                              const Tensor& weight_in) {
  const std::string op = "layer_norm_backward";
  const LayerGeometry g = layer_geometry(op, x_in, normalized_shape, weight_in);
  const BackwardPass in = prepare_backward(op, gy_in, x_in, mean_in, rstd_in, weight_in, g.M,
                                           " normalised over " + shape_str(normalized_shape), normalized_shape);
  const Tensor &gy = in.gy, &x = in.x, &mean = in.mean, &rstd = in.rstd, &w = in.w;
  NormGrads r = in.grads;
  if (x.numel() == 0) return r;
#ifdef LDAE_WITH_CUDA
  if (x.device().is_cuda()) {
    LDAE_DISPATCH(x.dtype(), T, {
      cuda::layer_norm_backward<T>(g.M, g.L, gy.device_data<T>(), x.device_data<T>(),
                                   mean.device_data<T>(), rstd.device_data<T>(),
                                   device_data_or_null<T>(w), r.gx.mutable_device_data<T>(),
                                   r.gw.mutable_device_data<T>(), r.gb.mutable_device_data<T>());
    });
    return r;
  }
#endif
  const bool reference = reference_kernels();  // see group_norm
  LDAE_DISPATCH(x.dtype(), T, {
    if (reference) {
      cpu::layer_norm_reference_backward<T>(
          g.M, g.L, gy.data<T>(), x.data<T>(), mean.data<T>(), rstd.data<T>(), data_or_null<T>(w),
          r.gx.mutable_data<T>(), r.gw.mutable_data<T>(), r.gb.mutable_data<T>());
    } else {
      cpu::layer_norm_backward<T>(g.M, g.L, gy.data<T>(), x.data<T>(), mean.data<T>(),
                                  rstd.data<T>(), data_or_null<T>(w), r.gx.mutable_data<T>(),
                                  r.gw.mutable_data<T>(), r.gb.mutable_data<T>());
    }
  });
  return r;
}

NormResult batch_norm(const Tensor& x_in, const Tensor& running_mean, const Tensor& running_var,
                      const Tensor& weight_in, const Tensor& bias_in, bool training,
                      double momentum, double eps) {
  const std::string op = "batch_norm";
  const cpu::BatchNormGeometry g = batch_geometry(op, x_in, weight_in);
  check_affine(op, "bias", bias_in, x_in, {g.C});
  check_affine(op, "running_mean", running_mean, x_in, {g.C});
  check_affine(op, "running_var", running_var, x_in, {g.C});
  check(eps >= 0, op, "eps must be >= 0, got " + std::to_string(eps));
  if (training) {
    check(g.N * g.S > 1, op,
          "expected more than 1 value per channel when training, got input of shape " +
              shape_str(x_in.shape()));
  } else {
    check(running_mean.defined() && running_var.defined(), op,
          "eval mode (training = false) needs running_mean and running_var");
  }
  const Tensor x = x_in.contiguous();
  const Tensor w = weight_in.defined() ? weight_in.contiguous() : Tensor();
  const Tensor b = bias_in.defined() ? bias_in.contiguous() : Tensor();
  // The running statistics are read (eval) or updated in place (training): a strided one is
  // updated through a contiguous copy that is copied back.
  const Tensor rm = running_mean.defined() ? running_mean.contiguous() : Tensor();
  const Tensor rv = running_var.defined() ? running_var.contiguous() : Tensor();
  NormResult r;
  r.y = Tensor::empty(x.shape(), x.dtype(), x.device());
  r.mean = Tensor::empty({g.C}, x.dtype(), x.device());
  r.rstd = Tensor::empty({g.C}, x.dtype(), x.device());
  if (x.numel() == 0) {  // C > 0 channels of no values: undefined statistics (NaN)
    r.mean.fill_(NAN);
    r.rstd.fill_(NAN);
    return r;
  }
  const bool update = training && rm.defined();
  const bool update_var = training && rv.defined();
#ifdef LDAE_WITH_CUDA
  if (x.device().is_cuda()) {  // tensor/cuda/norm.cu
    LDAE_DISPATCH(x.dtype(), T, {
      // In eval the kernel only reads the running statistics (no version bump).
      T* rm_p = update ? rm.mutable_device_data<T>()
                       : (training ? nullptr : const_cast<T*>(rm.device_data<T>()));
      T* rv_p = update_var ? rv.mutable_device_data<T>()
                           : (training ? nullptr : const_cast<T*>(rv.device_data<T>()));
      cuda::batch_norm_forward<T>(g, x.device_data<T>(), device_data_or_null<T>(w),
                                  device_data_or_null<T>(b), rm_p, rv_p, training, momentum, eps,
                                  r.y.mutable_device_data<T>(), r.mean.mutable_device_data<T>(),
                                  r.rstd.mutable_device_data<T>());
    });
  } else
#endif
  {
    // CPU: the fast kernels, or the plain loops when reference kernels are on (tensor/kernels.h).
    const bool reference = reference_kernels();
    LDAE_DISPATCH(x.dtype(), T, {
      T* rm_p = update ? rm.mutable_data<T>() : (training ? nullptr : const_cast<T*>(rm.data<T>()));
      T* rv_p = update_var ? rv.mutable_data<T>()
                           : (training ? nullptr : const_cast<T*>(rv.data<T>()));
      auto kernel = reference ? cpu::batch_norm_reference_forward<T> : cpu::batch_norm_forward<T>;
      kernel(g, x.data<T>(), data_or_null<T>(w), data_or_null<T>(b), rm_p, rv_p, training,
             momentum, eps, r.y.mutable_data<T>(), r.mean.mutable_data<T>(),
             r.rstd.mutable_data<T>());
    });
  }
  // (Tensor is a handle: writing through a copy of it writes the caller's storage.)
  if (update && !running_mean.is_contiguous()) Tensor(running_mean).copy_(rm);
  if (update_var && !running_var.is_contiguous()) Tensor(running_var).copy_(rv);
  return r;
}

NormGrads batch_norm_backward(const Tensor& gy_in, const Tensor& x_in, const Tensor& mean_in,
                              const Tensor& rstd_in, const Tensor& weight_in, bool training) {
  const std::string op = "batch_norm_backward";
  const cpu::BatchNormGeometry g = batch_geometry(op, x_in, weight_in);
  const BackwardPass in = prepare_backward(op, gy_in, x_in, mean_in, rstd_in, weight_in, g.C, "", {g.C});
  const Tensor &gy = in.gy, &x = in.x, &mean = in.mean, &rstd = in.rstd, &w = in.w;
  NormGrads r = in.grads;
  if (x.numel() == 0) return r;
#ifdef LDAE_WITH_CUDA
  if (x.device().is_cuda()) {
    LDAE_DISPATCH(x.dtype(), T, {
      cuda::batch_norm_backward<T>(g, gy.device_data<T>(), x.device_data<T>(),
                                   mean.device_data<T>(), rstd.device_data<T>(),
                                   device_data_or_null<T>(w), training,
                                   r.gx.mutable_device_data<T>(), r.gw.mutable_device_data<T>(),
                                   r.gb.mutable_device_data<T>());
    });
    return r;
  }
#endif
  const bool reference = reference_kernels();  // see group_norm
  LDAE_DISPATCH(x.dtype(), T, {
    auto kernel = reference ? cpu::batch_norm_reference_backward<T> : cpu::batch_norm_backward<T>;
    kernel(g, gy.data<T>(), x.data<T>(), mean.data<T>(), rstd.data<T>(), data_or_null<T>(w),
           training, r.gx.mutable_data<T>(), r.gw.mutable_data<T>(), r.gb.mutable_data<T>());
  });
  return r;
}

}  // namespace ldae
