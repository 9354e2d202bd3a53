#include "nn/conv.h"

#include <cmath>

#include "autograd/functions.h"
#include "nn/init.h"

namespace ldae::nn {

namespace {

// One value per spatial axis: a single entry is repeated `rank` times.
std::vector<int64_t> per_axis(const std::vector<int64_t>& v, int rank, const std::string& what) {
  if (v.size() == 1) return std::vector<int64_t>(rank, v[0]);
  check(static_cast<int>(v.size()) == rank, "Conv",
        what + " needs 1 or " + std::to_string(rank) + " entries, got " + std::to_string(v.size()));
  return v;
}

}  // namespace

ConvNd::ConvNd(int rank, int64_t in_channels, int64_t out_channels, const ConvOptions& o,
               Generator& gen)
    : rank_(rank), in_(in_channels), out_(out_channels) {
  check(rank >= 1 && rank <= 3, "Conv", "spatial rank must be 1, 2 or 3, got " + std::to_string(rank));
  check(in_channels > 0 && out_channels > 0 && o.groups > 0 && in_channels % o.groups == 0 &&
            out_channels % o.groups == 0,
        "Conv",
        "channels in=" + std::to_string(in_channels) + " out=" + std::to_string(out_channels) +
            " must be positive and divisible by groups=" + std::to_string(o.groups));
  const std::vector<int64_t> kernel = per_axis(o.kernel_size, rank, "kernel_size");
  params_.stride = per_axis(o.stride, rank, "stride");
  params_.padding = per_axis(o.padding, rank, "padding");
  params_.dilation = per_axis(o.dilation, rank, "dilation");
  params_.groups = o.groups;

  Shape wshape = {out_channels, in_channels / o.groups};
  for (int64_t k : kernel) {
    check(k > 0, "Conv", "kernel sizes must be positive");
    wshape.push_back(k);
  }
  weight = register_parameter("weight", Tensor::empty(wshape));
  init::kaiming_uniform_(weight, gen, std::sqrt(5.0));
  if (o.bias) {
    bias = register_parameter("bias", Tensor::empty({out_channels}));
    init::bias_uniform_(bias, init::fan_in(wshape), gen);
  }
}

Tensor ConvNd::forward(const Tensor& x) const {
  check(x.dim() == rank_ + 2 && x.size(1) == in_, "Conv",
        "expected input (N, " + std::to_string(in_) + ", " + std::to_string(rank_) +
            " spatial axes), got " + shape_str(x.shape()));
  if (rank_ == 3) return ag::conv3d(x, weight, bias, params_);
  if (rank_ == 2) return ag::conv2d(x, weight, bias, params_);
  // Conv1d as a conv2d over a height-1 image: x (N, C, L) -> (N, C, 1, L), kernel 1 x k.
  ConvParams p2;
  p2.stride = {1, params_.stride[0]};
  p2.padding = {0, params_.padding[0]};
  p2.dilation = {1, params_.dilation[0]};
  p2.groups = params_.groups;
  const Tensor y = ag::conv2d(ag::unsqueeze(x, 2), ag::unsqueeze(weight, 2), bias, p2);
  return ag::squeeze(y, 2);  // (N, out, L')
}

}  // namespace ldae::nn
