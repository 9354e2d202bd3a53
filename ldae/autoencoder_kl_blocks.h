// The building blocks of the stage-1 autoencoder (ldae-reference 2.1 and 12; the layout
// of monai-generative's AutoencoderKL, whose parameter names we keep so that the
// published checkpoints load with strict key checks):
//
//   AeConv         a convolution wrapped once more (child "conv"), as MONAI's
//                  Convolution(conv_only=True) is: keys "<name>.conv.weight".
//   AeResBlock     GN -> SiLU -> conv3 -> GN -> SiLU -> conv3, plus a 1x1 conv shortcut
//                  ("nin_shortcut") when the channel count changes. No time embedding.
//   AeDownsample   zero-pad one voxel at the END of every spatial axis, then a stride-2
//                  3^k conv without padding: a size n becomes floor((n - 2) / 2) + 1.
//   AeUpsample     nearest-neighbour x2 upsampling, then a 3^k conv (padding 1).
//   AeAttention    single-head self-attention over all voxels, with to_q, to_k, to_v
//                  Linears on the channels. Its proj_attn Linear exists (checkpoints hold
//                  it) but the published forward never applies it, and neither do we.
#pragma once
#include <memory>

#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"

namespace ldae::nets {

// A kernel^spatial_dims convolution (bias on) under the child "conv": keys "conv.weight", "conv.bias".
class AeConv : public nn::Module {
 public:
  AeConv(int spatial_dims, int64_t in_channels, int64_t out_channels, int64_t kernel,
         int64_t stride, int64_t padding, Generator& gen);
  // x: (N, in, spatial...) -> (N, out, spatial')
  Tensor forward(const Tensor& x) const { return conv_->forward(x); }

 private:
  std::shared_ptr<nn::ConvNd> conv_;
};

class AeResBlock : public nn::Module {
 public:
  AeResBlock(int spatial_dims, int64_t in_channels, int64_t out_channels, int64_t norm_num_groups,
             double norm_eps, Generator& gen);
  // x: (N, in, spatial...) -> (N, out, spatial...)
  Tensor forward(const Tensor& x) const;

 private:
  std::shared_ptr<nn::GroupNorm> norm1_, norm2_;
  std::shared_ptr<AeConv> conv1_, conv2_, nin_shortcut_;  // nin_shortcut_ null: identity
};

class AeDownsample : public nn::Module {
 public:
  AeDownsample(int spatial_dims, int64_t channels, Generator& gen);
  // x: (N, C, n1, n2, ...) -> (N, C, floor((n1 - 2) / 2) + 1, ...)
  Tensor forward(const Tensor& x) const;

 private:
  int spatial_dims_;
  std::shared_ptr<AeConv> conv_;
};

class AeUpsample : public nn::Module {
 public:
  AeUpsample(int spatial_dims, int64_t channels, Generator& gen);
  // x: (N, C, n1, n2, ...) -> (N, C, 2 n1, 2 n2, ...)
  Tensor forward(const Tensor& x) const;

 private:
  int spatial_dims_;
  std::shared_ptr<AeConv> conv_;
};

class AeAttention : public nn::Module {
 public:
  AeAttention(int64_t channels, int64_t norm_num_groups, double norm_eps, Generator& gen);
  // x: (N, C, spatial...) -> same shape: x + attention(GN(x)) (no output projection).
  Tensor forward(const Tensor& x) const;

 private:
  std::shared_ptr<nn::GroupNorm> norm_;
  std::shared_ptr<nn::Linear> to_q_, to_k_, to_v_, proj_attn_;
};

}  // namespace ldae::nets
