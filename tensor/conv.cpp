// conv2d / conv3d: argument checks and dispatch to the CPU kernels of tensor/cpu/conv.cpp.
#include "tensor/cpu/conv.h"
#include "tensor/cpu/conv_reference.h"
#include "tensor/kernels.h"

#include <stdexcept>

#include "tensor/cost_counter.h"
#include "tensor/ops.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/conv.h"
#endif

namespace ldae {

namespace {

// Checks the arguments of a convolution with `spatial` spatial axes and returns its
// geometry (2D convolutions use a D axis of size 1).
cpu::ConvGeometry geometry(const std::string& op, int spatial, const Tensor& x, const Tensor& w,
                           const ConvParams& p) {
  check_plain_input(op, x);
  check_plain_input(op, w);
  check(x.device() == w.device(), op,
        "input is on " + x.device().str() + " but weight is on " + w.device().str());
#ifndef LDAE_WITH_CUDA
  check(x.device().is_cpu(), op, "CUDA backend is not built into this program");
#endif
  const int64_t nd = spatial + 2;
  check(x.dim() == nd, op,
        "input must be " + std::string(spatial == 3 ? "(N, C, D, H, W)" : "(N, C, H, W)") + ", got " +
            shape_str(x.shape()));
  check(w.dim() == nd, op, "weight must have " + std::to_string(nd) + " dimensions, got " +
                               shape_str(w.shape()));
  check(x.dtype() == w.dtype(), op, "input is " + dtype_name(x.dtype()) + " but weight is " +
                                        dtype_name(w.dtype()));
  auto param = [&](const std::vector<int64_t>& v, const char* name, int64_t fallback) {
    check(v.empty() || static_cast<int64_t>(v.size()) == spatial || v.size() == 1, op,
          std::string(name) + " needs 1 or " + std::to_string(spatial) + " entries, got " +
              std::to_string(v.size()));
    std::vector<int64_t> out(spatial, fallback);
    for (int i = 0; i < spatial; ++i)
      if (!v.empty()) out[i] = v.size() == 1 ? v[0] : v[i];
    return out;
  };
  const auto stride = param(p.stride, "stride", 1), padding = param(p.padding, "padding", 0),
             dilation = param(p.dilation, "dilation", 1);
  check(p.groups >= 1 && x.size(1) % p.groups == 0 && w.size(0) % p.groups == 0, op,
        "groups = " + std::to_string(p.groups) + " must divide input channels " +
            std::to_string(x.size(1)) + " and output channels " + std::to_string(w.size(0)));
  check(w.size(1) * p.groups == x.size(1), op,
        "weight " + shape_str(w.shape()) + " expects " + std::to_string(w.size(1) * p.groups) +
            " input channels, input " + shape_str(x.shape()) + " has " + std::to_string(x.size(1)));
  // Spatial arrays in (D, H, W) order; a 2D convolution gets a unit D axis in front.
  int64_t in[3] = {1, 1, 1}, kernel[3] = {1, 1, 1}, s[3] = {1, 1, 1}, pad[3] = {0, 0, 0},
          dil[3] = {1, 1, 1};
  const int first = 3 - spatial;
  for (int i = 0; i < spatial; ++i) {
    in[first + i] = x.size(2 + i);
    kernel[first + i] = w.size(2 + i);
    s[first + i] = stride[i];
    pad[first + i] = padding[i];
    dil[first + i] = dilation[i];
  }
  try {
    return cpu::make_conv_geometry(x.size(0), x.size(1), w.size(0), p.groups, in, kernel, s, pad, dil);
  } catch (const std::invalid_argument& e) {
    fail(op, std::string(e.what()) + " (input " + shape_str(x.shape()) + ", weight " +
                 shape_str(w.shape()) + ")");
  }
}

Shape output_shape(const cpu::ConvGeometry& g, int spatial) {
  Shape s{g.N, g.Cout};
  for (int i = 3 - spatial; i < 3; ++i) s.push_back(g.out[i]);
  return s;
}

Tensor conv(const std::string& op, int spatial, const Tensor& x_in, const Tensor& w_in,
            const Tensor& bias, const ConvParams& p) {
  const cpu::ConvGeometry g = geometry(op, spatial, x_in, w_in, p);
  if (bias.defined()) {
    check_plain_input(op, bias);
    check(bias.dim() == 1 && bias.size(0) == g.Cout && bias.dtype() == x_in.dtype(), op,
          "bias must be (" + std::to_string(g.Cout) + ",) " + dtype_name(x_in.dtype()) + ", got " +
              shape_str(bias.shape()) + " " + dtype_name(bias.dtype()));
  }
  const Tensor x = x_in.contiguous(), w = w_in.contiguous();
  const Tensor b = bias.defined() ? bias.contiguous() : Tensor();
  Tensor y = Tensor::empty(output_shape(g, spatial), x.dtype(), x.device());
  // Multiply-adds: every output value sums Cin/groups * kernel-volume products.
  cost::add_multiply_adds(static_cast<double>(y.numel()) * static_cast<double>(w.numel() / g.Cout));
  if (cost::skip_products()) return y.zero_();  // counting only (tensor/cost_counter.h)
#ifdef LDAE_WITH_CUDA
  if (x.device().is_cuda()) {  // tensor/cuda/conv.cu: chunked im2col + cuBLAS
    check(!b.defined() || b.device() == x.device(), op, "bias is on " + (b.defined() ? b.device().str() : "") +
                                                            " but input is on " + x.device().str());
    LDAE_DISPATCH(x.dtype(), T, {
      cuda::conv_forward<T>(g, x.device_data<T>(), w.device_data<T>(),
                            b.defined() ? b.device_data<T>() : nullptr, y.mutable_device_data<T>());
    });
    return y;
  }
#endif
  // CPU: the fast kernels (tensor/cpu/conv.cpp), or the plain loops when reference kernels are on
  // (tensor/kernels.h).
  const bool reference = reference_kernels();
  LDAE_DISPATCH(x.dtype(), T, {
    const T* bp = b.defined() ? b.data<T>() : nullptr;
    if (reference) {
      cpu::conv_reference_forward<T>(g, x.data<T>(), w.data<T>(), bp, y.mutable_data<T>());
    } else {
      cpu::conv_forward<T>(g, x.data<T>(), w.data<T>(), bp, y.mutable_data<T>());
    }
  });
  return y;
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p) {
  return conv("conv2d", 2, x, w, bias, p);
}

Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p) {
  return conv("conv3d", 3, x, w, bias, p);
}

ConvGrads conv_backward(const Tensor& gy_in, const Tensor& x_in, const Tensor& w_in,
                        const ConvParams& p, bool want_gx, bool want_gw, bool want_gb) {
  const int spatial = static_cast<int>(x_in.dim()) - 2;
  const std::string op = spatial == 3 ? "conv3d_backward" : "conv2d_backward";
  check(spatial == 2 || spatial == 3, "conv_backward",
        "input must be 4-d or 5-d, got " + shape_str(x_in.shape()));
  const cpu::ConvGeometry g = geometry(op, spatial, x_in, w_in, p);
  check_plain_input(op, gy_in);
  check(gy_in.shape() == output_shape(g, spatial), op,
        "gradient " + shape_str(gy_in.shape()) + " does not match the output shape " +
            shape_str(output_shape(g, spatial)));
  const Tensor gy = gy_in.contiguous(), x = x_in.contiguous(), w = w_in.contiguous();
  ConvGrads grads;
#ifdef LDAE_WITH_CUDA
  if (x.device().is_cuda()) {  // tensor/cuda/conv.cu
    check(gy.device() == x.device(), op, "gradient is on " + gy.device().str() + " but input is on " +
                                             x.device().str());
    LDAE_DISPATCH(x.dtype(), T, {
      if (want_gx) {
        grads.gx = Tensor::empty(x.shape(), x.dtype(), x.device());
        cuda::conv_backward_input<T>(g, gy.device_data<T>(), w.device_data<T>(), grads.gx.mutable_device_data<T>());
      }
      if (want_gw || want_gb) {
        grads.gw = Tensor::empty(w.shape(), w.dtype(), w.device());
        if (want_gb) grads.gb = Tensor::empty({g.Cout}, w.dtype(), w.device());
        cuda::conv_backward_weight<T>(g, gy.device_data<T>(), x.device_data<T>(), grads.gw.mutable_device_data<T>(),
                                      want_gb ? grads.gb.mutable_device_data<T>() : nullptr);
        if (!want_gw) grads.gw = Tensor();
      }
    });
    return grads;
  }
#endif
  // CPU: the fast kernels, or the plain loops when reference kernels are on (tensor/kernels.h).
  const bool reference = reference_kernels();
  LDAE_DISPATCH(x.dtype(), T, {
    if (want_gx) {
      grads.gx = Tensor::empty(x.shape(), x.dtype());
      if (reference) {
        cpu::conv_reference_backward_input<T>(g, gy.data<T>(), w.data<T>(),
                                              grads.gx.mutable_data<T>());
      } else {
        cpu::conv_backward_input<T>(g, gy.data<T>(), w.data<T>(), grads.gx.mutable_data<T>());
      }
    }
    if (want_gw || want_gb) {
      grads.gw = Tensor::empty(w.shape(), w.dtype());
      if (want_gb) grads.gb = Tensor::empty({g.Cout}, w.dtype());
      T* gbp = want_gb ? grads.gb.mutable_data<T>() : nullptr;
      if (reference) {
        cpu::conv_reference_backward_weight<T>(g, gy.data<T>(), x.data<T>(),
                                               grads.gw.mutable_data<T>(), gbp);
      } else {
        cpu::conv_backward_weight<T>(g, gy.data<T>(), x.data<T>(), grads.gw.mutable_data<T>(), gbp);
      }
      if (!want_gw) grads.gw = Tensor();
    }
  });
  return grads;
}

}  // namespace ldae
