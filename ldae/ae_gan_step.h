// One micro-batch of stage-1 training (ldae-reference 2.3, 2.4): the generator pass and
// the discriminator pass of AutoencoderKL + PatchDiscriminator, each ending in a backward
// that accumulates gradients (the caller clips, steps and zeroes them every `accumulate`
// micro-batches).
//
//   generator:     loss_g = L1(x_hat, x) + kl_weight KL + perceptual_weight P(x_hat, x)
//                          + adv_weight MSE(D(x_hat), 1)          (x_hat from a sampled z)
//   discriminator: loss_d = adv_weight 0.5 [MSE(D(x_hat.detach()), 0) + MSE(D(x), 1)]
//
// Least squares GAN on the raw patch logits (no output activation), as published.
//
// The published discriminator-gradient leak (ldae-reference 2.4, 10.1 item 1): the
// generator's backward also flows into D's parameters, and D's gradients are zeroed
// only after D's own step, so every D update also holds the gradient of "make the fakes
// look real". By default D is frozen during the generator pass (no D gradient from it);
// faithful_disc_grad_leak = true reproduces the leak.
#pragma once
#include <functional>

#include "ldae/autoencoder_kl.h"
#include "ldae/patch_discriminator.h"

namespace ldae::nets {

struct AeGanLossOptions {
  double kl_weight = 1e-7;
  double adv_weight = 0.025;
  double perceptual_weight = 1e-3;
  bool faithful_disc_grad_leak = false;
  // The perceptual term P(x_hat, x) -> scalar; null: no perceptual term (the loss omits it).
  std::function<Tensor(const Tensor& x_hat, const Tensor& x)> perceptual;
};

struct GeneratorPass {
  Tensor reconstruction;  // x_hat (N, 1, D, H, W), detached
  double loss = 0;        // loss_g (before the 1/accumulate scaling)
  double l1 = 0, kl = 0;
  double perceptual = 0;  // 0 when there is no perceptual term
  double adversarial = 0; // MSE(D(x_hat), 1); 0 when adv_on is false
};

// x: (N, 1, D, H, W) in [0, 1]. Encodes, samples z = mu + sigma eps (eps from `noise`),
// decodes, computes loss_g (without the adversarial term when adv_on is false) and runs
// backward(loss_g * scale). inject_nan adds NaN to the loss (a test hook for the NaN
// guard). The caller checks that the returned loss is finite.
GeneratorPass generator_backward(const AutoencoderKL& ae, PatchDiscriminator& disc, const Tensor& x,
                                 Generator& noise, const AeGanLossOptions& o, bool adv_on, double scale,
                                 bool inject_nan = false);

struct DiscriminatorPass {
  double loss = 0;       // loss_d (before the scaling)
  double fake = 0;       // MSE(D(x_hat), 0)
  double real = 0;       // MSE(D(x), 1)
};

// x, x_hat: (N, 1, D, H, W); x_hat detached. Runs backward(loss_d * scale) into D only.
DiscriminatorPass discriminator_backward(const PatchDiscriminator& disc, const Tensor& x, const Tensor& x_hat,
                                         const AeGanLossOptions& o, double scale);

}  // namespace ldae::nets
