// Average pooling and interpolation: checks, output sizes and dtype dispatch. The loops
// are in tensor/cpu/resample.cpp. Sizes follow PyTorch: avg_pool3d without padding gives
// floor((in - k) / s) + 1 per axis; interpolate with a scale factor gives floor(in * scale).
#include "tensor/cpu/resample.h"

#include <cmath>

#include "tensor/ops.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/resample.h"
#endif

namespace ldae {

namespace {

std::string list_str(const std::vector<int64_t>& v) {
  return shape_str(v);
}

std::string list_str(const std::vector<double>& v) {
  std::string s = "(";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) s += ", ";
    std::string num = std::to_string(v[i]);
    num.erase(num.find_last_not_of('0') + 1);  // 2.000000 -> 2.
    if (num.back() == '.') num.pop_back();     // 2. -> 2
    s += num;
  }
  return s + ")";
}

void check_cpu_input(const std::string& op, const Tensor& t) {
  check_plain_input(op, t);
#ifndef LDAE_WITH_CUDA
  check(t.device().is_cpu(), op,
        "tensor on " + t.device().str() + " but the CUDA backend is not built into this program");
#endif
}

// ---- avg_pool3d ----

struct PoolGeometry {
  int64_t P = 0;  // N * C planes
  cpu::Dims3 in{}, out{}, kernel{}, stride{};
  Shape out_shape;
};

PoolGeometry pool_geometry(const std::string& op, const Shape& x_shape,
                           const std::vector<int64_t>& kernel,
                           const std::vector<int64_t>& stride_in) {
  check(x_shape.size() == 5, op, "x must be (N, C, D, H, W), got shape " + shape_str(x_shape));
  // An empty stride means stride = kernel (PyTorch's default).
  const std::vector<int64_t> stride = stride_in.empty() ? kernel : stride_in;
  check(kernel.size() == 3 && stride.size() == 3, op,
        "kernel " + list_str(kernel) + " and stride " + list_str(stride) +
            " need 3 entries each (D, H, W)");
  PoolGeometry g;
  g.P = x_shape[0] * x_shape[1];
  g.out_shape = {x_shape[0], x_shape[1]};
  for (int a = 0; a < 3; ++a) {
    check(kernel[a] > 0 && stride[a] > 0, op,
          "kernel " + list_str(kernel) + " and stride " + list_str(stride) + " must be positive");
    const int64_t in = x_shape[2 + a];
    check(in >= kernel[a], op,
          "input " + shape_str(x_shape) + " is smaller than the kernel " + list_str(kernel));
    g.in[a] = in;
    g.kernel[a] = kernel[a];
    g.stride[a] = stride[a];
    g.out[a] = (in - kernel[a]) / stride[a] + 1;
    g.out_shape.push_back(g.out[a]);
  }
  return g;
}

// ---- interpolate ----

struct ResampleGeometry {
  int64_t P = 0;
  cpu::Dims3 in{1, 1, 1}, out{1, 1, 1};
  std::array<double, 3> scale{1, 1, 1};
  bool linear = false;
  Shape out_shape;
};

ResampleGeometry resample_geometry(const std::string& op, const Shape& x_shape,
                                   const std::vector<double>& scale, const std::string& mode) {
  const int64_t spatial = static_cast<int64_t>(x_shape.size()) - 2;
  check(spatial >= 1 && spatial <= 3, op,
        "x must be (N, C, spatial...) with 1 to 3 spatial axes, got shape " + shape_str(x_shape));
  check(
      static_cast<int64_t>(scale.size()) == spatial, op,
      "scale " + list_str(scale) + " needs one factor per spatial axis of x " + shape_str(x_shape));
  // PyTorch names the linear mode after the number of spatial axes.
  static const char* kLinearName[] = {"", "linear", "bilinear", "trilinear"};
  const std::string linear_name = kLinearName[spatial];
  check(mode == "nearest" || mode == linear_name, op,
        "mode \"" + mode + "\" for x " + shape_str(x_shape) + ": expected \"nearest\" or \"" +
            linear_name + "\"");
  ResampleGeometry g;
  g.linear = mode != "nearest";
  g.P = x_shape[0] * x_shape[1];
  g.out_shape = {x_shape[0], x_shape[1]};
  // Spatial axes fill (D, H, W) from the right; missing ones have size 1 and scale 1.
  for (int64_t a = 0; a < spatial; ++a) {
    const int64_t axis = 3 - spatial + a;
    const int64_t in = x_shape[2 + a];
    check(scale[a] > 0 && std::isfinite(scale[a]), op,
          "scale " + list_str(scale) + " must be positive and finite");
    const int64_t out = static_cast<int64_t>(std::floor(static_cast<double>(in) * scale[a]));
    check(in > 0 && out > 0, op,
          "input " + shape_str(x_shape) + " with scale " + list_str(scale) +
              " gives an empty output");
    g.in[axis] = in;
    g.out[axis] = out;
    g.scale[axis] = scale[a];
    g.out_shape.push_back(out);
  }
  return g;
}

template <typename T>
std::array<cpu::AxisMap<T>, 3> axis_maps(const ResampleGeometry& g) {
  std::array<cpu::AxisMap<T>, 3> maps;
  for (int a = 0; a < 3; ++a)
    maps[a] = g.linear ? cpu::linear_axis_map<T>(g.in[a], g.out[a], g.scale[a])
                       : cpu::nearest_axis_map<T>(g.in[a], g.out[a], g.scale[a]);
  return maps;
}

template <typename T>
void interpolate_forward_typed(const ResampleGeometry& g, const Tensor& x, Tensor& y) {
#ifdef LDAE_WITH_CUDA
  if (x.device().is_cuda())  // tensor/cuda/resample.cu, with the same axis maps
    return cuda::resample_forward<T>(g.P, g.in, g.out, axis_maps<T>(g), g.linear,
                                     x.device_data<T>(), y.mutable_device_data<T>());
#endif
  cpu::resample_forward<T>(g.P, g.in, g.out, axis_maps<T>(g), g.linear, x.data<T>(), y.mutable_data<T>());
}

template <typename T>
void interpolate_backward_typed(const ResampleGeometry& g, const Tensor& gy, Tensor& gx) {
#ifdef LDAE_WITH_CUDA
  if (gy.device().is_cuda())
    return cuda::resample_backward<T>(g.P, g.in, g.out, axis_maps<T>(g), g.linear,
                                      gy.device_data<T>(), gx.mutable_device_data<T>());
#endif
  cpu::resample_backward<T>(g.P, g.in, g.out, axis_maps<T>(g), g.linear, gy.data<T>(),
                            gx.mutable_data<T>());
}

}  // namespace

Tensor avg_pool3d(const Tensor& x_in, const std::vector<int64_t>& kernel,
                  const std::vector<int64_t>& stride) {
  const std::string op = "avg_pool3d";
  check_cpu_input(op, x_in);
  const PoolGeometry g = pool_geometry(op, x_in.shape(), kernel, stride);
  const Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(g.out_shape, x.dtype(), x.device());
  if (y.numel() == 0) return y;
#ifdef LDAE_WITH_CUDA
  if (x.device().is_cuda()) {  // tensor/cuda/resample.cu
    LDAE_DISPATCH(x.dtype(), T, {
      cuda::avg_pool3d_forward<T>(g.P, g.in, g.out, g.kernel, g.stride, x.device_data<T>(),
                                  y.mutable_device_data<T>());
    });
    return y;
  }
#endif
  LDAE_DISPATCH(x.dtype(), T, {
    cpu::avg_pool3d_forward<T>(g.P, g.in, g.out, g.kernel, g.stride, x.data<T>(), y.mutable_data<T>());
  });
  return y;
}

Tensor avg_pool3d_backward(const Tensor& gy_in, const Shape& x_shape,
                           const std::vector<int64_t>& kernel, const std::vector<int64_t>& stride) {
  const std::string op = "avg_pool3d_backward";
  check_cpu_input(op, gy_in);
  const PoolGeometry g = pool_geometry(op, x_shape, kernel, stride);
  check(gy_in.shape() == g.out_shape, op,
        "gy shape " + shape_str(gy_in.shape()) + " differs from the output shape " +
            shape_str(g.out_shape) + " of x " + shape_str(x_shape));
  const Tensor gy = gy_in.contiguous();
  Tensor gx = Tensor::zeros(x_shape, gy.dtype(), gy.device());
  if (gy.numel() == 0) return gx;
#ifdef LDAE_WITH_CUDA
  if (gy.device().is_cuda()) {
    LDAE_DISPATCH(gy.dtype(), T, {
      cuda::avg_pool3d_backward<T>(g.P, g.in, g.out, g.kernel, g.stride, gy.device_data<T>(),
                                   gx.mutable_device_data<T>());
    });
    return gx;
  }
#endif
  LDAE_DISPATCH(gy.dtype(), T, {
    cpu::avg_pool3d_backward<T>(g.P, g.in, g.out, g.kernel, g.stride, gy.data<T>(), gx.mutable_data<T>());
  });
  return gx;
}

Tensor interpolate(const Tensor& x_in, const std::vector<double>& scale, const std::string& mode) {
  const std::string op = "interpolate";
  check_cpu_input(op, x_in);
  const ResampleGeometry g = resample_geometry(op, x_in.shape(), scale, mode);
  const Tensor x = x_in.contiguous();
  Tensor y = Tensor::empty(g.out_shape, x.dtype(), x.device());
  if (y.numel() == 0) return y;
  LDAE_DISPATCH(x.dtype(), T, { interpolate_forward_typed<T>(g, x, y); });
  return y;
}

Tensor interpolate_backward(const Tensor& gy_in, const Shape& x_shape,
                            const std::vector<double>& scale, const std::string& mode) {
  const std::string op = "interpolate_backward";
  check_cpu_input(op, gy_in);
  const ResampleGeometry g = resample_geometry(op, x_shape, scale, mode);
  check(gy_in.shape() == g.out_shape, op,
        "gy shape " + shape_str(gy_in.shape()) + " differs from the output shape " +
            shape_str(g.out_shape) + " of x " + shape_str(x_shape));
  const Tensor gy = gy_in.contiguous();
  Tensor gx = Tensor::zeros(x_shape, gy.dtype(), gy.device());
  if (gy.numel() == 0) return gx;
  LDAE_DISPATCH(gy.dtype(), T, { interpolate_backward_typed<T>(g, gy, gx); });
  return gx;
}

}  // namespace ldae
