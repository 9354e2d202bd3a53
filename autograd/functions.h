// The differentiable ops: the same names and arguments as the plain ops of
// tensor/ops.h, but each records a graph node when an input requires grad, so that
// ag::backward can compute gradients. Backward formulas live next to their forwards,
// one family per file (elementwise.cpp, reduce.cpp, linalg.cpp, ...).
#pragma once
#include <string>
#include <vector>

#include "tensor/ops.h"

namespace ldae::ag {

// ---- Elementwise (autograd/elementwise.cpp) ----
Tensor add(const Tensor& a, const Tensor& b);
Tensor sub(const Tensor& a, const Tensor& b);
Tensor mul(const Tensor& a, const Tensor& b);
Tensor div(const Tensor& a, const Tensor& b);
Tensor add_scalar(const Tensor& a, double s);
Tensor mul_scalar(const Tensor& a, double s);
Tensor pow(const Tensor& a, double exponent);
Tensor neg(const Tensor& a);
Tensor exp(const Tensor& a);
Tensor log(const Tensor& a);
Tensor sqrt(const Tensor& a);
Tensor abs(const Tensor& a);
Tensor tanh(const Tensor& a);
Tensor sigmoid(const Tensor& a);
Tensor relu(const Tensor& a);
Tensor leaky_relu(const Tensor& a, double negative_slope = 0.01);
Tensor silu(const Tensor& a);
Tensor gelu(const Tensor& a, const std::string& approximate = "none");
Tensor clamp(const Tensor& a, double lo, double hi);  // gradient 1 inside, 0 outside

// ---- Reductions (autograd/reduce.cpp) ----
Tensor sum(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor mean(const Tensor& a, const std::vector<int64_t>& dims = {}, bool keepdim = false);
Tensor logsumexp(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim = false);

// ---- Linear algebra (autograd/linalg.cpp) ----
Tensor matmul(const Tensor& a, const Tensor& b);
Tensor linear(const Tensor& x, const Tensor& weight, const Tensor& bias = Tensor());

// ---- Softmax (autograd/softmax.cpp) ----
Tensor softmax(const Tensor& a, int64_t dim);
Tensor log_softmax(const Tensor& a, int64_t dim);

// ---- Shape and views (autograd/shape.cpp) ----
Tensor reshape(const Tensor& a, const Shape& shape);
Tensor permute(const Tensor& a, const std::vector<int64_t>& dims);
Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1);
Tensor slice(const Tensor& a, int64_t axis, int64_t start, int64_t end, int64_t step = 1);
Tensor expand(const Tensor& a, const Shape& shape);
Tensor unsqueeze(const Tensor& a, int64_t axis);
Tensor squeeze(const Tensor& a, int64_t axis);
Tensor contiguous(const Tensor& a);
Tensor cat(const std::vector<Tensor>& tensors, int64_t dim);
Tensor pad(const Tensor& x, const std::vector<int64_t>& pad, double value = 0.0);

// ---- Convolution (autograd/conv.cpp) ----
Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p);
Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p);

// ---- Pooling and resampling (autograd/resample.cpp) ----
Tensor avg_pool3d(const Tensor& x, const std::vector<int64_t>& kernel,
                  const std::vector<int64_t>& stride);
Tensor interpolate(const Tensor& x, const std::vector<double>& scale, const std::string& mode);

// ---- Normalisation (autograd/norm.cpp) ----
Tensor group_norm(const Tensor& x, int64_t groups, const Tensor& weight, const Tensor& bias,
                  double eps = 1e-5);
Tensor layer_norm(const Tensor& x, const Shape& normalized_shape, const Tensor& weight,
                  const Tensor& bias, double eps = 1e-5);
// PyTorch's F.batch_norm (ldae::batch_norm in tensor/ops.h): x (N, C, ...); running
// statistics (C) or undefined, not differentiable (they must not require grad) and updated
// in place in training; weight, bias (C) or undefined. Differentiable in x, weight, bias.
Tensor batch_norm(const Tensor& x, const Tensor& running_mean, const Tensor& running_var,
                  const Tensor& weight, const Tensor& bias, bool training, double momentum = 0.1,
                  double eps = 1e-5);

// ---- Attention (autograd/attention.cpp) ----
Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    double scale = 0.0);

// ---- Losses (autograd/loss.cpp) ----
Tensor mse_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
Tensor l1_loss(const Tensor& input, const Tensor& target, const std::string& reduction = "mean");
Tensor binary_cross_entropy_with_logits(const Tensor& logits, const Tensor& target,
                                        const std::string& reduction = "mean");

}  // namespace ldae::ag

namespace ldae {

// Arithmetic operators record the graph (they call the ag:: ops).
inline Tensor operator+(const Tensor& a, const Tensor& b) { return ag::add(a, b); }
inline Tensor operator-(const Tensor& a, const Tensor& b) { return ag::sub(a, b); }
inline Tensor operator*(const Tensor& a, const Tensor& b) { return ag::mul(a, b); }
inline Tensor operator/(const Tensor& a, const Tensor& b) { return ag::div(a, b); }
inline Tensor operator-(const Tensor& a) { return ag::neg(a); }
inline Tensor operator+(const Tensor& a, double s) { return ag::add_scalar(a, s); }
inline Tensor operator-(const Tensor& a, double s) { return ag::add_scalar(a, -s); }
inline Tensor operator*(const Tensor& a, double s) { return ag::mul_scalar(a, s); }
inline Tensor operator*(double s, const Tensor& a) { return ag::mul_scalar(a, s); }
inline Tensor operator/(const Tensor& a, double s) { return ag::mul_scalar(a, 1.0 / s); }

}  // namespace ldae
