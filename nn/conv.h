// Convolutions: PyTorch's nn.Conv1d, nn.Conv2d and nn.Conv3d (parameters "weight"
// (out, in/groups, k...) and "bias" (out)), with PyTorch's default initialisation:
// weight kaiming_uniform(a = sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), bias the
// same bound, fan_in = in/groups * prod(kernel).
#pragma once
#include <vector>

#include "nn/module.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace ldae::nn {

struct ConvOptions {
  // One entry per spatial axis, or a single entry used for every axis.
  std::vector<int64_t> kernel_size;
  std::vector<int64_t> stride = {1};
  std::vector<int64_t> padding = {0};
  std::vector<int64_t> dilation = {1};
  int64_t groups = 1;
  bool bias = true;
};

// A convolution over `rank` spatial axes (1, 2 or 3). Conv1d runs as a conv2d over a
// height-1 image.
class ConvNd : public Module {
 public:
  ConvNd(int rank, int64_t in_channels, int64_t out_channels, const ConvOptions& options,
         Generator& gen);

  // x: (N, in, L) | (N, in, H, W) | (N, in, D, H, W) -> (N, out, spatial')
  Tensor forward(const Tensor& x) const;

  int rank() const { return rank_; }
  int64_t in_channels() const { return in_; }
  int64_t out_channels() const { return out_; }
  const ConvParams& params() const { return params_; }
  Tensor weight;  // (out, in/groups, k...)
  Tensor bias;    // (out), undefined without bias

 private:
  int rank_;
  int64_t in_, out_;
  ConvParams params_;
};

class Conv1d : public ConvNd {
 public:
  Conv1d(int64_t in, int64_t out, const ConvOptions& o, Generator& gen) : ConvNd(1, in, out, o, gen) {}
};
class Conv2d : public ConvNd {
 public:
  Conv2d(int64_t in, int64_t out, const ConvOptions& o, Generator& gen) : ConvNd(2, in, out, o, gen) {}
};
class Conv3d : public ConvNd {
 public:
  Conv3d(int64_t in, int64_t out, const ConvOptions& o, Generator& gen) : ConvNd(3, in, out, o, gen) {}
};

}  // namespace ldae::nn
