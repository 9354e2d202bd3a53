// The residual and attention blocks of the LDAE denoiser UNet and of the ShiftUNet
// gradient estimator (ldae-reference 4.1 and 5.2; the layout of guided-diffusion /
// PDAE, whose parameter names we keep so that checkpoint keys match theirs):
//
//   ResBlock (children in_layers, emb_layers, out_layers, skip_connection):
//     h = Conv3(SiLU(GN(x)))                         in_layers.0 GN, .1 SiLU, .2 Conv
//     (scale_t, shift_t) = Linear(SiLU(emb))          emb_layers.1: emb_channels -> 2*out
//     h = GN(h) * (1 + scale_t) + shift_t             out_layers.0 ("adaptive GroupNorm")
//     h = Conv3(Dropout(SiLU(h)))                     out_layers.1 SiLU, .2 Dropout, .3 Conv (zero-init)
//     return skip(x) + h                              skip_connection: identity, or a 1x1 conv
//                                                     (3x3 with use_conv) when channels change
//   Up/down variants resample both the branch (between the first SiLU and the first conv)
//   and the skip input: nearest upsampling or average pooling by `resample_factors`.
//
//   ShiftResBlock: a ResBlock with a second, semantic modulation (emb_z_layers.1:
//   Linear(SiLU(e_y)) -> (scale_y, shift_y)):
//     h = (1 + scale_y) * (GN(h) * (1 + scale_t) + shift_t) + shift_y
//
//   AttentionBlock (children norm, qkv, proj_out): x (N, C, spatial) seen as C channels
//   over T = prod(spatial) tokens; qkv = Conv1d_1x1(GN(x)) (3C channels); per head
//   softmax(q·k / sqrt(ch)) over all tokens; proj_out Conv1d_1x1 (zero-init); x + out.
//
// Zero initialisations (out_layers.3 and proj_out, weight and bias): a freshly built
// block is the identity on its residual path (ResBlock returns skip(x)).
#pragma once
#include <memory>
#include <utility>
#include <vector>

#include "nn/activation.h"
#include "nn/container.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"
#include "nn/resample.h"

namespace ldae::nn {

struct ResBlockOptions {
  int64_t channels = 0;       // input channels
  int64_t emb_channels = 0;   // width of the time embedding (and of e_y for ShiftResBlock)
  int64_t out_channels = -1;  // -1: same as channels
  double dropout = 0.0;       // before the last conv, train mode only
  int dims = 3;               // 2 or 3 spatial axes
  int64_t num_groups = 32;    // GroupNorm groups (the reference hard-codes 32)
  bool use_conv = false;      // skip connection by a 3x3 conv (else 1x1) when channels change
  bool up = false;            // nearest upsampling of branch and skip
  bool down = false;          // average pooling of branch and skip
  // Per-axis factors of up/down; empty: (1, 2, 2) in 3D (the reference's quirk: the
  // first spatial axis is never resampled) and (2, 2) in 2D.
  std::vector<int64_t> resample_factors;
};

class ResBlock : public Module {
 public:
  // gen: parameter initialisation; dropout_gen: dropout masks (may be null if dropout == 0).
  ResBlock(const ResBlockOptions& options, Generator& gen,
           std::shared_ptr<Generator> dropout_gen = nullptr);

  // x: (N, channels, spatial...), emb: (N, emb_channels)
  //   -> (N, out_channels, spatial') with spatial' resampled when up or down.
  Tensor forward(const Tensor& x, const Tensor& emb) const;

  int64_t out_channels() const { return out_channels_; }

 protected:
  // with_semantic: also build emb_z_layers (the ShiftResBlock).
  ResBlock(const ResBlockOptions& options, Generator& gen, std::shared_ptr<Generator> dropout_gen,
           bool with_semantic);
  // emb_z undefined: plain ResBlock.
  Tensor forward_impl(const Tensor& x, const Tensor& emb, const Tensor& emb_z) const;

 private:
  void build(const ResBlockOptions& o, Generator& gen, std::shared_ptr<Generator> dropout_gen,
             bool with_semantic);
  // (N, 2*out) -> scale, shift of shape (N, out, 1, ..., 1) to broadcast over h.
  std::pair<Tensor, Tensor> split_modulation(const Tensor& e, int64_t spatial_axes) const;
  Tensor resample(const Tensor& x) const;  // up/down or identity

  int64_t channels_ = 0, out_channels_ = 0;
  int dims_ = 3;
  bool up_ = false, down_ = false;
  // in_layers
  std::shared_ptr<GroupNorm> in_norm_;
  std::shared_ptr<SiLU> in_act_;
  std::shared_ptr<ConvNd> in_conv_;
  // h_upd / x_upd (no parameters, not registered): one of these or neither
  std::shared_ptr<Upsample> upsample_;
  std::shared_ptr<AvgPool3d> pool3_;
  std::shared_ptr<AvgPool2d> pool2_;
  // emb_layers, emb_z_layers
  std::shared_ptr<SiLU> emb_act_;
  std::shared_ptr<Linear> emb_linear_, emb_z_linear_;
  // out_layers
  std::shared_ptr<GroupNorm> out_norm_;
  std::shared_ptr<SiLU> out_act_;
  std::shared_ptr<Dropout> out_dropout_;
  std::shared_ptr<ConvNd> out_conv_;
  // skip_connection (null: identity)
  std::shared_ptr<ConvNd> skip_;
};

class ShiftResBlock : public ResBlock {
 public:
  ShiftResBlock(const ResBlockOptions& options, Generator& gen,
                std::shared_ptr<Generator> dropout_gen = nullptr)
      : ResBlock(options, gen, std::move(dropout_gen), /*with_semantic=*/true) {}

  // x: (N, channels, spatial...), emb: (N, emb_channels) (time), emb_z: (N, emb_channels)
  // (the semantic embedding e_y) -> (N, out_channels, spatial').
  Tensor forward(const Tensor& x, const Tensor& emb, const Tensor& emb_z) const;
};

struct AttentionBlockOptions {
  int64_t channels = 0;
  int64_t num_heads = 1;
  int64_t num_head_channels = -1;  // > 0: heads of this width (num_heads = channels / it)
  int64_t num_groups = 32;
  // false (the reference, "legacy"): qkv is split into heads first, then into q, k, v;
  // true: into q, k, v first, then into heads.
  bool use_new_attention_order = false;
};

class AttentionBlock : public Module {
 public:
  AttentionBlock(const AttentionBlockOptions& options, Generator& gen);

  // x: (N, C, spatial...) -> same shape: x + proj_out(attention(qkv(GN(x)))).
  Tensor forward(const Tensor& x) const;

  int64_t num_heads() const { return num_heads_; }

 private:
  int64_t channels_, num_heads_;
  bool new_order_;
  std::shared_ptr<GroupNorm> norm_;
  std::shared_ptr<Conv1d> qkv_, proj_out_;
};

}  // namespace ldae::nn
