#include "ldae/pdae_step.h"

#include <cmath>
#include <limits>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "diffusion/forward.h"
#include "diffusion/loss.h"
#include "tensor/ops.h"

namespace ldae::nets {

PdaePass pdae_backward(const AttentionSemanticEncoder& encoder, const ShiftUNet& net,
                       const diffusion::Schedule& s, const Tensor& slices, const Tensor& z0,
                       Generator& noise, const PdaeLossOptions& o, double scale, bool inject_nan) {
  const std::string op = "train-repr";
  check(slices.dim() == 5 && slices.size(1) == 1, op,
        "expected the images' axial slices (N, 1, S, H, W), got " + shape_str(slices.shape()));
  check(z0.dim() == 5 && z0.size(0) == slices.size(0), op,
        "expected latents (N, C, D, H, W) for the " + std::to_string(slices.size(0)) +
            " images, got " + shape_str(z0.shape()));
  check(o.noise_draws >= 1, op,
        "noise_draws must be at least 1, got " + std::to_string(o.noise_draws));
  PdaePass out;
  const Tensor y_sem = encoder.forward(slices);  // (N, E)
  // The branch's code input, once for the N scans (ShiftUNet::code_input; y_sem itself unless
  // the code is standardised), then K = noise_draws copies, draw-major: rows k*N .. k*N+N-1
  // are draw k of the N scans.
  const Tensor code = net.code_input(y_sem);     // (N, E)
  const std::vector<Tensor> y_copies(static_cast<size_t>(o.noise_draws), code);
  const std::vector<Tensor> z_copies(static_cast<size_t>(o.noise_draws), z0);
  const Tensor y = o.noise_draws == 1 ? code : ag::cat(y_copies, 0);     // (K*N, E)
  const Tensor z = o.noise_draws == 1 ? z0 : cat(z_copies, 0);           // (K*N, C, D, H, W)
  const std::vector<int64_t> t = diffusion::sample_timesteps(z.size(0), s.T(), noise);
  const Tensor eps = randn(z.shape(), noise, z.dtype(), 0.0, 1.0, z.device());
  const Tensor z_t = diffusion::q_sample(s, z, t, eps);  // (K*N, C, D, H, W)
  const auto [eps_theta, shift] = net.forward_coded(z_t, diffusion::timestep_tensor(t, z.device()), y);
  Tensor loss = diffusion::pdae_loss(s, t, eps, eps_theta, shift, o.gamma, o.weighted);
  if (inject_nan) loss = ag::add_scalar(loss, std::numeric_limits<double>::quiet_NaN());
  out.loss = loss.item();
  {
    NoGrad no_grad;
    const Tensor zero = Tensor::zeros(shift.shape(), shift.dtype(), shift.device());
    out.loss_frozen =
        diffusion::pdae_loss(s, t, eps, eps_theta.detach(), zero, o.gamma, o.weighted).item();
    const Tensor g = shift.detach();
    out.shift_rms = std::sqrt(mean(mul(g, g)).item());
    const Tensor y = y_sem.detach();
    const double m = mean(y).item();
    const Tensor d = add_scalar(y, -m);
    out.y_sem_std = std::sqrt(mean(mul(d, d)).item());
  }
  if (std::isfinite(out.loss)) ag::backward(ag::mul_scalar(loss, scale));
  return out;
}

}  // namespace ldae::nets
