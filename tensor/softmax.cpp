// Softmax and log-softmax along one axis, numerically stable (subtract the row max).
// The axis is moved last and made contiguous, so each row is a plain array.
#include <cmath>

#include "tensor/cpu/eigen.h"
#include "tensor/ops.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/softmax.h"
#endif

namespace ldae {

namespace {

// Returns `a` with `dim` moved to the last axis (contiguous) and the permutation that
// moves it back.
Tensor to_last_axis(const Tensor& a, int64_t dim, std::vector<int64_t>* inverse) {
  const int64_t nd = a.dim();
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < nd; ++i)
    if (i != dim) perm.push_back(i);
  perm.push_back(dim);
  inverse->assign(nd, 0);
  for (int64_t i = 0; i < nd; ++i) (*inverse)[perm[i]] = i;
  return a.permute(perm).contiguous();
}

// Calls fn(in, out_row, len) for each of `count` rows, where in[k] points at the row
// of input k (at most 2 inputs).
template <typename T, typename RowFn>
void apply_rows(const std::vector<Tensor>& rows, Tensor& out, int64_t count, int64_t len, RowFn fn) {
  T* po = out.mutable_data<T>();
  const T* p0 = rows[0].data<T>();
  const T* p1 = rows.size() > 1 ? rows[1].data<T>() : nullptr;
#pragma omp parallel for schedule(static) if (count * len > 32768)
  for (int64_t r = 0; r < count; ++r) {
    const T* in[2] = {p0 + r * len, p1 ? p1 + r * len : nullptr};
    fn(in, po + r * len, len);
  }
}

template <typename RowFn>
Tensor rowwise(const std::string& op, const std::vector<Tensor>& inputs, int64_t dim_in, RowFn fn) {
  for (const Tensor& t : inputs) {
    check_plain_input(op, t);
#ifndef LDAE_WITH_CUDA
    check(t.device().is_cpu(), op, "CUDA backend is not built into this program");
#endif
  }
  const Tensor& a = inputs[0];
  for (const Tensor& t : inputs)
    check(t.device() == a.device(), op,
          "devices " + a.device().str() + " and " + t.device().str() + " differ");
  check(a.dim() >= 1, op, "needs at least 1 dimension, got a scalar");
  for (const Tensor& t : inputs)
    check(t.shape() == a.shape() && t.dtype() == a.dtype(), op,
          "shapes/dtypes differ: " + shape_str(a.shape()) + " and " + shape_str(t.shape()));
  const int64_t dim = normalize_axis(dim_in, a.dim(), op);
  std::vector<int64_t> inverse;
  std::vector<Tensor> rows;
  for (const Tensor& t : inputs) rows.push_back(to_last_axis(t, dim, &inverse));
  const int64_t len = a.shape()[dim];
  const int64_t count = len == 0 ? 0 : a.numel() / len;
  Tensor out = Tensor::empty(rows[0].shape(), a.dtype(), a.device());
#ifdef LDAE_WITH_CUDA
  if (a.device().is_cuda()) {  // tensor/cuda/softmax.cu: the same row functions, one block per row
    cuda::softmax_rows(op, rows[0], rows.size() > 1 ? rows[1] : Tensor(), out, count, len);
    return out.permute(inverse).contiguous();
  }
#endif
  LDAE_DISPATCH(a.dtype(), T, { apply_rows<T>(rows, out, count, len, fn); });
  return out.permute(inverse).contiguous();
}


}  // namespace

// The row loops use Eigen arrays: their exp() is vectorised (AVX-512 here) and as
// accurate as std::exp to about 1 ulp, which a plain std::exp loop is not (no SIMD).
template <typename T>
using RowArray = Eigen::Map<Eigen::Array<T, Eigen::Dynamic, 1>>;
template <typename T>
using ConstRowArray = Eigen::Map<const Eigen::Array<T, Eigen::Dynamic, 1>>;

Tensor softmax(const Tensor& a, int64_t dim) {
  return rowwise("softmax", {a}, dim, [](const auto& in, auto* out, int64_t n) {
    using T = std::remove_pointer_t<decltype(out)>;
    ConstRowArray<T> x(in[0], n);
    RowArray<T> y(out, n);
    y = (x - x.maxCoeff()).exp();  // every exponent <= 0: no overflow
    y *= T(1) / y.sum();
  });
}

Tensor log_softmax(const Tensor& a, int64_t dim) {
  return rowwise("log_softmax", {a}, dim, [](const auto& in, auto* out, int64_t n) {
    using T = std::remove_pointer_t<decltype(out)>;
    ConstRowArray<T> x(in[0], n);
    RowArray<T> y(out, n);
    const T m = x.maxCoeff();
    y = x - (m + std::log((x - m).exp().sum()));
  });
}

Tensor softmax_backward(const Tensor& y, const Tensor& g, int64_t dim) {
  return rowwise("softmax_backward", {y, g}, dim, [](const auto& in, auto* out, int64_t n) {
    using T = std::remove_pointer_t<decltype(out)>;
    const T* yv = in[0];
    const T* gv = in[1];
    double dot = 0;
    for (int64_t i = 0; i < n; ++i) dot += static_cast<double>(gv[i]) * yv[i];
    for (int64_t i = 0; i < n; ++i) out[i] = yv[i] * (gv[i] - static_cast<T>(dot));
  });
}

Tensor log_softmax_backward(const Tensor& y, const Tensor& g, int64_t dim) {
  return rowwise("log_softmax_backward", {y, g}, dim, [](const auto& in, auto* out, int64_t n) {
    using T = std::remove_pointer_t<decltype(out)>;
    const T* yv = in[0];
    const T* gv = in[1];
    double total = 0;
    for (int64_t i = 0; i < n; ++i) total += gv[i];
    for (int64_t i = 0; i < n; ++i) out[i] = gv[i] - std::exp(yv[i]) * static_cast<T>(total);
  });
}

}  // namespace ldae
