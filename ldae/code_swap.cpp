#include "ldae/code_swap.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "autograd/no_grad.h"
#include "diffusion/forward.h"
#include "diffusion/loss.h"
#include "tensor/error.h"
#include "tensor/ops.h"

namespace ldae::nets {

double CodeSwap::share() const {
  const double gain = loss_frozen - loss_own;  // what the branch gains with the right code
  if (!(gain > 0)) return std::numeric_limits<double>::quiet_NaN();
  return (loss_swapped - loss_own) / gain;
}

std::vector<size_t> other_subject_partners(const std::vector<std::string>& subjects) {
  const size_t n = subjects.size();
  std::vector<size_t> partner(n);
  for (size_t i = 0; i < n; ++i) {
    size_t j = (i + 1) % n;
    while (j != i && subjects[j] == subjects[i]) j = (j + 1) % n;
    if (j == i) return {};  // every scan is this subject's
    partner[i] = j;
  }
  return partner;
}

std::vector<int64_t> stratified_timesteps(int64_t k, int64_t T, Generator& gen) {
  check(k >= 1 && T >= k, "stratified_timesteps",
        "needs 1 <= k <= T, got k = " + std::to_string(k) + ", T = " + std::to_string(T));
  const std::vector<double> u = rand({k}, gen, DType::F64).to_vector();  // in (0, 1]
  std::vector<int64_t> t(static_cast<size_t>(k));
  for (int64_t c = 0; c < k; ++c) {
    const double x = (static_cast<double>(c) + u[static_cast<size_t>(c)]) / static_cast<double>(k);
    t[static_cast<size_t>(c)] = std::min<int64_t>(T - 1, static_cast<int64_t>(std::floor(x * T)));
  }
  return t;
}

CodeSwap code_swap(const ShiftUNet& net, const diffusion::Schedule& s,
                   const std::vector<Tensor>& z0, const Tensor& codes,
                   const std::vector<size_t>& partner, const std::vector<int64_t>& t,
                   Generator gen, const PdaeLossOptions& o) {
  const std::string op = "code_swap";
  const size_t n = z0.size();
  check(n >= 2, op, "needs at least two scans, got " + std::to_string(n));
  check(codes.dim() == 2 && static_cast<size_t>(codes.size(0)) == n, op,
        "expected codes (" + std::to_string(n) + ", E), got " + shape_str(codes.shape()));
  check(partner.size() == n, op,
        "expected one partner per scan (" + std::to_string(n) + "), got " +
            std::to_string(partner.size()));
  check(!t.empty(), op, "needs at least one timestep");
  for (int64_t ti : t)
    check(ti >= 0 && ti < s.T(), op,
          "timestep " + std::to_string(ti) + " outside [0, " + std::to_string(s.T()) + ")");
  for (size_t i = 0; i < n; ++i)
    check(partner[i] < n && partner[i] != i, op,
          "scan " + std::to_string(i) + " has partner " + std::to_string(partner[i]) +
              ": it must be another scan of the " + std::to_string(n));
  NoGrad no_grad;
  CodeSwap out;
  const int64_t k = static_cast<int64_t>(t.size());
  for (size_t i = 0; i < n; ++i) {
    check(z0[i].dim() == 5 && z0[i].size(0) == 1, op,
          "expected each latent as (1, C, D, H, W), got " + shape_str(z0[i].shape()));
    const Tensor x0 =  // (k, C, D, H, W): one copy per timestep
        z0[i].expand({k, z0[i].size(1), z0[i].size(2), z0[i].size(3), z0[i].size(4)}).contiguous();
    const Tensor eps = randn(x0.shape(), gen, x0.dtype(), 0.0, 1.0, x0.device());
    const Tensor x_t = diffusion::q_sample(s, x0, t, eps);
    const Tensor tt = diffusion::timestep_tensor(t, x0.device());
    auto code_of = [&](size_t row) {  // (k, E): that scan's code for every copy
      const Tensor y = codes.slice(0, static_cast<int64_t>(row), static_cast<int64_t>(row) + 1);
      return y.expand({k, codes.size(1)}).contiguous().to(x0.device());
    };
    const auto [eps_theta, own] = net.forward(x_t, tt, code_of(i));
    const Tensor swapped = net.forward(x_t, tt, code_of(partner[i])).second;
    const Tensor zero = Tensor::zeros(own.shape(), own.dtype(), own.device());
    out.loss_own += diffusion::pdae_loss(s, t, eps, eps_theta, own, o.gamma, o.weighted).item();
    out.loss_swapped += diffusion::pdae_loss(s, t, eps, eps_theta, swapped, o.gamma, o.weighted).item();
    out.loss_frozen += diffusion::pdae_loss(s, t, eps, eps_theta, zero, o.gamma, o.weighted).item();
  }
  out.loss_own /= static_cast<double>(n);
  out.loss_swapped /= static_cast<double>(n);
  out.loss_frozen /= static_cast<double>(n);
  return out;
}

}  // namespace ldae::nets
