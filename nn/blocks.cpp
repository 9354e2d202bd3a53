#include "nn/blocks.h"

#include <cmath>

#include "autograd/functions.h"
#include "nn/init.h"

namespace ldae::nn {

namespace {

// A 3x3(x3) convolution with padding 1, or a 1x1(x1) one, over `dims` axes.
std::shared_ptr<ConvNd> make_conv(int dims, int64_t in, int64_t out, int64_t kernel, Generator& gen) {
  ConvOptions o;
  o.kernel_size = {kernel};
  o.padding = {kernel / 2};
  return std::make_shared<ConvNd>(dims, in, out, o, gen);
}

// Zeroes every parameter of a module (guided-diffusion's zero_module).
void zero_module(Module& m) {
  for (auto& [_, p] : m.named_parameters()) init::zeros_(p);
}

}  // namespace

// ---- ResBlock ------------------------------------------------------------------------

ResBlock::ResBlock(const ResBlockOptions& options, Generator& gen, std::shared_ptr<Generator> dropout_gen) {
  build(options, gen, std::move(dropout_gen), false);
}

ResBlock::ResBlock(const ResBlockOptions& options, Generator& gen, std::shared_ptr<Generator> dropout_gen,
                   bool with_semantic) {
  build(options, gen, std::move(dropout_gen), with_semantic);
}

void ResBlock::build(const ResBlockOptions& o, Generator& gen, std::shared_ptr<Generator> dropout_gen,
                     bool with_semantic) {
  const char* op = with_semantic ? "ShiftResBlock" : "ResBlock";
  check(o.channels > 0 && o.emb_channels > 0, op, "channels and emb_channels must be positive");
  check(o.dims == 2 || o.dims == 3, op, "dims must be 2 or 3, got " + std::to_string(o.dims));
  check(!(o.up && o.down), op, "up and down cannot both be set");
  channels_ = o.channels;
  out_channels_ = o.out_channels > 0 ? o.out_channels : o.channels;
  dims_ = o.dims;
  up_ = o.up;
  down_ = o.down;

  // in_layers: GN, SiLU, Conv3
  auto in_layers = register_module("in_layers", std::make_shared<ModuleList>());
  in_norm_ = in_layers->push_back(std::make_shared<GroupNorm>(o.num_groups, channels_));
  in_act_ = in_layers->push_back(std::make_shared<SiLU>());
  in_conv_ = in_layers->push_back(make_conv(dims_, channels_, out_channels_, 3, gen));

  // h_upd / x_upd: the same parameter-free resampling for the branch and the skip.
  if (up_ || down_) {
    std::vector<int64_t> f = o.resample_factors;
    if (f.empty()) f = dims_ == 3 ? std::vector<int64_t>{1, 2, 2} : std::vector<int64_t>{2, 2};
    check(static_cast<int>(f.size()) == dims_, op,
          "resample_factors needs " + std::to_string(dims_) + " entries, got " + std::to_string(f.size()));
    if (up_) {
      upsample_ = std::make_shared<Upsample>(std::vector<double>(f.begin(), f.end()), "nearest");
    } else if (dims_ == 3) {
      pool3_ = std::make_shared<AvgPool3d>(f);
    } else {
      pool2_ = std::make_shared<AvgPool2d>(f);
    }
  }

  // emb_layers (and emb_z_layers): SiLU, Linear(emb -> 2*out). The SiLU is shared: it
  // has no parameters.
  emb_act_ = std::make_shared<SiLU>();
  auto emb_layers = register_module("emb_layers", std::make_shared<ModuleList>());
  emb_layers->push_back(emb_act_);
  emb_linear_ = emb_layers->push_back(std::make_shared<Linear>(o.emb_channels, 2 * out_channels_, gen));
  if (with_semantic) {
    auto emb_z_layers = register_module("emb_z_layers", std::make_shared<ModuleList>());
    emb_z_layers->push_back(std::make_shared<SiLU>());
    emb_z_linear_ = emb_z_layers->push_back(std::make_shared<Linear>(o.emb_channels, 2 * out_channels_, gen));
  }

  // out_layers: GN, SiLU, Dropout, Conv3 (zero-initialised)
  auto out_layers = register_module("out_layers", std::make_shared<ModuleList>());
  out_norm_ = out_layers->push_back(std::make_shared<GroupNorm>(o.num_groups, out_channels_));
  out_act_ = out_layers->push_back(std::make_shared<SiLU>());
  out_dropout_ = out_layers->push_back(std::make_shared<Dropout>(o.dropout, std::move(dropout_gen)));
  out_conv_ = out_layers->push_back(make_conv(dims_, out_channels_, out_channels_, 3, gen));
  zero_module(*out_conv_);

  // skip_connection: identity when the channels stay the same.
  if (out_channels_ != channels_)
    skip_ = register_module("skip_connection", make_conv(dims_, channels_, out_channels_, o.use_conv ? 3 : 1, gen));
}

Tensor ResBlock::resample(const Tensor& x) const {
  if (upsample_) return upsample_->forward(x);
  if (pool3_) return pool3_->forward(x);
  if (pool2_) return pool2_->forward(x);
  return x;
}

std::pair<Tensor, Tensor> ResBlock::split_modulation(const Tensor& e, int64_t spatial_axes) const {
  Shape s = {e.size(0), out_channels_};  // (N, out, 1, ..., 1)
  for (int64_t i = 0; i < spatial_axes; ++i) s.push_back(1);
  const Tensor scale = ag::reshape(ag::slice(e, 1, 0, out_channels_), s);
  const Tensor shift = ag::reshape(ag::slice(e, 1, out_channels_, 2 * out_channels_), s);
  return {scale, shift};
}

Tensor ResBlock::forward_impl(const Tensor& x_in, const Tensor& emb, const Tensor& emb_z) const {
  const char* op = emb_z.defined() ? "ShiftResBlock" : "ResBlock";
  check(x_in.dim() == dims_ + 2 && x_in.size(1) == channels_, op,
        "expected x (N, " + std::to_string(channels_) + ", " + std::to_string(dims_) +
            " spatial axes), got " + shape_str(x_in.shape()));
  check(emb.dim() == 2 && emb.size(0) == x_in.size(0), op,
        "expected emb (N, emb_channels) with N = " + std::to_string(x_in.size(0)) + ", got " +
            shape_str(emb.shape()));
  check(!emb_z.defined() || (emb_z.dim() == 2 && emb_z.size(0) == x_in.size(0)), op,
        "expected emb_z (N, emb_channels), got " + (emb_z.defined() ? shape_str(emb_z.shape()) : ""));

  // Branch: GN -> SiLU -> [resample] -> Conv; the skip input is resampled the same way.
  Tensor h = in_act_->forward(in_norm_->forward(x_in));
  h = in_conv_->forward(resample(h));  // (N, out, spatial')
  const Tensor x = resample(x_in);     // (N, channels, spatial')

  // Adaptive GroupNorm: GN(h) * (1 + scale_t) + shift_t.
  auto [scale, shift] = split_modulation(emb_linear_->forward(emb_act_->forward(emb)), dims_);
  h = ag::add(ag::mul(out_norm_->forward(h), ag::add_scalar(scale, 1.0)), shift);
  if (emb_z.defined()) {
    // Semantic modulation: (1 + scale_y) * h + shift_y.
    auto [scale_y, shift_y] = split_modulation(emb_z_linear_->forward(emb_act_->forward(emb_z)), dims_);
    h = ag::add(ag::mul(ag::add_scalar(scale_y, 1.0), h), shift_y);
  }
  h = out_conv_->forward(out_dropout_->forward(out_act_->forward(h)));

  const Tensor skip = skip_ ? skip_->forward(x) : x;
  return ag::add(skip, h);  // (N, out, spatial')
}

Tensor ResBlock::forward(const Tensor& x, const Tensor& emb) const { return forward_impl(x, emb, Tensor()); }

Tensor ShiftResBlock::forward(const Tensor& x, const Tensor& emb, const Tensor& emb_z) const {
  check(emb_z.defined(), "ShiftResBlock", "emb_z (the semantic embedding) is undefined");
  return forward_impl(x, emb, emb_z);
}

// ---- AttentionBlock ------------------------------------------------------------------

AttentionBlock::AttentionBlock(const AttentionBlockOptions& o, Generator& gen)
    : channels_(o.channels), new_order_(o.use_new_attention_order) {
  check(o.channels > 0, "AttentionBlock", "channels must be positive");
  if (o.num_head_channels > 0) {
    check(o.channels % o.num_head_channels == 0, "AttentionBlock",
          "channels=" + std::to_string(o.channels) + " is not divisible by num_head_channels=" +
              std::to_string(o.num_head_channels));
    num_heads_ = o.channels / o.num_head_channels;
  } else {
    num_heads_ = o.num_heads;
  }
  check(num_heads_ > 0 && o.channels % num_heads_ == 0, "AttentionBlock",
        "channels=" + std::to_string(o.channels) + " is not divisible by num_heads=" + std::to_string(num_heads_));
  ConvOptions one;
  one.kernel_size = {1};
  norm_ = register_module("norm", std::make_shared<GroupNorm>(o.num_groups, o.channels));
  qkv_ = register_module("qkv", std::make_shared<Conv1d>(o.channels, 3 * o.channels, one, gen));
  proj_out_ = register_module("proj_out", std::make_shared<Conv1d>(o.channels, o.channels, one, gen));
  zero_module(*proj_out_);
}

Tensor AttentionBlock::forward(const Tensor& x) const {
  check(x.dim() >= 3 && x.size(1) == channels_, "AttentionBlock",
        "expected x (N, " + std::to_string(channels_) + ", spatial...), got " + shape_str(x.shape()));
  const int64_t n = x.size(0), c = channels_, heads = num_heads_, ch = c / heads;
  const int64_t t = x.numel() / (n * c);  // tokens = prod(spatial)
  const Tensor xf = ag::reshape(x, {n, c, t});
  const Tensor qkv = qkv_->forward(norm_->forward(xf));  // (N, 3C, T)

  // q, k, v: (N*H, ch, T) each.
  Tensor q, k, v;
  if (new_order_) {
    // Split into q, k, v (C channels each), then each into heads.
    q = ag::reshape(ag::slice(qkv, 1, 0, c), {n * heads, ch, t});
    k = ag::reshape(ag::slice(qkv, 1, c, 2 * c), {n * heads, ch, t});
    v = ag::reshape(ag::slice(qkv, 1, 2 * c, 3 * c), {n * heads, ch, t});
  } else {
    // Legacy order: split into heads (3*ch channels each), then into q, k, v.
    const Tensor per_head = ag::reshape(qkv, {n * heads, 3 * ch, t});
    q = ag::slice(per_head, 1, 0, ch);
    k = ag::slice(per_head, 1, ch, 2 * ch);
    v = ag::slice(per_head, 1, 2 * ch, 3 * ch);
  }
  // softmax over keys of (q·k)/sqrt(ch); the reference splits the scale as ch^(-1/4) on
  // each of q and k, the same number up to rounding. Tokens go to the row axis:
  // (N*H, T, ch).
  const double scale = 1.0 / std::sqrt(static_cast<double>(ch));
  const Tensor a = ag::scaled_dot_product_attention(ag::transpose(q, 1, 2), ag::transpose(k, 1, 2),
                                                    ag::transpose(v, 1, 2), scale);  // (N*H, T, ch)
  const Tensor merged = ag::reshape(ag::transpose(a, 1, 2), {n, c, t});              // (N, C, T)
  const Tensor out = ag::add(xf, proj_out_->forward(merged));
  return ag::reshape(out, x.shape());
}

}  // namespace ldae::nn
