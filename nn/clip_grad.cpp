#include "nn/clip_grad.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/no_grad.h"
#include "nn/optimizer.h"
#include "tensor/ops.h"

namespace ldae::nn {

namespace {

// Sum of g[i]^2 in double. Fixed chunks reduced in parallel, then joined in chunk
// order: the result does not depend on thread timing (exact resume needs that).
template <typename T>
double sum_of_squares(const T* g, int64_t n) {
  const int64_t chunk = 65536;
  const int64_t chunks = std::max<int64_t>(1, (n + chunk - 1) / chunk);
  std::vector<double> partial(chunks, 0.0);
#pragma omp parallel for schedule(static) if (chunks > 1)
  for (int64_t c = 0; c < chunks; ++c) {
    double s = 0;
    const int64_t end = std::min(n, (c + 1) * chunk);
    for (int64_t i = c * chunk; i < end; ++i) s += static_cast<double>(g[i]) * static_cast<double>(g[i]);
    partial[c] = s;
  }
  double total = 0;
  for (double s : partial) total += s;
  return total;
}

template <typename T>
void scale_in_place(T* g, int64_t n, T c) {
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) g[i] *= c;
}

}  // namespace

double grad_norm(const std::vector<Tensor>& params) {
  double total = 0;
  for (const Tensor& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    const Tensor g = p.grad().contiguous();
    if (g.device().is_cuda()) {  // on the GPU: squares and their (fixed-order) sum in double
      const Tensor g64 = g.to(DType::F64);
      total += sum(mul(g64, g64)).item();
      continue;
    }
    check(g.device().is_cpu(), "grad_norm", "CUDA backend is not built into this program");
    LDAE_DISPATCH(g.dtype(), T, { total += sum_of_squares<T>(g.data<T>(), g.numel()); });
  }
  return std::sqrt(total);
}

double clip_grad_norm(const std::vector<Tensor>& params, double max_norm) {
  check(max_norm > 0, "clip_grad_norm", "max_norm must be positive, got " + std::to_string(max_norm));
  const double norm = grad_norm(params);
  if (!std::isfinite(norm)) return norm;
  const double coef = max_norm / (norm + 1e-6);
  if (coef >= 1.0) return norm;  // PyTorch multiplies by clamp(coef, max=1): a no-op here
  NoGrad no_grad;
  for (const Tensor& p : params) {
    if (!p.defined() || !p.grad().defined()) continue;
    Tensor g = p.grad();
    if (!g.is_contiguous()) {  // scale a contiguous copy and install it
      g = g.contiguous().clone();
      p.set_grad(g);
    }
    if (g.device().is_cuda()) {
      g.copy_(mul_scalar(g, coef));  // the same g * T(coef), on the GPU
    } else {
      LDAE_DISPATCH(g.dtype(), T, { scale_in_place<T>(g.mutable_data<T>(), g.numel(), static_cast<T>(coef)); });
    }
    mark_modified(g);
  }
  return norm;
}

}  // namespace ldae::nn
