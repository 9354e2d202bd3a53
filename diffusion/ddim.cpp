#include "diffusion/ddim.h"

#include <algorithm>
#include <cmath>
#include <string>

#include "autograd/no_grad.h"
#include "tensor/ops.h"

namespace ldae::diffusion {

std::vector<int64_t> ddim_timesteps(int64_t T, int64_t steps) {
  check(T >= 2 && steps >= 1 && steps <= T - 1, "ddim_timesteps",
        std::to_string(steps) + " steps need 1 <= steps <= T-1 = " + std::to_string(T - 1));
  std::vector<int64_t> tau(static_cast<size_t>(steps + 1));
  for (int64_t i = 0; i <= steps; ++i) tau[static_cast<size_t>(i)] = i * (T - 1) / steps;  // exact floor
  return tau;
}

namespace {

// Per sample of x: (N, m) contiguous, clamps to [-s, s] with s = max(quantile(|x|, p), min_value);
// quantile with linear interpolation between order statistics (torch.quantile's default).
template <typename T>
void clamp_percentile(T* x, int64_t n, int64_t m, double p, double min_value) {
  std::vector<double> mag(static_cast<size_t>(m));
  for (int64_t i = 0; i < n; ++i) {
    T* row = x + i * m;
    for (int64_t j = 0; j < m; ++j) mag[static_cast<size_t>(j)] = std::fabs(static_cast<double>(row[j]));
    std::sort(mag.begin(), mag.end());
    const double pos = p * static_cast<double>(m - 1);
    const size_t lo = static_cast<size_t>(std::floor(pos));
    const size_t hi = std::min(lo + 1, mag.size() - 1);
    const double q = mag[lo] + (mag[hi] - mag[lo]) * (pos - static_cast<double>(lo));
    const T s = static_cast<T>(std::max(q, min_value));
    for (int64_t j = 0; j < m; ++j) row[j] = std::min(s, std::max(-s, row[j]));
  }
}

// x0_hat and the noise consistent with it, at one step.
struct Prediction {
  Tensor x0, eps;
};

Prediction predict(const std::string& op, const Schedule& s, const Tensor& x, int64_t t,
                   const EpsAndShift& out, bool use_shift, const DdimOptions& o) {
  check(out.eps.defined() && out.eps.shape() == x.shape(), op,
        "the denoiser returned " + (out.eps.defined() ? shape_str(out.eps.shape()) : std::string("nothing")) +
            " for x_t " + shape_str(x.shape()) + " at t = " + std::to_string(t));
  const double a = s.alpha_bar(t);
  Tensor eps = out.eps.to(x.dtype());
  if (use_shift && out.shift.defined()) {
    check(out.shift.shape() == x.shape(), op,
          "the shift " + shape_str(out.shift.shape()) + " differs from x_t " + shape_str(x.shape()));
    const double c = o.shift_coefficient == ShiftCoefficient::Reference ? -std::sqrt(1.0 - a) : s.pdae_shift_coef(t);
    eps = add_scaled(eps, out.shift.to(x.dtype()), c);
  }
  const double r = std::sqrt(1.0 / a), rm1 = std::sqrt(1.0 / a - 1.0);
  Tensor x0 = sub(mul_scalar(x, r), mul_scalar(eps, rm1));
  if (o.clamp.mode != X0Clamp::Mode::Off) {
    x0 = clamp_x0(x0, o.clamp);
    eps = mul_scalar(sub(mul_scalar(x, r), x0), 1.0 / rm1);  // the noise of the clamped x0
  }
  return {x0, eps};
}

void check_options(const std::string& op, const Schedule& s, const Tensor& x, const DdimOptions& o) {
  check(x.defined() && x.dim() >= 1, op, "needs a defined (N, ...) tensor");
  check(o.eta >= 0, op, "eta must be >= 0, got " + std::to_string(o.eta));
  check(o.stop_percent >= 0 && o.stop_percent <= 1, op,
        "stop_percent must be in [0, 1], got " + std::to_string(o.stop_percent));
  ddim_timesteps(s.T(), o.steps);  // validates the step count
}

Tensor sample_impl(const std::string& op, const Schedule& s, const Tensor& x_T, const ShiftedEpsFn& fn,
                   const DdimOptions& o, Generator* gen) {
  check_options(op, s, x_T, o);
  check(o.eta == 0 || gen != nullptr, op, "eta > 0 needs a Generator for the noise");
  NoGrad no_grad;
  const std::vector<int64_t> tau = ddim_timesteps(s.T(), o.steps);
  const int64_t S = o.steps;
  const int64_t unshifted = static_cast<int64_t>(std::floor(o.stop_percent * static_cast<double>(S)));
  Tensor x = x_T.detach();
  for (int64_t i = S; i >= 1; --i) {
    const int64_t t = tau[static_cast<size_t>(i)], t_prev = tau[static_cast<size_t>(i - 1)];
    const bool use_shift = (i - 1) >= unshifted;
    const Prediction p = predict(op, s, x, t, fn(x, t), use_shift, o);
    const double a = s.alpha_bar(t), a_prev = s.alpha_bar(t_prev);
    const double sigma = o.eta * std::sqrt((1.0 - a_prev) / (1.0 - a)) * std::sqrt(1.0 - a / a_prev);
    x = add(mul_scalar(p.x0, std::sqrt(a_prev)), mul_scalar(p.eps, std::sqrt(std::max(0.0, 1.0 - a_prev - sigma * sigma))));
    if (sigma > 0) x = add_scaled(x, randn(x.shape(), *gen, x.dtype(), 0.0, 1.0, x.device()), sigma);
    if (o.on_step) o.on_step(S - i + 1, S);
  }
  return x;
}

Tensor encode_impl(const std::string& op, const Schedule& s, const Tensor& x0, const ShiftedEpsFn& fn,
                   const DdimOptions& o) {
  check_options(op, s, x0, o);
  NoGrad no_grad;
  const std::vector<int64_t> tau = ddim_timesteps(s.T(), o.steps);
  const int64_t S = o.steps;
  Tensor x = x0.detach();
  for (int64_t i = 0; i < S; ++i) {
    const int64_t t = tau[static_cast<size_t>(i)], t_next = tau[static_cast<size_t>(i + 1)];
    const Prediction p = predict(op, s, x, t, fn(x, t), /*use_shift=*/true, o);
    const double a_next = s.alpha_bar(t_next);
    x = add(mul_scalar(p.x0, std::sqrt(a_next)), mul_scalar(p.eps, std::sqrt(1.0 - a_next)));
    if (o.on_step) o.on_step(i + 1, S);
  }
  return x;
}

ShiftedEpsFn unshifted(const EpsFn& eps_fn) {
  return [eps_fn](const Tensor& x, int64_t t) { return EpsAndShift{eps_fn(x, t), Tensor()}; };
}

}  // namespace

Tensor clamp_x0(const Tensor& x0, const X0Clamp& c) {
  switch (c.mode) {
    case X0Clamp::Mode::Off:
      return x0;
    case X0Clamp::Mode::Value:
      check(c.value > 0, "clamp_x0", "the clamp value must be positive, got " + std::to_string(c.value));
      return clamp(x0, -c.value, c.value);
    case X0Clamp::Mode::Percentile: {
      check(c.percentile > 0 && c.percentile <= 1, "clamp_x0",
            "the percentile must be in (0, 1], got " + std::to_string(c.percentile));
      check(x0.dim() >= 1 && x0.numel() > 0, "clamp_x0", "needs a non-empty (N, ...) tensor");
      // The per-sample quantile is a sort: done on the host, then moved back.
      Tensor out = x0.detach().to(cpu_device()).contiguous().clone();
      const int64_t n = out.size(0), m = out.numel() / n;
      LDAE_DISPATCH(out.dtype(), T, { clamp_percentile<T>(out.mutable_data<T>(), n, m, c.percentile, c.min_value); });
      return out.to(x0.device());
    }
  }
  return x0;
}

Tensor ddim_sample(const Schedule& s, const Tensor& x_T, const EpsFn& eps_fn, const DdimOptions& o, Generator* gen) {
  return sample_impl("ddim_sample", s, x_T, unshifted(eps_fn), o, gen);
}

Tensor ddim_sample_shifted(const Schedule& s, const Tensor& x_T, const ShiftedEpsFn& fn, const DdimOptions& o,
                           Generator* gen) {
  return sample_impl("ddim_sample_shifted", s, x_T, fn, o, gen);
}

Tensor ddim_encode(const Schedule& s, const Tensor& x0, const EpsFn& eps_fn, const DdimOptions& o) {
  return encode_impl("ddim_encode", s, x0, unshifted(eps_fn), o);
}

Tensor ddim_encode_shifted(const Schedule& s, const Tensor& x0, const ShiftedEpsFn& fn, const DdimOptions& o) {
  return encode_impl("ddim_encode_shifted", s, x0, fn, o);
}

}  // namespace ldae::diffusion
