#include "nn/resample.h"

#include "autograd/functions.h"

namespace ldae::nn {

namespace {

// Expands a 1-entry list to n entries; checks sizes and positivity.
std::vector<int64_t> axes(std::vector<int64_t> v, size_t n, const std::string& op, const std::string& what) {
  if (v.size() == 1) v.assign(n, v[0]);
  check(v.size() == n, op, what + " needs 1 or " + std::to_string(n) + " entries, got " + std::to_string(v.size()));
  for (int64_t k : v) check(k > 0, op, what + " entries must be positive");
  return v;
}

}  // namespace

AvgPool3d::AvgPool3d(std::vector<int64_t> kernel, std::vector<int64_t> stride) {
  kernel_ = axes(std::move(kernel), 3, "AvgPool3d", "kernel");
  stride_ = stride.empty() ? kernel_ : axes(std::move(stride), 3, "AvgPool3d", "stride");
}

Tensor AvgPool3d::forward(const Tensor& x) const {
  check(x.dim() == 5, "AvgPool3d", "expected input (N, C, D, H, W), got " + shape_str(x.shape()));
  return ag::avg_pool3d(x, kernel_, stride_);
}

AvgPool2d::AvgPool2d(std::vector<int64_t> kernel, std::vector<int64_t> stride) {
  std::vector<int64_t> k = axes(std::move(kernel), 2, "AvgPool2d", "kernel");
  std::vector<int64_t> s = stride.empty() ? k : axes(std::move(stride), 2, "AvgPool2d", "stride");
  kernel_ = {1, k[0], k[1]};
  stride_ = {1, s[0], s[1]};
}

Tensor AvgPool2d::forward(const Tensor& x) const {
  check(x.dim() == 4, "AvgPool2d", "expected input (N, C, H, W), got " + shape_str(x.shape()));
  // (N, C, H, W) -> (N, C, 1, H, W) -> pool -> (N, C, H', W')
  return ag::squeeze(ag::avg_pool3d(ag::unsqueeze(x, 2), kernel_, stride_), 2);
}

Upsample::Upsample(std::vector<double> scale, std::string mode)
    : scale_(std::move(scale)), mode_(std::move(mode)) {
  check(!scale_.empty() && scale_.size() <= 3, "Upsample",
        "needs 1 to 3 scale factors, got " + std::to_string(scale_.size()));
  for (double f : scale_) check(f > 0.0, "Upsample", "scale factors must be positive");
  check(mode_ == "nearest" || mode_ == "trilinear", "Upsample",
        "mode must be \"nearest\" or \"trilinear\", got \"" + mode_ + "\"");
}

Tensor Upsample::forward(const Tensor& x) const {
  check(x.dim() == static_cast<int64_t>(scale_.size()) + 2, "Upsample",
        "input " + shape_str(x.shape()) + " does not have " + std::to_string(scale_.size()) +
            " spatial axes");
  return ag::interpolate(x, scale_, mode_);
}

}  // namespace ldae::nn
