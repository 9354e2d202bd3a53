#include "ldae/linear_probe.h"

#include <cmath>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "tensor/error.h"

namespace ldae::nets {

LinearProbe::LinearProbe(int64_t features, Generator& gen) : features_(features) {
  check(features > 0, "LinearProbe", "features must be positive, got " + std::to_string(features));
  mean = register_buffer("mean", Tensor::zeros({features}));
  std = register_buffer("std", Tensor::ones({features}));
  linear_ = register_module("linear", std::make_shared<nn::Linear>(features, 1, gen));
}

void LinearProbe::start_constant(double bias) {
  NoGrad no_grad;
  linear_->weight.zero_();
  linear_->bias.fill_(bias);
}

void LinearProbe::fit_normalisation(const Tensor& features) {
  check(features.dim() == 2 && features.size(1) == features_ && features.size(0) >= 1,
        "LinearProbe",
        "fit_normalisation expects (M, " + std::to_string(features_) +
            ") features with M >= 1, got " + shape_str(features.shape()));
  NoGrad no_grad;
  const Tensor x = features.to(DType::F64).to(cpu_device()).contiguous();
  const int64_t m = x.size(0), f = features_;
  const double* d = x.data<double>();
  std::vector<double> mu(static_cast<size_t>(f), 0.0), sd(static_cast<size_t>(f), 0.0);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < f; ++j) mu[static_cast<size_t>(j)] += d[i * f + j];
  for (auto& v : mu) v /= static_cast<double>(m);
  for (int64_t i = 0; i < m; ++i)
    for (int64_t j = 0; j < f; ++j) {
      const double c = d[i * f + j] - mu[static_cast<size_t>(j)];
      sd[static_cast<size_t>(j)] += c * c;
    }
  for (auto& v : sd) {
    v = std::sqrt(v / static_cast<double>(m));  // population std
    if (!(v > 0.0)) v = 1.0;                    // constant feature: avoid 0/0
  }
  mean.copy_(Tensor::from_vector(mu, {f}, DType::F64).to(mean.dtype()).to(mean.device()));
  std.copy_(Tensor::from_vector(sd, {f}, DType::F64).to(std.dtype()).to(std.device()));
}

Tensor LinearProbe::forward(const Tensor& y) const {
  check(y.dim() == 2 && y.size(1) == features_, "LinearProbe",
        "expects (M, " + std::to_string(features_) + ") features, got " + shape_str(y.shape()));
  const Tensor z = ag::div(ag::sub(y, mean.to(y.dtype())), std.to(y.dtype()));  // (M, F) z-scores
  return ag::squeeze(linear_->forward(z), 1);                                   // (M,)
}

std::vector<double> LinearProbe::probabilities(const Tensor& y) const {
  NoGrad no_grad;
  const Tensor logits = forward(y.to(mean.dtype())).to(DType::F64).contiguous();
  std::vector<double> p;
  const double* d = logits.data<double>();
  for (int64_t i = 0; i < logits.numel(); ++i) p.push_back(1.0 / (1.0 + std::exp(-d[i])));
  return p;
}

Tensor LinearProbe::direction() const { return linear_->weight.detach().reshape({-1}); }

}  // namespace ldae::nets
