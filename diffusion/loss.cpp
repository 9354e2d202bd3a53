#include "diffusion/loss.h"

#include "autograd/functions.h"
#include "diffusion/forward.h"

namespace ldae::diffusion {

Tensor eps_mse_loss(const Tensor& eps_pred, const Tensor& eps) {
  check(eps_pred.shape() == eps.shape(), "eps_mse_loss",
        "prediction " + shape_str(eps_pred.shape()) + " and noise " + shape_str(eps.shape()) + " differ");
  return ag::mse_loss(eps_pred, eps);
}

Tensor pdae_loss(const Schedule& s, const std::vector<int64_t>& t, const Tensor& eps,
                 const Tensor& eps_theta, const Tensor& shift, double gamma, bool weighted) {
  check(eps.shape() == eps_theta.shape() && eps.shape() == shift.shape(), "pdae_loss",
        "eps " + shape_str(eps.shape()) + ", eps_theta " + shape_str(eps_theta.shape()) + " and shift " +
            shape_str(shift.shape()) + " must have one shape");
  check(eps.dim() >= 1 && eps.size(0) == static_cast<int64_t>(t.size()), "pdae_loss",
        "eps " + shape_str(eps.shape()) + " needs one timestep per sample, got " + std::to_string(t.size()));
  std::vector<double> k(t.size()), w(t.size());
  for (size_t i = 0; i < t.size(); ++i) {
    k[i] = s.pdae_shift_coef(t[i]);
    w[i] = weighted ? s.pdae_loss_weight(t[i], gamma) : 1.0;
  }
  const Tensor residual = ag::sub(eps, ag::add(eps_theta, ag::mul(shift, per_sample(k, eps))));
  return ag::mean(ag::mul(ag::pow(residual, 2.0), per_sample(w, eps)));
}

}  // namespace ldae::diffusion
