// The tensor library's ops: plain free functions that compute values (no autograd;
// see autograd/functions.h for the differentiable versions with the same names).
// Each function checks its inputs, throws ldae::Error naming the op and the shapes on
// misuse, and dispatches to the CPU kernel (tensor/cpu/) or, when built, the CUDA one.
// Outputs are new contiguous tensors unless stated otherwise.
#pragma once
#include <array>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ldae {

// ---- Elementwise: binary with NumPy broadcasting (tensor/elementwise.cpp) ----------
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor maximum(const Tensor& a, const Tensor& b);
// a + alpha * b, the one fused binary the optimizers and backward formulas need.
Tensor add_scaled(const Tensor& a, const Tensor& b, double alpha);

// ---- Elementwise: with a scalar ------------------------------------------------------
Tensor add_scalar(const Tensor& a, double s);  // a + s
Tensor mul_scalar(const Tensor& a, double s);  // a * s
Tensor pow_scalar(const Tensor& a, double exponent);
Tensor clamp(const Tensor& a, double lo, double hi);

// ---- Elementwise: unary ----------------------------------------------------------------
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor sign(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor leaky_relu(const Tensor& a, double negative_slope);
Tensor silu(const Tensor& a);
// approximate: "none" (exact, erf) or "tanh".
Tensor gelu(const Tensor& a, const std::string& approximate = "none");

// Derivatives of the activations, given the input x and upstream gradient g
// (used by autograd; kept here because the CUDA backend needs the same kernels).
Tensor tanh_backward(const Tensor& y, const Tensor& g);  // y = tanh(x)
Tensor sigmoid_backward(const Tensor& y, const Tensor& g);  // y = sigmoid(x)
Tensor relu_backward(const Tensor& x, const Tensor& g);
Tensor leaky_relu_backward(const Tensor& x, const Tensor& g, double negative_slope);
Tensor silu_backward(const Tensor& x, const Tensor& g);
Tensor gelu_backward(const Tensor& x, const Tensor& g, const std::string& approximate);

// ---- Reductions (tensor/reduce.cpp) ------------------------------------------------------
// `dims` empty = all axes. keepdim keeps reduced axes with size 1.
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor amax(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);
// Sums `a` over the axes that broadcasting added or expanded, so that the result has
// `shape` (which must broadcast to a.shape()). The backward of every broadcast op.
Tensor sum_to(const Tensor& a, const Shape& shape);

// ---- Linear algebra (tensor/matmul.cpp) ----------------------------------------------------
// a: (..., n, k), b: (..., k, m) -> (..., n, m); batch axes broadcast. Both at least 2-d.
Tensor matmul(const Tensor& a, const Tensor& b);
// x: (..., in), weight: (out, in), bias: (out) or undefined -> (..., out).
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias);

// ---- Softmax (tensor/softmax.cpp) --------------------------------------------------------------
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);
// Given y = softmax(x) and g = dL/dy: dL/dx = y * (g - sum(g * y, dim)).
Tensor softmax_backward(const Tensor& y, const Tensor& g, int64_t dim);
// Given y = log_softmax(x) and g: dL/dx = g - exp(y) * sum(g, dim).
Tensor log_softmax_backward(const Tensor& y, const Tensor& g, int64_t dim);

// ---- Convolution (tensor/conv.cpp, kernels in tensor/cpu/conv.cpp) --------------------------
// On the CPU, set_reference_kernels(true) (tensor/kernels.h) runs the plain loops of
// tensor/cpu/conv_reference.cpp instead of the fast kernels.
// x: (N, Cin, H, W) or (N, Cin, D, H, W); w: (Cout, Cin/groups, k...); bias (Cout) or
// undefined. stride/padding/dilation have one entry per spatial axis.
struct ConvParams {
  std::vector<int64_t> stride, padding, dilation;
  int64_t groups = 1;
};
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p);
Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p);
// Gradients of a conv2d/conv3d (spatial rank from x.dim()). Undefined outputs are skipped:
// pass want_* = false for the ones not needed.
struct ConvGrads {
  Tensor gx, gw, gb;
};
ConvGrads conv_backward(const Tensor& gy, const Tensor& x, const Tensor& w, const ConvParams& p,
                        bool want_gx, bool want_gw, bool want_gb);

// ---- Pooling and resampling (tensor/resample.cpp) ------------------------------------------------
// x: (N, C, D, H, W); non-overlapping or overlapping windows, no padding. kernel and
// stride: 3 entries (D, H, W); an empty stride means stride = kernel. Output size per
// axis floor((in - k) / s) + 1, as PyTorch.
Tensor avg_pool3d(const Tensor& x, const std::vector<int64_t>& kernel,
                  const std::vector<int64_t>& stride);
Tensor avg_pool3d_backward(const Tensor& gy, const Shape& x_shape, const std::vector<int64_t>& kernel,
                           const std::vector<int64_t>& stride);
// x: (N, C, spatial...) with 1 to 3 spatial axes; scale: one factor per spatial axis;
// mode "nearest" (PyTorch's legacy nearest: src = min(floor(dst / scale), in - 1)) or the
// linear mode named after the spatial rank, "linear", "bilinear" or "trilinear"
// (align_corners = false: src = max((dst + 0.5) / scale - 0.5, 0)), as PyTorch's
// F.interpolate(x, scale_factor=scale). Output size along an axis = floor(in * scale).
Tensor interpolate(const Tensor& x, const std::vector<double>& scale, const std::string& mode);
Tensor interpolate_backward(const Tensor& gy, const Shape& x_shape, const std::vector<double>& scale,
                            const std::string& mode);
// Constant padding; `pad` in PyTorch's order (last axis first: lo, hi, then the axis
// before ...). Negative entries crop. The backward is pad(g, -pad).
Tensor pad(const Tensor& x, const std::vector<int64_t>& pad, double value = 0.0);

// ---- Normalisation (tensor/norm.cpp) ---------------------------------------------------------------
// Group norm: x (N, C, ...), C divisible by groups; weight/bias (C) or undefined.
// Returns y and the per-(N, group) mean and 1/std (shape (N, groups)) that the backward
// needs. Kernels in tensor/cpu/norm.cpp.
struct NormResult {
  Tensor y, mean, rstd;
};
NormResult group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                      double eps);
// gx, and gw, gb: the gradients of weight and bias (always computed, even when weight
// was undefined, as the gradients of a weight of ones and a bias of zeros).
struct NormGrads {
  Tensor gx, gw, gb;
};
NormGrads group_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& mean,
                              const Tensor& rstd, int64_t groups, const Tensor& weight);
// Layer norm over the last normalized_shape.size() axes; weight/bias of that shape or
// undefined. mean/rstd have x's shape with the normalised axes set to 1.
NormResult layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                      const Tensor& bias, double eps);
NormGrads layer_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& mean,
                              const Tensor& rstd, const Shape& normalized_shape,
                              const Tensor& weight);
// Batch norm, PyTorch's F.batch_norm: x (N, C, ...); running_mean, running_var, weight,
// bias (C) or undefined. training: normalise with the batch mean and biased variance over
// (N, spatial) (needs more than one value per channel); running statistics, when given,
// are updated in place: r = (1 - momentum) r + momentum s, with the unbiased variance
// for running_var. eval: normalise with the running statistics (both required).
// mean and rstd of the result are (C): what normalised x (copies in eval).
NormResult batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                      const Tensor& weight, const Tensor& bias, bool training,
                      double momentum = 0.1, double eps = 1e-5);
// training: the gradient through the batch statistics; eval: the per-channel affine map
// gx = gy rstd w. gw, gb always computed (as for group_norm).
NormGrads batch_norm_backward(const Tensor& gy, const Tensor& x, const Tensor& mean,
                              const Tensor& rstd, const Tensor& weight, bool training);

// ---- Joining (tensor/join.cpp) -------------------------------------------------------------------
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);

// ---- Attention (tensor/attention.cpp) --------------------------------------------------------------
// q: (..., Lq, d), k: (..., Lk, d), v: (..., Lk, dv) -> softmax(q kᵀ * scale) v: (..., Lq, dv).
// scale <= 0 means 1/sqrt(d).
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    double scale = 0.0);
// The pieces of scaled_dot_product_attention, for its backward (autograd/attention.cpp):
// throws Error("scaled_dot_product_attention: ...") naming the shapes unless q, k, v fit;
void check_attention_inputs(const Tensor& q, const Tensor& k, const Tensor& v);
// the scale actually used (scale <= 0: 1/sqrt(d), d = q.size(-1));
double attention_scale(const Tensor& q, double scale);
// the attention weights softmax(q kᵀ * scale) along the last axis: (..., Lq, Lk);
Tensor attention_weights(const Tensor& q, const Tensor& k, double scale = 0.0);
// how many query rows one chunk holds so that its weights fit the attention budget
// (tensor/kernels.h): Lq when the whole matrix fits, else at least 1.
int64_t attention_query_chunk(const Tensor& q, const Tensor& k, const Tensor& v);

// ---- Losses (tensor/loss.cpp) --------------------------------------------------------------------
// reduction: "mean", "sum" or "none".
Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const std::string& reduction = "mean");

}  // namespace ldae
