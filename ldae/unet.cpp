#include "ldae/unet.h"

#include <algorithm>

#include "autograd/functions.h"
#include "nn/init.h"
#include "nn/shape_trace.h"

namespace ldae::nets {

// ---- Presets ---------------------------------------------------------------------------

UNetOptions unet_options(const std::string& preset) {
  UNetOptions o;  // the defaults are the paper's values
  if (preset == "paper") {
    o.input_channel = 3;                  // AutoencoderKL latent channels
    o.base_channel = 256;                 // levels 256, 512, 768
    o.channel_multiplier = {1, 2, 3};
    o.num_residual_blocks_of_a_block = 2;
    o.attention_resolutions = {2, 4};     // attention at 16x10x8 and 16x5x4
    o.num_heads = 1;                      // one head of full width
    o.head_channel = -1;
    o.use_new_attention_order = false;    // legacy order
    o.dropout = 0.1;
    o.dims = 3;
    o.isotropic_resampling = false;       // published (1, 2, 2)
    o.num_groups = 32;
    return o;
  }
  if (preset == "course") {
    // Latent 3x16x20x16 of a 64x80x64 image; small enough that the course demo's stage 2
    // takes a few hundred optimizer steps in minutes on a 2-core CPU (1.1 GMAC per forward).
    o.input_channel = 3;
    o.base_channel = 16;                  // levels 16, 32, 32
    o.channel_multiplier = {1, 2, 2};     // 16x20x16 -> 16x10x8 -> 16x5x4 (published resampling)
    o.num_residual_blocks_of_a_block = 1;
    o.attention_resolutions = {4};        // attention only at the coarsest level (320 tokens)
    o.num_heads = 1;
    o.head_channel = -1;
    o.use_new_attention_order = false;
    o.dropout = 0.1;
    o.dims = 3;
    o.isotropic_resampling = false;
    o.num_groups = 8;                     // every width (16, 32, 48, 64) divisible by 8
    return o;
  }
  if (preset == "tiny") {
    // A few channels, for tests and smoke runs (any latent with even H, W).
    o.input_channel = 3;
    o.base_channel = 8;                   // levels 8, 16
    o.channel_multiplier = {1, 2};
    o.num_residual_blocks_of_a_block = 1;
    o.attention_resolutions = {2};        // attention at the second level
    o.num_heads = 2;                      // exercise the multi-head path
    o.head_channel = -1;
    o.use_new_attention_order = false;
    o.dropout = 0.0;
    o.dims = 3;
    o.isotropic_resampling = false;
    o.num_groups = 4;                     // widths 8, 16, 24, 32 divisible by 4
    return o;
  }
  fail("unet_options", "unknown preset '" + preset + "' (known: paper, course, tiny)");
}

// ---- TimestepSequential ----------------------------------------------------------------

void TimestepSequential::add(Step step, std::shared_ptr<nn::Module> module) {
  register_module(std::to_string(steps_.size()), std::move(module));
  steps_.push_back(std::move(step));
}

void TimestepSequential::append(std::shared_ptr<nn::ConvNd> conv) {
  Step s;
  s.conv = conv;
  add(s, conv);
}
void TimestepSequential::append(std::shared_ptr<nn::ResBlock> block) {
  Step s;
  s.res = block;
  add(s, block);
}
void TimestepSequential::append(std::shared_ptr<nn::ShiftResBlock> block) {
  Step s;
  s.shift_res = block;
  add(s, block);
}
void TimestepSequential::append(std::shared_ptr<nn::AttentionBlock> block) {
  Step s;
  s.attention = block;
  add(s, block);
}

Tensor TimestepSequential::forward(const Tensor& x, const Tensor& emb, const Tensor& emb_z) const {
  // x: (N, C, spatial...) -> h: (N, C', spatial')
  Tensor h = x;
  for (const Step& s : steps_) {
    if (s.conv) {
      h = s.conv->forward(h);
    } else if (s.res) {
      h = s.res->forward(h, emb);
    } else if (s.shift_res) {
      check(emb_z.defined(), "TimestepSequential", "a ShiftResBlock needs the semantic embedding emb_z");
      h = s.shift_res->forward(h, emb, emb_z);
    } else {
      h = s.attention->forward(h);
    }
  }
  return h;
}

// ---- UNetHead ----------------------------------------------------------------------------

UNetHead::UNetHead(const UNetOptions& o, int64_t in_channels, Generator& gen) {
  norm_ = register_module("0", std::make_shared<nn::GroupNorm>(o.num_groups, in_channels));
  act_ = register_module("1", std::make_shared<nn::SiLU>());
  nn::ConvOptions c;
  c.kernel_size = {3};
  c.padding = {1};
  conv_ = register_module("2", std::make_shared<nn::ConvNd>(o.dims, in_channels, o.input_channel, c, gen));
  nn::init::zeros_(conv_->weight);  // zero-initialised: a fresh UNet predicts eps = 0
  nn::init::zeros_(conv_->bias);
}

Tensor UNetHead::forward(const Tensor& h) const {
  // h: (N, base, spatial...) -> (N, input_channel, spatial...)
  return conv_->forward(act_->forward(norm_->forward(h)));
}

// ---- Builders ----------------------------------------------------------------------------

namespace {

nn::ResBlockOptions res_options(const UNetOptions& o, int64_t in, int64_t out) {
  nn::ResBlockOptions r;
  r.channels = in;
  r.emb_channels = 4 * o.base_channel;  // time_embed_dim
  r.out_channels = out;
  r.dropout = o.dropout;
  r.dims = o.dims;
  r.num_groups = o.num_groups;
  if (o.dims == 3 && o.isotropic_resampling) r.resample_factors = {2, 2, 2};
  return r;  // resample_factors empty: the published (1, 2, 2) in 3D, (2, 2) in 2D
}

// A ResBlock or a ShiftResBlock appended to `seq`.
void append_res(TimestepSequential& seq, const nn::ResBlockOptions& r, bool semantic, Generator& gen,
                const std::shared_ptr<Generator>& dropout_gen) {
  if (semantic) {
    seq.append(std::make_shared<nn::ShiftResBlock>(r, gen, dropout_gen));
  } else {
    seq.append(std::make_shared<nn::ResBlock>(r, gen, dropout_gen));
  }
}

void append_attention(TimestepSequential& seq, const UNetOptions& o, int64_t channels, Generator& gen) {
  nn::AttentionBlockOptions a;
  a.channels = channels;
  a.num_heads = o.num_heads;
  a.num_head_channels = o.head_channel;
  a.num_groups = o.num_groups;
  a.use_new_attention_order = o.use_new_attention_order;
  seq.append(std::make_shared<nn::AttentionBlock>(a, gen));
}

bool has_attention(const UNetOptions& o, int64_t ds) {
  return std::find(o.attention_resolutions.begin(), o.attention_resolutions.end(), ds) !=
         o.attention_resolutions.end();
}

std::shared_ptr<TimestepSequential> push_block(UNetBlocks& b) {
  auto seq = b.list->push_back(std::make_shared<TimestepSequential>());
  b.blocks.push_back(seq);
  return seq;
}

}  // namespace

UNetBlocks build_input_blocks(const UNetOptions& o, Generator& gen, const std::shared_ptr<Generator>& dropout_gen,
                              EncoderPlan* plan) {
  check(!o.channel_multiplier.empty(), "UNet", "channel_multiplier is empty");
  check(o.base_channel > 0 && o.input_channel > 0 && o.num_residual_blocks_of_a_block > 0, "UNet",
        "base_channel, input_channel and num_residual_blocks_of_a_block must be positive");
  UNetBlocks b;
  b.list = std::make_shared<nn::ModuleList>();
  // input_blocks.0: the input conv, as wide as level 0 (guided-diffusion; base_channel only
  // when channel_multiplier[0] == 1, as in every preset)
  int64_t ch = o.base_channel * o.channel_multiplier[0], ds = 1;
  nn::ConvOptions c;
  c.kernel_size = {3};
  c.padding = {1};
  push_block(b)->append(std::make_shared<nn::ConvNd>(o.dims, o.input_channel, ch, c, gen));
  plan->skip_channels = {ch};
  const size_t levels = o.channel_multiplier.size();
  for (size_t level = 0; level < levels; ++level) {
    const int64_t width = o.base_channel * o.channel_multiplier[level];
    for (int64_t i = 0; i < o.num_residual_blocks_of_a_block; ++i) {
      auto seq = push_block(b);
      append_res(*seq, res_options(o, ch, width), false, gen, dropout_gen);
      ch = width;
      if (has_attention(o, ds)) append_attention(*seq, o, ch, gen);
      plan->skip_channels.push_back(ch);
    }
    if (level + 1 < levels) {  // downsample between levels by a ResBlock(down)
      nn::ResBlockOptions r = res_options(o, ch, ch);
      r.down = true;
      append_res(*push_block(b), r, false, gen, dropout_gen);
      ds *= 2;
      plan->skip_channels.push_back(ch);
    }
  }
  plan->channels = ch;
  plan->ds = ds;
  return b;
}

std::shared_ptr<TimestepSequential> build_middle_block(const UNetOptions& o, const EncoderPlan& plan,
                                                       bool semantic, Generator& gen,
                                                       const std::shared_ptr<Generator>& dropout_gen) {
  auto seq = std::make_shared<TimestepSequential>();
  append_res(*seq, res_options(o, plan.channels, plan.channels), semantic, gen, dropout_gen);
  append_attention(*seq, o, plan.channels, gen);
  append_res(*seq, res_options(o, plan.channels, plan.channels), semantic, gen, dropout_gen);
  return seq;
}

UNetBlocks build_output_blocks(const UNetOptions& o, const EncoderPlan& plan, bool semantic, Generator& gen,
                               const std::shared_ptr<Generator>& dropout_gen) {
  UNetBlocks b;
  b.list = std::make_shared<nn::ModuleList>();
  b.trace_name = semantic ? "shift_output_blocks" : "output_blocks";
  std::vector<int64_t> skips = plan.skip_channels;
  int64_t ch = plan.channels, ds = plan.ds;
  for (size_t l = o.channel_multiplier.size(); l-- > 0;) {
    const int64_t width = o.base_channel * o.channel_multiplier[l];
    for (int64_t i = 0; i <= o.num_residual_blocks_of_a_block; ++i) {
      const int64_t skip_ch = skips.back();
      skips.pop_back();
      auto seq = push_block(b);
      append_res(*seq, res_options(o, ch + skip_ch, width), semantic, gen, dropout_gen);
      ch = width;
      if (has_attention(o, ds)) append_attention(*seq, o, ch, gen);
      if (l > 0 && i == o.num_residual_blocks_of_a_block) {  // upsample to the next level
        nn::ResBlockOptions r = res_options(o, ch, ch);
        r.up = true;
        append_res(*seq, r, semantic, gen, dropout_gen);
        ds /= 2;
      }
    }
  }
  return b;
}

Tensor run_output_blocks(const UNetBlocks& blocks, Tensor h, const std::vector<Tensor>& skips, const Tensor& emb,
                         const Tensor& emb_z) {
  check(skips.size() == blocks.blocks.size(), "UNet", "decoder needs one skip per output block");
  for (size_t i = 0; i < blocks.blocks.size(); ++i) {
    const Tensor& skip = skips[skips.size() - 1 - i];  // popped in reverse push order
    // h: (N, C, s...), skip: (N, C_skip, s...) -> (N, C + C_skip, s...) -> block
    const Tensor joined = ag::cat({h, skip}, 1);
    nn::trace(blocks.trace_name, static_cast<int64_t>(i), "cat(h, skip popped)", joined);
    h = blocks.blocks[i]->forward(joined, emb, emb_z);
    nn::trace(blocks.trace_name, static_cast<int64_t>(i), "  -> output block", h);
  }
  return h;
}

std::shared_ptr<Generator> unet_dropout_generator(const UNetOptions& o, const Generator& gen,
                                                  std::shared_ptr<Generator> dropout_gen) {
  if (dropout_gen || o.dropout == 0.0) return dropout_gen;
  // A separate stream (seed derived from the init seed) so that masks never reuse init numbers.
  return std::make_shared<Generator>(gen.seed ^ 0x9E3779B97F4A7C15ULL, 0);
}

// ---- UNet --------------------------------------------------------------------------------

UNet::UNet(const UNetOptions& options, Generator& gen, std::shared_ptr<Generator> dropout_gen)
    : options_(options) {
  check(options.dims == 2 || options.dims == 3, "UNet", "dims must be 2 or 3");
  dropout_gen = unet_dropout_generator(options, gen, std::move(dropout_gen));
  // Registration order = the published state-dict order.
  time_embed_ = register_module("time_embed",
                                std::make_shared<nn::TimeEmbedding>(options.base_channel, 4 * options.base_channel, gen));
  EncoderPlan plan;
  input_blocks_ = build_input_blocks(options, gen, dropout_gen, &plan);
  register_module("input_blocks", input_blocks_.list);
  middle_block_ = register_module("middle_block", build_middle_block(options, plan, false, gen, dropout_gen));
  output_blocks_ = build_output_blocks(options, plan, false, gen, dropout_gen);
  register_module("output_blocks", output_blocks_.list);
  // The decoder ends at level 0's width.
  out_ = register_module("out", std::make_shared<UNetHead>(options, options.base_channel * options.channel_multiplier[0], gen));
}

Tensor UNet::forward(const Tensor& x_t, const Tensor& t) const {
  check(x_t.dim() == options_.dims + 2 && x_t.size(1) == options_.input_channel, "UNet",
        "expected x_t (N, " + std::to_string(options_.input_channel) + ", spatial...), got " + shape_str(x_t.shape()));
  check(t.dim() == 1 && t.size(0) == x_t.size(0), "UNet", "expected t of shape (N,), got " + shape_str(t.shape()));
  const Tensor emb = time_embed_->forward(t);  // (N, 4 * base)
  // encoder: x_t (N, C_in, D, H, W) -> h (N, base * mult[-1], D, H / ds, W / ds); skips kept
  std::vector<Tensor> skips;
  Tensor h = x_t;
  for (size_t i = 0; i < input_blocks_.blocks.size(); ++i) {
    h = input_blocks_.blocks[i]->forward(h, emb);
    skips.push_back(h);
    nn::trace("input_blocks", static_cast<int64_t>(i), "input block (skip pushed)", h);
  }
  h = middle_block_->forward(h, emb);                        // same shape
  nn::trace("middle_block", "ResBlock, attention, ResBlock", h);
  h = run_output_blocks(output_blocks_, h, skips, emb);      // (N, base, D, H, W)
  const Tensor eps = out_->forward(h);                       // eps: (N, C_in, D, H, W)
  nn::trace("out", "GroupNorm, SiLU, conv: eps", eps);
  return eps;
}

}  // namespace ldae::nets
