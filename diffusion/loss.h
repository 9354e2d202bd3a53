// Training losses of the diffusion stages.
#pragma once
#include <cstdint>
#include <vector>

#include "diffusion/schedule.h"
#include "tensor/tensor.h"

namespace ldae::diffusion {

// Stage 2 (ldae-reference 4.2): unweighted MSE between the true noise and the
// prediction, averaged over all elements. Differentiable.
Tensor eps_mse_loss(const Tensor& eps_pred, const Tensor& eps);

// Stage 3 (ldae-reference 5.3), the PDAE objective:
//   mean over all elements of  w_t * (eps - (eps_theta + k_t * shift))^2
// with k_t = s.pdae_shift_coef(t) and w_t = s.pdae_loss_weight(t, gamma) per sample, or
// w_t = 1 when weighted is false. eps, eps_theta, shift: (N, ...) of one shape; t: N
// timesteps. Differentiable (in practice in `shift`: eps_theta comes from a frozen net).
Tensor pdae_loss(const Schedule& s, const std::vector<int64_t>& t, const Tensor& eps,
                 const Tensor& eps_theta, const Tensor& shift, double gamma = 0.1, bool weighted = true);

}  // namespace ldae::diffusion
