#include "ldae/ae_gan_step.h"

#include <cmath>
#include <limits>

#include "autograd/engine.h"
#include "autograd/functions.h"

namespace ldae::nets {

namespace {

// Freezes a module's parameters for its lifetime (restores requires_grad afterwards).
class FreezeGuard {
 public:
  FreezeGuard(nn::Module& m, bool active) : m_(m), active_(active) {
    if (active_) m_.set_requires_grad(false);
  }
  ~FreezeGuard() {
    if (active_) m_.set_requires_grad(true);
  }
  FreezeGuard(const FreezeGuard&) = delete;
  FreezeGuard& operator=(const FreezeGuard&) = delete;

 private:
  nn::Module& m_;
  bool active_;
};

}  // namespace

GeneratorPass generator_backward(const AutoencoderKL& ae, PatchDiscriminator& disc, const Tensor& x,
                                 Generator& noise, const AeGanLossOptions& o, bool adv_on, double scale,
                                 bool inject_nan) {
  GeneratorPass out;
  const auto [z_mu, z_sigma] = ae.encode(x);               // (N, latent, spatial')
  const Tensor z = ae.sample(z_mu, z_sigma, noise);
  const Tensor x_hat = ae.decode(z);                        // (N, 1, D, H, W)
  check(x_hat.shape() == x.shape(), "train-ae",
        "the reconstruction has shape " + shape_str(x_hat.shape()) + " but the input " + shape_str(x.shape()));
  const Tensor l1 = ag::l1_loss(x_hat, x);
  const Tensor kl = kl_loss(z_mu, z_sigma);
  Tensor loss = ag::add(l1, ag::mul_scalar(kl, o.kl_weight));
  if (o.perceptual) {
    const Tensor p = o.perceptual(x_hat, x);
    out.perceptual = p.item();
    loss = ag::add(loss, ag::mul_scalar(p, o.perceptual_weight));
  }
  {
    // Fixed: D is frozen, so this backward leaves D's gradients alone (the gradient still
    // flows through D into x_hat). Faithful: D's parameters collect the term too.
    FreezeGuard freeze(disc, adv_on && !o.faithful_disc_grad_leak);
    if (adv_on) {
      const Tensor logits = disc.forward(x_hat);
      const Tensor adv = ag::mse_loss(logits, Tensor::ones(logits.shape(), logits.dtype(), logits.device()));
      out.adversarial = adv.item();
      loss = ag::add(loss, ag::mul_scalar(adv, o.adv_weight));
    }
    if (inject_nan) loss = ag::add_scalar(loss, std::numeric_limits<double>::quiet_NaN());
    out.l1 = l1.item();
    out.kl = kl.item();
    out.loss = loss.item();
    if (std::isfinite(out.loss)) ag::backward(ag::mul_scalar(loss, scale));
  }
  out.reconstruction = x_hat.detach();
  return out;
}

DiscriminatorPass discriminator_backward(const PatchDiscriminator& disc, const Tensor& x, const Tensor& x_hat,
                                         const AeGanLossOptions& o, double scale) {
  DiscriminatorPass out;
  const Tensor fake_logits = disc.forward(x_hat.detach());
  const Tensor fake = ag::mse_loss(fake_logits, Tensor::zeros(fake_logits.shape(), fake_logits.dtype(), fake_logits.device()));
  const Tensor real_logits = disc.forward(x);
  const Tensor real = ag::mse_loss(real_logits, Tensor::ones(real_logits.shape(), real_logits.dtype(), real_logits.device()));
  const Tensor loss = ag::mul_scalar(ag::mul_scalar(ag::add(fake, real), 0.5), o.adv_weight);
  out.fake = fake.item();
  out.real = real.item();
  out.loss = loss.item();
  if (std::isfinite(out.loss)) ag::backward(ag::mul_scalar(loss, scale));
  return out;
}

}  // namespace ldae::nets
