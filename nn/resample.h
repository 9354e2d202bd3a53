// Resampling layers (no parameters): average pooling and nearest/trilinear upsampling
// with one factor per spatial axis. The LDAE UNet's 3D down/up-sampling acts on the
// last two axes only (factors (1, 2, 2), ldae-reference 4.1); isotropic (2, 2, 2) is a
// setting away.
#pragma once
#include <string>
#include <vector>

#include "nn/module.h"

namespace ldae::nn {

// PyTorch's nn.AvgPool3d without padding (floor mode, windows fully inside).
class AvgPool3d : public Module {
 public:
  // kernel: 3 entries (or 1, repeated); stride: same, empty = kernel (non-overlapping).
  explicit AvgPool3d(std::vector<int64_t> kernel, std::vector<int64_t> stride = {});

  // x: (N, C, D, H, W) -> (N, C, floor((D-kd)/sd)+1, ...)
  Tensor forward(const Tensor& x) const;

 private:
  std::vector<int64_t> kernel_, stride_;
};

// PyTorch's nn.AvgPool2d without padding; runs as a 3D pool over a depth-1 volume.
class AvgPool2d : public Module {
 public:
  explicit AvgPool2d(std::vector<int64_t> kernel, std::vector<int64_t> stride = {});

  // x: (N, C, H, W) -> (N, C, floor((H-kh)/sh)+1, floor((W-kw)/sw)+1)
  Tensor forward(const Tensor& x) const;

 private:
  std::vector<int64_t> kernel_, stride_;  // 3 entries, the first 1
};

// PyTorch's nn.Upsample(scale_factor=..., mode=...) with align_corners false.
class Upsample : public Module {
 public:
  // scale: one factor per spatial axis (1 to 3 axes); mode "nearest" or "trilinear".
  explicit Upsample(std::vector<double> scale, std::string mode = "nearest");

  // x: (N, C, S1, ..., Sk) with k = scale.size() -> (N, C, floor(S1*f1), ...)
  Tensor forward(const Tensor& x) const;

  const std::vector<double>& scale() const { return scale_; }

 private:
  std::vector<double> scale_;
  std::string mode_;
};

}  // namespace ldae::nn
