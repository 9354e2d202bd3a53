#include "diffusion/forward.h"

#include <algorithm>
#include <cmath>

#include "autograd/functions.h"

namespace ldae::diffusion {

namespace {

void check_batch(const std::string& op, const Tensor& x, const std::vector<int64_t>& t) {
  check(x.dim() >= 1 && x.size(0) == static_cast<int64_t>(t.size()), op,
        "x " + shape_str(x.shape()) + " needs one timestep per sample, got " + std::to_string(t.size()));
}

}  // namespace

std::vector<int64_t> sample_timesteps(int64_t n, int64_t T, Generator& gen) {
  check(n >= 0 && T >= 1, "sample_timesteps", "needs n >= 0 and T >= 1");
  const std::vector<double> u = rand({n}, gen, DType::F64).to_vector();  // in (0, 1]
  std::vector<int64_t> t(static_cast<size_t>(n));
  for (size_t i = 0; i < t.size(); ++i)
    t[i] = std::min<int64_t>(T - 1, static_cast<int64_t>(std::floor(u[i] * static_cast<double>(T))));
  return t;
}

Tensor timestep_tensor(const std::vector<int64_t>& t, Device device) {
  const std::vector<double> v(t.begin(), t.end());
  return Tensor::from_vector(v, {static_cast<int64_t>(t.size())}, DType::F32).to(device);
}

Tensor per_sample(const std::vector<double>& values, const Tensor& like) {
  Shape shape(static_cast<size_t>(std::max<int64_t>(like.dim(), 1)), 1);
  shape[0] = static_cast<int64_t>(values.size());
  return Tensor::from_vector(values, shape, like.dtype()).to(like.device());  // on like's device
}

Tensor q_sample(const Schedule& s, const Tensor& x0, const std::vector<int64_t>& t, const Tensor& eps) {
  check_batch("q_sample", x0, t);
  check(eps.shape() == x0.shape(), "q_sample",
        "eps " + shape_str(eps.shape()) + " differs from x0 " + shape_str(x0.shape()));
  std::vector<double> a(t.size()), b(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    a[i] = std::sqrt(s.alpha_bar(t[i]));
    b[i] = std::sqrt(1.0 - s.alpha_bar(t[i]));
  }
  return ag::add(ag::mul(x0, per_sample(a, x0)), ag::mul(eps, per_sample(b, x0)));
}

Tensor predict_x0(const Schedule& s, const Tensor& x_t, const std::vector<int64_t>& t, const Tensor& eps_hat) {
  check_batch("predict_x0", x_t, t);
  check(eps_hat.shape() == x_t.shape(), "predict_x0",
        "eps " + shape_str(eps_hat.shape()) + " differs from x_t " + shape_str(x_t.shape()));
  std::vector<double> a(t.size()), b(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    a[i] = std::sqrt(1.0 / s.alpha_bar(t[i]));
    b[i] = std::sqrt(1.0 / s.alpha_bar(t[i]) - 1.0);
  }
  return ag::sub(ag::mul(x_t, per_sample(a, x_t)), ag::mul(eps_hat, per_sample(b, x_t)));
}

}  // namespace ldae::diffusion
