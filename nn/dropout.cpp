#include "nn/dropout.h"

#include "autograd/functions.h"
#include "autograd/no_grad.h"

namespace ldae::nn {

namespace {

// u holds uniform draws in (0, 1]; turns each into 1/(1-p) if u > p (kept), else 0.
template <typename T>
void make_mask(Tensor& u, double p) {
  T* d = u.mutable_data<T>();
  const T keep = static_cast<T>(1.0 / (1.0 - p));
  const int64_t n = u.numel();
  for (int64_t i = 0; i < n; ++i) d[i] = static_cast<double>(d[i]) > p ? keep : T(0);
}

}  // namespace

Dropout::Dropout(double p, std::shared_ptr<Generator> gen) : p_(p), gen_(std::move(gen)) {
  check(p >= 0.0 && p < 1.0, "Dropout", "p must be in [0, 1), got " + std::to_string(p));
  check(p == 0.0 || gen_ != nullptr, "Dropout", "p > 0 needs a random generator");
}

Tensor Dropout::forward(const Tensor& x) const {
  if (!is_training() || p_ == 0.0) return x;
  Tensor mask;
  {
    NoGrad no_grad;  // the mask is a constant of the graph
    mask = rand(x.shape(), *gen_, x.dtype());  // contiguous, advances the generator
    LDAE_DISPATCH(x.dtype(), T, make_mask<T>(mask, p_));
    mask = mask.to(x.device());  // drawn on the host (the same stream on any device)
  }
  return ag::mul(x, mask);
}

}  // namespace ldae::nn
