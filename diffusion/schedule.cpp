#include "diffusion/schedule.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace ldae::diffusion {

Schedule::Schedule(std::vector<double> betas) : betas_(std::move(betas)) {
  check(!betas_.empty(), "Schedule", "no timesteps");
  double prod = 1.0;
  for (size_t t = 0; t < betas_.size(); ++t) {
    check(betas_[t] > 0 && betas_[t] < 1, "Schedule",
          "beta_" + std::to_string(t) + " = " + std::to_string(betas_[t]) + " is not in (0, 1)");
    prod *= 1.0 - betas_[t];
    alpha_bar_.push_back(prod);
  }
}

Schedule Schedule::linear(int64_t T, double beta_start, double beta_end) {
  check(T >= 2, "Schedule::linear", "needs T >= 2, got " + std::to_string(T));
  std::vector<double> b(static_cast<size_t>(T));
  const double step = (beta_end - beta_start) / static_cast<double>(T - 1);
  for (int64_t t = 0; t < T; ++t) b[static_cast<size_t>(t)] = beta_start + static_cast<double>(t) * step;
  b.back() = beta_end;  // exact end point, as numpy.linspace
  return Schedule(std::move(b));
}

Schedule Schedule::cosine(int64_t T, double s, double max_beta) {
  check(T >= 1, "Schedule::cosine", "needs T >= 1, got " + std::to_string(T));
  const double half_pi = 1.57079632679489661923;
  auto f = [&](double t) {
    const double c = std::cos((t / static_cast<double>(T) + s) / (1.0 + s) * half_pi);
    return c * c;
  };
  std::vector<double> b(static_cast<size_t>(T));
  for (int64_t t = 0; t < T; ++t)
    b[static_cast<size_t>(t)] = std::min(1.0 - f(static_cast<double>(t + 1)) / f(static_cast<double>(t)), max_beta);
  return Schedule(std::move(b));
}

Schedule Schedule::named(const std::string& name, int64_t T) {
  if (name == "linear") return linear(T);
  if (name == "cosine") return cosine(T);
  fail("Schedule::named", "unknown schedule \"" + name + "\" (expected linear or cosine)");
}

size_t Schedule::index(int64_t t) const {
  check(t >= 0 && t < T(), "Schedule",
        "timestep " + std::to_string(t) + " outside [0, " + std::to_string(T() - 1) + "]");
  return static_cast<size_t>(t);
}

double Schedule::posterior_variance(int64_t t) const {
  return beta(t) * (1.0 - alpha_bar_prev(t)) / (1.0 - alpha_bar(t));
}

double Schedule::pdae_shift_coef(int64_t t) const {
  return -std::sqrt(alpha(t)) * (1.0 - alpha_bar_prev(t)) / std::sqrt(1.0 - alpha_bar(t));
}

double Schedule::pdae_loss_weight(int64_t t, double gamma) const {
  const double r = snr(t);
  return std::pow(r, gamma) / (1.0 + r);
}

}  // namespace ldae::diffusion
