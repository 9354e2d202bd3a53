// One micro-batch of stage-3 training, the PDAE objective (ldae-reference 5.3), on
// in-memory networks:
//
//   y_sem   = Enc(x)                         x: the images in the axial 2.5D layout
//   t ~ U{0..T-1}, eps ~ N(0, I)             (both from `noise`, t first; noise_draws
//                                            pairs per scan, see PdaeLossOptions)
//   z_t     = sqrt(abar_t) z0 + sqrt(1 - abar_t) eps      z0 = scale_factor * latent
//   (eps_theta, G) = ShiftUNet(z_t, t, y_sem)             eps_theta from the frozen UNet
//   loss    = mean over all elements of lambda_t (eps - (eps_theta + k_t G))^2
//
// then backward(loss * scale). The frozen UNet's parameters do not require grad, so only
// the encoder and the shift branch collect gradients; the caller clips, steps and zeroes
// them every `accumulate` micro-batches.
#pragma once
#include "diffusion/schedule.h"
#include "ldae/attention_semantic_encoder.h"
#include "ldae/shift_unet.h"

namespace ldae::nets {

struct PdaeLossOptions {
  double gamma = 0.1;    // lambda_t = SNR^gamma / (1 + SNR)
  bool weighted = true;  // false: lambda_t = 1 (an unweighted ablation)
  // Noise draws (t, eps) per scan: each scan is encoded once and its code conditions
  // `noise_draws` noisy copies of its latent, so one encoder pass trains the branch on
  // several timesteps. The loss is the mean over all of them: the same objective as
  // 1 draw (the published recipe), estimated with less variance.
  int64_t noise_draws = 1;
};

struct PdaePass {
  double loss = 0;         // the PDAE loss (before the 1/accumulate scaling)
  double loss_frozen = 0;  // the same weighted loss with G = 0: what the frozen UNet alone leaves
  double shift_rms = 0;    // sqrt(mean(G^2)): how large the shift is
  double y_sem_std = 0;    // the standard deviation of the semantic codes' entries
};

// slices: (N, 1, S, H, W), the images' axial slices (axial_slices of (N, 1, X, Y, Z));
// z0: (N, C, D, H, W) scaled latents of the same scans. Runs backward(loss * scale).
// inject_nan adds NaN to the loss (a test hook for the NaN stop). The caller checks that
// the returned loss is finite.
PdaePass pdae_backward(const AttentionSemanticEncoder& encoder, const ShiftUNet& net,
                       const diffusion::Schedule& s, const Tensor& slices, const Tensor& z0,
                       Generator& noise, const PdaeLossOptions& o, double scale,
                       bool inject_nan = false);

}  // namespace ldae::nets
