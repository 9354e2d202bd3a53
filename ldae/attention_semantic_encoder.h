// The 2.5D semantic encoder Enc_phi of LDAE stage 3 (ldae-reference 5.1, 12): a ConvNeXt
// run on every axial slice of the volume, then attention pooling over the slices.
//
//   x (B, 1, S, H, W) -> slices (B*S, 1, H, W) -> backbone -> features f (B, S, E)
//   f = dropout(f + pe[:S])                       fixed sinusoidal positional encoding, Dropout 0.1
//   a = softmax_S(soft_attention.linear(f))       (B, S, 1), one score per slice
//   g = sum_S a * f                               (B, E), the attention-weighted mean
//   q = query_projection(g) (B, 1, E); k = key_projection(f), v = value_projection(f) (B, S, E)
//   y = layer_norm_after_attention(cross_attention(q, k, v)) (B, E)   8 heads, batch first
//
// State-dict keys as tests/reference/state_dicts/attention_semantic_encoder.txt:
// backbone.backbone.<ConvNeXt keys>, positional_encoding.pe (buffer (1, seq_len, E)),
// query_/key_/value_projection, soft_attention.linear, cross_attention (in_proj_weight,
// in_proj_bias, out_proj), layer_norm_after_attention (eps 1e-5).
// The published module registers the same backbone a second time as
// slice_distributed.module.backbone.*, so its checkpoints hold every backbone tensor twice;
// this module registers it once (a checkpoint converter keeps one copy after checking that
// both are equal, see docs/ldae-state-dicts/README.md).
#pragma once
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "ldae/convnext.h"
#include "nn/attention.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"
#include "tensor/random.h"

namespace ldae::nets {

// Field names as the module:attention_semantic_encoder reference-case metadata.
struct AttentionSemanticEncoderOptions {
  int64_t emb_chans = 768;    // E: the backbone's output width and y_sem's size
  int64_t num_heads = 8;      // cross-attention heads (E divisible by it)
  double attn_dropout = 0.1;  // dropout on the cross-attention weights (train mode)
  int64_t seq_len = 128;      // rows of the positional-encoding table: the most slices
  std::vector<int64_t> backbone_dims = {96, 192, 384, 768};
  std::vector<int64_t> backbone_depths = {3, 3, 27, 3};
  double layer_scale = 1e-6;
  double stochastic_depth_prob = 0.4;
  bool grayscale = true;  // 1-channel backbone stem (the published encoder's); false: a
                          // 3-channel stem fed the slice on every channel (our choice: the
                          // reference describes only the grayscale encoder)
};

// The published encoder (ConvNeXt-Small backbone, 768, 8 heads, 128 slices; 53,588,065
// parameters).
AttentionSemanticEncoderOptions paper_attention_semantic_encoder_options();

// The backbone's options (in_channels 1 when grayscale, else 3).
ConvNeXtOptions backbone_options(const AttentionSemanticEncoderOptions& o);

// The axial 2.5D layout of ldae-reference 1.6 (fake_3d, slicing_plane "axial"):
// volume (B, C, X, Y, Z) -> (B, C, Z, X, Y), i.e. Z slices of X x Y (a 128x160x128 brain
// gives 128 slices of 128x160). A contiguous copy.
Tensor axial_slices(const Tensor& volume);

// A published encoder state dict (prefix already stripped) -> the keys this module has:
// every "slice_distributed.module.backbone.<k>" entry is checked to equal
// "backbone.backbone.<k>" bit for bit and dropped. Throws ldae::Error naming the key when a
// duplicate has no twin or differs from it. Other entries pass through unchanged.
std::map<std::string, Tensor> drop_duplicate_backbone(
    const std::map<std::string, Tensor>& published);

// The fixed table pe (1, seq_len, E): pe[p, 2i] = sin(p / 10000^(2i/E)), pe[p, 2i+1] =
// cos(p / 10000^(2i/E)). Computed in float64, returned in `dtype`.
Tensor sinusoidal_positional_encoding(int64_t seq_len, int64_t emb, DType dtype = DType::F32);

// The published SoftAttention: child "linear" = Linear(E, 1).
class SoftAttentionPooling : public nn::Module {
 public:
  SoftAttentionPooling(int64_t emb, Generator& gen);
  // f: (B, S, E) -> (B, E), the softmax(score)-weighted mean over S.
  Tensor forward(const Tensor& f) const;

 private:
  std::shared_ptr<nn::Linear> linear_;
};

class AttentionSemanticEncoder : public nn::Module {
 public:
  // gen: parameter initialisation (the backbone as torchvision's ConvNeXt, the heads as
  // PyTorch's Linear / MultiheadAttention / LayerNorm defaults); drop_gen: stochastic depth,
  // the positional dropout and the attention dropout (null: one seeded from gen's seed).
  // Requires backbone_dims.back() == emb_chans, emb_chans divisible by num_heads, seq_len > 0.
  AttentionSemanticEncoder(const AttentionSemanticEncoderOptions& o, Generator& gen,
                           std::shared_ptr<Generator> drop_gen = nullptr);

  // x: (B, 1, S, H, W) slices along axis 2 (axial_slices of a volume), S <= seq_len
  //   -> y_sem (B, emb_chans).
  Tensor forward(const Tensor& x) const;

  const AttentionSemanticEncoderOptions& options() const { return options_; }
  const ConvNeXt& backbone() const { return *backbone_; }

 private:
  AttentionSemanticEncoderOptions options_;
  std::shared_ptr<ConvNeXt> backbone_;
  Tensor pe_;  // (1, seq_len, E) buffer
  std::shared_ptr<nn::Dropout> dropout_;
  std::shared_ptr<nn::Linear> query_, key_, value_;
  std::shared_ptr<SoftAttentionPooling> soft_attention_;
  std::shared_ptr<nn::MultiheadAttention> cross_attention_;
  std::shared_ptr<nn::LayerNorm> norm_;
};

}  // namespace ldae::nets
