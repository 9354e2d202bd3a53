#include "ldae/code_norm.h"

#include <cmath>
#include <vector>

#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "tensor/ops.h"

namespace ldae::nets {

CodeNorm parse_code_norm(const std::string& name) {
  if (name == "off") return CodeNorm::Off;
  if (name == "running") return CodeNorm::Running;
  if (name == "batch") return CodeNorm::Batch;
  fail("code_norm", "unknown mode \"" + name + "\" (choose off, running or batch)");
}

std::string code_norm_name(CodeNorm mode) {
  switch (mode) {
    case CodeNorm::Off: return "off";
    case CodeNorm::Running: return "running";
    case CodeNorm::Batch: return "batch";
  }
  return "off";
}

CodeStandardiser::CodeStandardiser(int64_t dim, const CodeStandardiserOptions& options)
    : dim_(dim), options_(options) {
  check(dim > 0, "CodeStandardiser", "dim must be positive, got " + std::to_string(dim));
  check(options.mode != CodeNorm::Off, "CodeStandardiser", "mode off builds no module");
  check(options.warmup_codes >= 1 && options.weight > 0 && options.weight <= 1 && options.eps > 0,
        "CodeStandardiser", "needs warmup_codes >= 1, weight in (0, 1] and eps > 0");
  // float64, whatever the model's dtype, so that the averages do not round at every code
  // (Module::to(dtype) converts them like every buffer).
  running_mean = register_buffer("running_mean", Tensor::zeros({dim}, DType::F64));
  running_var = register_buffer("running_var", Tensor::ones({dim}, DType::F64));
  num_codes = register_buffer("num_codes", Tensor::scalar(0.0, DType::F64));
}

int64_t CodeStandardiser::codes_seen() const { return static_cast<int64_t>(num_codes.item()); }

void CodeStandardiser::track(const Tensor& y) const {
  check(y.dim() == 2 && y.size(1) == dim_, "CodeStandardiser",
        "expected codes (N, " + std::to_string(dim_) + "), got " + shape_str(y.shape()));
  NoGrad no_grad;
  const std::vector<double> codes = y.detach().to_vector();  // (N, dim), row-major
  std::vector<double> mean = running_mean.to_vector(), var = running_var.to_vector();
  double count = num_codes.item();
  if (count == 0) std::fill(var.begin(), var.end(), 0.0);  // the first code starts both averages
  const int64_t n = y.size(0);
  for (int64_t r = 0; r < n; ++r) {
    count += 1;
    // a = 1 / count during the warm-up: the plain mean and (population) variance of the
    // codes so far; afterwards a fixed weight (Welford's update, in its exponential form).
    const double a = count <= static_cast<double>(options_.warmup_codes) ? 1.0 / count : options_.weight;
    for (int64_t j = 0; j < dim_; ++j) {
      const double d = codes[static_cast<size_t>(r * dim_ + j)] - mean[static_cast<size_t>(j)];
      mean[static_cast<size_t>(j)] += a * d;
      var[static_cast<size_t>(j)] = (1 - a) * (var[static_cast<size_t>(j)] + a * d * d);
    }
  }
  auto write = [](Tensor buffer, const std::vector<double>& values) {
    buffer.copy_(Tensor::from_vector(values, buffer.shape(), DType::F64).to(buffer.dtype()).to(buffer.device()));
  };
  write(running_mean, mean);
  write(running_var, var);
  write(num_codes, {count});
}

Tensor CodeStandardiser::forward(const Tensor& y) const {
  check(y.dim() == 2 && y.size(1) == dim_, "CodeStandardiser",
        "expected codes (N, " + std::to_string(dim_) + "), got " + shape_str(y.shape()));
  if (codes_seen() < 2) return y;  // no statistics yet
  // inv_std: (1, dim), 1 / sqrt(running_var + eps), computed in float64, then in y's dtype
  std::vector<double> inv = running_var.to_vector();
  for (double& v : inv) v = 1.0 / std::sqrt(v + options_.eps);
  const Tensor inv_std = Tensor::from_vector(inv, {1, dim_}, DType::F64).to(y.dtype()).to(y.device());
  const bool centre_on_batch = options_.mode == CodeNorm::Batch && is_training() && y.size(0) > 1;
  const Tensor centre = centre_on_batch ? ag::mean(y, {0}, /*keepdim=*/true)                    // (1, dim)
                                        : running_mean.detach().reshape({1, dim_}).to(y.dtype()).to(y.device());
  return ag::mul(ag::sub(y, centre), inv_std);  // (N, dim)
}

}  // namespace ldae::nets
