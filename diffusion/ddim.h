// DDIM sampling (noise -> data) and DDIM inversion, "encoding" (data -> noise), plain or
// shifted by a gradient estimator, as the reference implements them (ldae-reference
// section 6), with its quirks behind settings.
//
// Step map: S steps use the S+1 original timesteps tau_i = floor(i (T-1) / S), i = 0..S
// (tau_0 = 0, tau_S = T-1). The input of encoding is treated as the state at tau_0 and
// sampling stops at tau_0, so a round trip maps data to data (each of them S network
// calls). The network is always called with the original timestep tau_i.
//
// One step from timestep tau to tau' (a = alpha_bar_tau, a' = alpha_bar_tau'):
//   eps_hat = eps_theta + c * G                  (G: the shift; plain DDIM: G = 0)
//   x0_hat  = sqrt(1/a) x - sqrt(1/a - 1) eps_hat, then the optional clamp
//   eps     = (sqrt(1/a) x - x0_hat) / sqrt(1/a - 1)   (re-derived when clamping)
//   x'      = sqrt(a') x0_hat + sqrt(1 - a' - sigma^2) eps + sigma z,  z ~ N(0, I)
//   sigma   = eta sqrt((1 - a') / (1 - a)) sqrt(1 - a / a')   (sampling only; 0 when eta = 0)
// c = -sqrt(1 - a) in the reference's sampler; the PDAE training coefficient k_tau is the
// consistent choice (ldae-reference 10.1 item 3): see ShiftCoefficient.
#pragma once
#include <cstdint>
#include <functional>
#include <vector>

#include "diffusion/schedule.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace ldae::diffusion {

// floor(linspace(0, T-1, S+1)) computed exactly in integers: S+1 increasing timesteps.
// Requires 1 <= S <= T-1. ddim_timesteps(1000, 10) = {0, 99, 199, ..., 899, 999}.
std::vector<int64_t> ddim_timesteps(int64_t T, int64_t steps);

// What to do with the predicted x0 at each step.
struct X0Clamp {
  enum class Mode { Off, Value, Percentile };
  Mode mode = Mode::Off;
  double value = 1.0;        // Value: clamp to [-value, value] (the reference: 1)
  double percentile = 0.995; // Percentile: per sample, s = max(quantile(|x0|, p), min_value)
  double min_value = 1.0;    //   and clamp to [-s, s] (dynamic thresholding without rescaling)

  static X0Clamp off() { return {}; }
  static X0Clamp at(double v) { return {Mode::Value, v, 0.995, 1.0}; }
  static X0Clamp dynamic(double p, double min_v = 1.0) { return {Mode::Percentile, 1.0, p, min_v}; }
};

// Applies `clamp` to x0: (N, ...). Returns x0 itself when the mode is Off.
Tensor clamp_x0(const Tensor& x0, const X0Clamp& clamp);

// The coefficient c of the shift G in eps_hat = eps_theta + c G.
enum class ShiftCoefficient {
  Reference,  // c = -sqrt(1 - alpha_bar_t): the reference's sampler and encoder
  Training,   // c = k_t, the coefficient G was trained with (Schedule::pdae_shift_coef)
};

struct DdimOptions {
  int64_t steps = 50;       // S
  double eta = 0.0;         // sampling noise (0: deterministic DDIM; 1: DDPM-like); needs a Generator
  X0Clamp clamp;            // default off; the reference clamps to [-1, 1] (X0Clamp::at(1))
  ShiftCoefficient shift_coefficient = ShiftCoefficient::Reference;
  double stop_percent = 0;  // sampling: no shift on the last floor(p S) steps ((i-1) < floor(p S))
  // Called after each step with (steps done, steps in total), e.g. for a progress line.
  std::function<void(int64_t, int64_t)> on_step;
};

// A noise predictor: x_t (N, ...) at timestep t -> eps_theta (same shape). Called
// under NoGrad.
using EpsFn = std::function<Tensor(const Tensor& x_t, int64_t t)>;
// A noise predictor with a gradient estimator: both from one network call (the
// ShiftUNet returns both). `shift` may be undefined to mean G = 0.
struct EpsAndShift {
  Tensor eps, shift;
};
using ShiftedEpsFn = std::function<EpsAndShift(const Tensor& x_t, int64_t t)>;

// DDIM sampling from x_T (the state at tau_S) down to tau_0. `gen` supplies z when
// eta > 0 (required then). Runs under NoGrad; returns a new tensor.
Tensor ddim_sample(const Schedule& s, const Tensor& x_T, const EpsFn& eps_fn, const DdimOptions& o,
                   Generator* gen = nullptr);
Tensor ddim_sample_shifted(const Schedule& s, const Tensor& x_T, const ShiftedEpsFn& fn, const DdimOptions& o,
                           Generator* gen = nullptr);

// DDIM inversion from x_0 (the state at tau_0) up to tau_S: deterministic (eta and
// stop_percent are not used). Runs under NoGrad.
Tensor ddim_encode(const Schedule& s, const Tensor& x0, const EpsFn& eps_fn, const DdimOptions& o);
Tensor ddim_encode_shifted(const Schedule& s, const Tensor& x0, const ShiftedEpsFn& fn, const DdimOptions& o);

}  // namespace ldae::diffusion
