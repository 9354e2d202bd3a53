// Does the shift branch need the scan's *own* semantic code? A training-time check of the
// question the evaluation's "another subject's y_sem" control asks, without any sampling.
//
// For every scan i (its scaled latent z0_i, its code y_i) and a partner scan j of another
// subject, the PDAE loss (pdae_step.h) is computed three times on the same timesteps and
// noise: with the branch fed y_i (own), fed y_j (swapped) and with no shift at all (frozen).
//
//   share = (L_swapped - L_own) / (L_frozen - L_own)
//
// is the part of what the branch gains over the frozen UNet that it loses when it gets
// another subject's code. 0: the branch helps every scan the same way whatever code it gets
// (it has learnt "a brain", not "this brain"); 1: all of its help is specific to the scan.
// It can exceed 1 (a wrong code is worse than none) or go below 0 (noise).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "diffusion/schedule.h"
#include "ldae/pdae_step.h"
#include "ldae/shift_unet.h"
#include "tensor/random.h"

namespace ldae::nets {

struct CodeSwap {
  double loss_own = 0;      // mean weighted PDAE loss with each scan's own code
  double loss_swapped = 0;  // the same with the partner's code
  double loss_frozen = 0;   // the same with no shift (G = 0)
  // (loss_swapped - loss_own) / (loss_frozen - loss_own); NaN when the branch does not
  // beat the frozen UNet (loss_frozen <= loss_own), where the ratio means nothing.
  double share() const;
};

// z0: one (1, C, D, H, W) scaled latent per scan; codes: (N, E), row i scan i's y_sem;
// partner[i]: the index of the scan whose code replaces scan i's (another subject's);
// t: the timesteps at which every scan is scored (one batch of |t| copies of the scan),
// with noise from `gen` (a copy: the same draws on every call).
// The network is used as it is (the caller sets eval mode); no gradients are kept.
// Throws ldae::Error for mismatched sizes, a partner out of range or equal to i, no
// timesteps or one outside [0, T).
CodeSwap code_swap(const ShiftUNet& net, const diffusion::Schedule& s,
                   const std::vector<Tensor>& z0, const Tensor& codes,
                   const std::vector<size_t>& partner, const std::vector<int64_t>& t,
                   Generator gen, const PdaeLossOptions& o);

// k timesteps spread over the whole schedule: one drawn uniformly from each of k equal
// strata of [0, T), in increasing order. Requires k >= 1 and T >= k.
std::vector<int64_t> stratified_timesteps(int64_t k, int64_t T, Generator& gen);

// For each of `subjects` (one entry per scan), the next scan cyclically that belongs to
// another subject; empty when all scans are one subject's.
std::vector<size_t> other_subject_partners(const std::vector<std::string>& subjects);

}  // namespace ldae::nets
