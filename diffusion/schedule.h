// The noise schedule of a diffusion model (ldae-reference section 3) and the per-step
// quantities derived from it. Timesteps t run from 0 to T-1; all values in double.
//
//   beta_t                 noise variance added at step t
//   alpha_t = 1 - beta_t
//   alpha_bar_t = prod_{s <= t} alpha_s           (alpha_bar_{-1} = 1)
//   forward process        x_t = sqrt(alpha_bar_t) x_0 + sqrt(1 - alpha_bar_t) eps
//   SNR_t = alpha_bar_t / (1 - alpha_bar_t)
//   PDAE shift coefficient k_t = -sqrt(alpha_t) (1 - alpha_bar_{t-1}) / sqrt(1 - alpha_bar_t)
//   PDAE loss weight       lambda_t = SNR_t^gamma / (1 + SNR_t), gamma = 0.1
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ldae::diffusion {

class Schedule {
 public:
  // The reference schedule: beta_t = linspace(beta_start, beta_end, T).
  static Schedule linear(int64_t T = 1000, double beta_start = 1e-4, double beta_end = 0.02);
  // Nichol & Dhariwal's cosine schedule: alpha_bar(t) = f(t) / f(0),
  // f(t) = cos((t / T + s) / (1 + s) * pi / 2)^2, beta_t = min(1 - f(t+1)/f(t), max_beta).
  static Schedule cosine(int64_t T = 1000, double s = 0.008, double max_beta = 0.999);
  // By name: "linear" or "cosine", with the defaults above.
  static Schedule named(const std::string& name, int64_t T = 1000);
  // Any betas in (0, 1).
  explicit Schedule(std::vector<double> betas);

  int64_t T() const { return static_cast<int64_t>(betas_.size()); }
  double beta(int64_t t) const { return betas_[index(t)]; }
  double alpha(int64_t t) const { return 1.0 - betas_[index(t)]; }
  double alpha_bar(int64_t t) const { return alpha_bar_[index(t)]; }
  // alpha_bar_{t-1}, with alpha_bar_{-1} = 1.
  double alpha_bar_prev(int64_t t) const { return t == 0 ? 1.0 : alpha_bar_[index(t - 1)]; }
  double snr(int64_t t) const { return alpha_bar(t) / (1.0 - alpha_bar(t)); }
  // DDPM posterior variance beta_t (1 - alpha_bar_{t-1}) / (1 - alpha_bar_t) (0 at t = 0).
  double posterior_variance(int64_t t) const;
  // k_t of the PDAE objective (the epsilon-space form of the posterior-mean shift).
  double pdae_shift_coef(int64_t t) const;
  // lambda_t = SNR^gamma / (1 + SNR).
  double pdae_loss_weight(int64_t t, double gamma = 0.1) const;

  const std::vector<double>& betas() const { return betas_; }
  const std::vector<double>& alpha_bars() const { return alpha_bar_; }

 private:
  size_t index(int64_t t) const;  // checks 0 <= t < T
  std::vector<double> betas_, alpha_bar_;
};

}  // namespace ldae::diffusion
