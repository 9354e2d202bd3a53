#include "ldae/autoencoder_kl_blocks.h"

#include <vector>

#include "autograd/functions.h"

namespace ldae::nets {

AeConv::AeConv(int spatial_dims, int64_t in_channels, int64_t out_channels, int64_t kernel,
               int64_t stride, int64_t padding, Generator& gen) {
  nn::ConvOptions o;
  o.kernel_size = {kernel};
  o.stride = {stride};
  o.padding = {padding};
  conv_ = register_module("conv", std::make_shared<nn::ConvNd>(spatial_dims, in_channels, out_channels, o, gen));
}

AeResBlock::AeResBlock(int spatial_dims, int64_t in_channels, int64_t out_channels,
                       int64_t norm_num_groups, double norm_eps, Generator& gen) {
  // Registration order = the published state-dict order.
  norm1_ = register_module("norm1", std::make_shared<nn::GroupNorm>(norm_num_groups, in_channels, norm_eps));
  conv1_ = register_module("conv1", std::make_shared<AeConv>(spatial_dims, in_channels, out_channels, 3, 1, 1, gen));
  norm2_ = register_module("norm2", std::make_shared<nn::GroupNorm>(norm_num_groups, out_channels, norm_eps));
  conv2_ = register_module("conv2", std::make_shared<AeConv>(spatial_dims, out_channels, out_channels, 3, 1, 1, gen));
  if (in_channels != out_channels)
    nin_shortcut_ = register_module(
        "nin_shortcut", std::make_shared<AeConv>(spatial_dims, in_channels, out_channels, 1, 1, 0, gen));
}

Tensor AeResBlock::forward(const Tensor& x) const {
  // x: (N, in, spatial...)
  Tensor h = conv1_->forward(ag::silu(norm1_->forward(x)));  // (N, out, spatial...)
  h = conv2_->forward(ag::silu(norm2_->forward(h)));         // (N, out, spatial...)
  const Tensor skip = nin_shortcut_ ? nin_shortcut_->forward(x) : x;
  return ag::add(skip, h);  // (N, out, spatial...)
}

AeDownsample::AeDownsample(int spatial_dims, int64_t channels, Generator& gen) : spatial_dims_(spatial_dims) {
  conv_ = register_module("conv", std::make_shared<AeConv>(spatial_dims, channels, channels, 3, 2, 0, gen));
}

Tensor AeDownsample::forward(const Tensor& x) const {
  // x: (N, C, n...) -> padded (N, C, n + 1...): (lo 0, hi 1) on every spatial axis.
  std::vector<int64_t> pads;
  for (int i = 0; i < spatial_dims_; ++i) {
    pads.push_back(0);
    pads.push_back(1);
  }
  return conv_->forward(ag::pad(x, pads, 0.0));  // (N, C, floor((n - 2) / 2) + 1...)
}

AeUpsample::AeUpsample(int spatial_dims, int64_t channels, Generator& gen) : spatial_dims_(spatial_dims) {
  conv_ = register_module("conv", std::make_shared<AeConv>(spatial_dims, channels, channels, 3, 1, 1, gen));
}

Tensor AeUpsample::forward(const Tensor& x) const {
  // x: (N, C, n...) -> (N, C, 2n...) nearest, then a same-size conv.
  const std::vector<double> scale(static_cast<size_t>(spatial_dims_), 2.0);
  return conv_->forward(ag::interpolate(x, scale, "nearest"));
}

AeAttention::AeAttention(int64_t channels, int64_t norm_num_groups, double norm_eps, Generator& gen) {
  norm_ = register_module("norm", std::make_shared<nn::GroupNorm>(norm_num_groups, channels, norm_eps));
  to_q_ = register_module("to_q", std::make_shared<nn::Linear>(channels, channels, gen));
  to_k_ = register_module("to_k", std::make_shared<nn::Linear>(channels, channels, gen));
  to_v_ = register_module("to_v", std::make_shared<nn::Linear>(channels, channels, gen));
  // Never applied by the published forward (ldae-reference 12); kept for the checkpoints.
  proj_attn_ = register_module("proj_attn", std::make_shared<nn::Linear>(channels, channels, gen));
}

Tensor AeAttention::forward(const Tensor& x) const {
  // x: (N, C, spatial...), T = prod(spatial) tokens
  const int64_t n = x.size(0), c = x.size(1);
  const int64_t t = x.numel() / (n * c);
  const Tensor tokens = ag::transpose(ag::reshape(norm_->forward(x), {n, c, t}), 1, 2);  // (N, T, C)
  const Tensor q = to_q_->forward(tokens), k = to_k_->forward(tokens), v = to_v_->forward(tokens);  // (N, T, C)
  // One head: softmax(q k^T / sqrt(C)) v.
  const Tensor a = ag::scaled_dot_product_attention(q, k, v);    // (N, T, C)
  const Tensor out = ag::reshape(ag::transpose(a, 1, 2), x.shape());  // (N, C, spatial...)
  return ag::add(x, out);
}

}  // namespace ldae::nets
