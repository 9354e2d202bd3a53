#include "ldae/attention_semantic_encoder.h"

#include <cmath>
#include <string>

#include "autograd/functions.h"
#include "nn/shape_trace.h"
#include "tensor/error.h"

namespace ldae::nets {

namespace {

// The published wrapper around the ConvNeXt: child "backbone".
class BackboneWrapper : public nn::Module {
 public:
  explicit BackboneWrapper(std::shared_ptr<ConvNeXt> net) {
    register_module("backbone", std::move(net));
  }
};

// The published PositionalEncoding: buffer "pe" (1, seq_len, E) and the dropout after the sum.
class PositionalEncoding : public nn::Module {
 public:
  PositionalEncoding(int64_t seq_len, int64_t emb, double p, std::shared_ptr<Generator> gen) {
    pe = register_buffer("pe", sinusoidal_positional_encoding(seq_len, emb));
    dropout = register_module("dropout", std::make_shared<nn::Dropout>(p, std::move(gen)));
  }
  Tensor pe;
  std::shared_ptr<nn::Dropout> dropout;
};

}  // namespace

AttentionSemanticEncoderOptions paper_attention_semantic_encoder_options() {
  AttentionSemanticEncoderOptions o;  // ldae-reference 5.1
  o.emb_chans = 768;                  // ConvNeXt-Small's last stage width
  o.num_heads = 8;
  o.attn_dropout = 0.1;
  o.seq_len = 128;  // 128 axial slices of a 128x160x128 brain
  o.backbone_dims = {96, 192, 384, 768};
  o.backbone_depths = {3, 3, 27, 3};  // ConvNeXt-Small
  o.layer_scale = 1e-6;
  o.stochastic_depth_prob = 0.4;  // torchvision's convnext_small
  o.grayscale = true;             // 1-channel stem (summed RGB kernels in the published model)
  return o;
}

ConvNeXtOptions backbone_options(const AttentionSemanticEncoderOptions& o) {
  ConvNeXtOptions b;
  b.dims = o.backbone_dims;
  b.depths = o.backbone_depths;
  b.layer_scale = o.layer_scale;
  b.stochastic_depth_prob = o.stochastic_depth_prob;
  b.in_channels = o.grayscale ? 1 : 3;
  return b;
}

Tensor axial_slices(const Tensor& volume) {
  check(volume.dim() == 5, "axial_slices",
        "expects a volume (B, C, X, Y, Z), got " + shape_str(volume.shape()));
  return ag::contiguous(ag::permute(volume, {0, 1, 4, 2, 3}));  // (B, C, Z, X, Y)
}

std::map<std::string, Tensor> drop_duplicate_backbone(
    const std::map<std::string, Tensor>& published) {
  const std::string dup = "slice_distributed.module.backbone.", kept = "backbone.backbone.";
  std::map<std::string, Tensor> out;
  for (const auto& [key, t] : published) {
    if (key.rfind(dup, 0) != 0) {
      out[key] = t;
      continue;
    }
    const std::string twin = kept + key.substr(dup.size());
    const auto it = published.find(twin);
    check(it != published.end(), "drop_duplicate_backbone",
          "'" + key + "' has no twin '" + twin + "' in the state dict");
    const Tensor& a = it->second;
    bool equal = a.shape() == t.shape() && a.dtype() == t.dtype();
    if (equal) {
      const auto va = a.to_vector(), vb = t.to_vector();
      for (size_t i = 0; i < va.size() && equal; ++i) equal = va[i] == vb[i];
    }
    check(equal, "drop_duplicate_backbone", "'" + key + "' differs from its twin '" + twin + "'");
  }
  return out;
}

Tensor sinusoidal_positional_encoding(int64_t seq_len, int64_t emb, DType dtype) {
  check(seq_len > 0 && emb > 0, "sinusoidal_positional_encoding",
        "seq_len and emb must be positive, got " + std::to_string(seq_len) + " and " +
            std::to_string(emb));
  std::vector<double> pe(static_cast<size_t>(seq_len * emb));
  for (int64_t p = 0; p < seq_len; ++p) {
    for (int64_t j = 0; j < emb; ++j) {
      const int64_t even = j - j % 2;  // 2i for both members of a sin/cos pair
      const double freq =
          std::exp(-std::log(10000.0) * static_cast<double>(even) / static_cast<double>(emb));
      const double angle = static_cast<double>(p) * freq;
      pe[static_cast<size_t>(p * emb + j)] = j % 2 == 0 ? std::sin(angle) : std::cos(angle);
    }
  }
  return Tensor::from_vector(pe, {1, seq_len, emb}, dtype);
}

// ---- SoftAttentionPooling ------------------------------------------------------------------

SoftAttentionPooling::SoftAttentionPooling(int64_t emb, Generator& gen) {
  linear_ = register_module("linear", std::make_shared<nn::Linear>(emb, 1, gen));
}

Tensor SoftAttentionPooling::forward(const Tensor& f) const {
  check(f.dim() == 3, "SoftAttentionPooling", "expects (B, S, E), got " + shape_str(f.shape()));
  const Tensor a = ag::softmax(linear_->forward(f), 1);  // (B, S, 1), sums to 1 over S
  return ag::sum(ag::mul(a, f), {1});                    // (B, E)
}

// ---- AttentionSemanticEncoder --------------------------------------------------------------

AttentionSemanticEncoder::AttentionSemanticEncoder(const AttentionSemanticEncoderOptions& o,
                                                   Generator& gen,
                                                   std::shared_ptr<Generator> drop_gen)
    : options_(o) {
  const ConvNeXtOptions bo = backbone_options(o);
  check_convnext_options(bo);
  check(o.emb_chans > 0 && o.backbone_dims.back() == o.emb_chans, "AttentionSemanticEncoder",
        "emb_chans (" + std::to_string(o.emb_chans) +
            ") must equal the backbone's last width backbone_dims.back() (" +
            std::to_string(o.backbone_dims.back()) + ")");
  check(o.num_heads > 0 && o.emb_chans % o.num_heads == 0, "AttentionSemanticEncoder",
        "emb_chans (" + std::to_string(o.emb_chans) + ") must be divisible by num_heads (" +
            std::to_string(o.num_heads) + ")");
  check(o.seq_len > 0, "AttentionSemanticEncoder",
        "seq_len must be positive, got " + std::to_string(o.seq_len));
  check(o.attn_dropout >= 0.0 && o.attn_dropout < 1.0, "AttentionSemanticEncoder",
        "attn_dropout must be in [0, 1), got " + std::to_string(o.attn_dropout));
  if (!drop_gen)  // the positional dropout (0.1) always needs one; a stream of its own
    drop_gen = std::make_shared<Generator>(gen.seed ^ 0x9E3779B97F4A7C15ULL, 0);
  const int64_t e = o.emb_chans;
  // Registration order = the published state-dict order.
  backbone_ = std::make_shared<ConvNeXt>(bo, gen, drop_gen);
  register_module("backbone", std::make_shared<BackboneWrapper>(backbone_));
  auto pos = register_module("positional_encoding",
                             std::make_shared<PositionalEncoding>(o.seq_len, e, 0.1, drop_gen));
  pe_ = pos->pe;
  dropout_ = pos->dropout;
  query_ = register_module("query_projection", std::make_shared<nn::Linear>(e, e, gen));
  key_ = register_module("key_projection", std::make_shared<nn::Linear>(e, e, gen));
  value_ = register_module("value_projection", std::make_shared<nn::Linear>(e, e, gen));
  soft_attention_ =
      register_module("soft_attention", std::make_shared<SoftAttentionPooling>(e, gen));
  cross_attention_ =
      register_module("cross_attention", std::make_shared<nn::MultiheadAttention>(
                                             e, o.num_heads, gen, o.attn_dropout, true, drop_gen));
  norm_ = register_module("layer_norm_after_attention",
                          std::make_shared<nn::LayerNorm>(Shape{e}, 1e-5));
}

Tensor AttentionSemanticEncoder::forward(const Tensor& x) const {
  check(x.dim() == 5, "AttentionSemanticEncoder",
        "expects slices (B, 1, S, H, W) (see axial_slices), got " + shape_str(x.shape()));
  check(x.size(1) == 1, "AttentionSemanticEncoder",
        "expects one channel (B, 1, S, H, W): slices are formed by folding S into the batch, got " +
            shape_str(x.shape()));
  const int64_t b = x.size(0), s = x.size(2), h = x.size(3), w = x.size(4), e = options_.emb_chans;
  check(s >= 1 && s <= options_.seq_len, "AttentionSemanticEncoder",
        std::to_string(s) + " slices, but the positional encoding has seq_len = " +
            std::to_string(options_.seq_len));
  Tensor slices =
      ag::reshape(ag::contiguous(x), {b * s, 1, h, w});  // (B*S, 1, H, W), slice-major per sample
  if (!options_.grayscale)
    slices = ag::expand(slices, {b * s, 3, h, w});  // a 3-channel stem sees the slice thrice
  nn::trace("slice_distributed", "slices as a batch", slices);
  Tensor f = ag::reshape(backbone_->forward(slices), {b, s, e});           // (B, S, E)
  nn::trace("backbone", "one feature per slice", f);
  const Tensor pe = ag::slice(pe_.to(f.dtype()).to(f.device()), 1, 0, s);  // (1, S, E)
  f = dropout_->forward(ag::add(f, pe));
  nn::trace("positional_encoding", "+ sinusoidal positions, dropout", f);
  const Tensor g = soft_attention_->forward(f);                         // (B, E)
  nn::trace("soft_attention", "softmax-weighted mean of slices", g);
  const Tensor q = ag::unsqueeze(query_->forward(g), 1);                // (B, 1, E)
  const Tensor k = key_->forward(f), v = value_->forward(f);            // (B, S, E)
  nn::trace("query_projection", "q: one token", q);
  nn::trace("key/value_projection", "k, v: one token per slice", k);
  const Tensor y = norm_->forward(cross_attention_->forward(q, k, v));  // (B, 1, E)
  nn::trace("cross_attention", "multi-head attention, LayerNorm", y);
  return ag::squeeze(y, 1);                                             // (B, E)
}

}  // namespace ldae::nets
