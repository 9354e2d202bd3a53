#include "ldae/autoencoder_kl.h"

#include <string>

#include "autograd/functions.h"
#include "nn/shape_trace.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace ldae::nets {

namespace {

// "8->16": channels in and out, for shape traces.
std::string arrow(int64_t in, int64_t out) { return std::to_string(in) + "->" + std::to_string(out); }

const char* kOp = "AutoencoderKL";

// Checks the options; returns num_res_blocks with one entry per level.
std::vector<int64_t> checked_res_blocks(const AutoencoderKLOptions& o) {
  const size_t levels = o.num_channels.size();
  check(o.spatial_dims == 2 || o.spatial_dims == 3, kOp, "spatial_dims must be 2 or 3");
  check(levels >= 1, kOp, "num_channels needs at least one level");
  check(o.in_channels > 0 && o.out_channels > 0 && o.latent_channels > 0, kOp,
        "in_channels, out_channels and latent_channels must be positive");
  check(o.norm_num_groups > 0, kOp, "norm_num_groups must be positive");
  for (int64_t c : o.num_channels)
    check(c > 0 && c % o.norm_num_groups == 0, kOp,
          "every num_channels entry must be a positive multiple of norm_num_groups (" +
              std::to_string(o.norm_num_groups) + "), got " + std::to_string(c));
  check(o.attention_levels.size() == levels, kOp,
        "attention_levels needs one entry per level (" + std::to_string(levels) + ")");
  std::vector<int64_t> res = o.num_res_blocks;
  if (res.size() == 1) res.assign(levels, res[0]);
  check(res.size() == levels, kOp, "num_res_blocks needs one entry or one per level");
  for (int64_t r : res) check(r >= 0, kOp, "num_res_blocks entries must be >= 0");
  return res;
}

}  // namespace

AutoencoderKLOptions paper_autoencoder_kl_options() {
  AutoencoderKLOptions o;
  o.spatial_dims = 3;
  o.in_channels = 1;
  o.out_channels = 1;
  o.num_channels = {64, 128, 128, 128};
  o.latent_channels = 3;
  o.num_res_blocks = {2};
  o.norm_num_groups = 32;
  o.norm_eps = 1e-6;
  o.attention_levels = {false, false, false, false};
  o.with_encoder_nonlocal_attn = false;
  o.with_decoder_nonlocal_attn = false;
  return o;
}

Tensor AeBlockChain::forward(const Tensor& x) const {
  Tensor h = x;  // (N, C, spatial...), changed block by block
  for (size_t i = 0; i < steps_.size(); ++i) {
    h = steps_[i](h);
    nn::trace(trace_name_, static_cast<int64_t>(i), kinds_[i].c_str(), h);
  }
  return h;
}

AeEncoder::AeEncoder(const AutoencoderKLOptions& o, Generator& gen) : AeBlockChain("encoder.blocks") {
  const std::vector<int64_t> res = checked_res_blocks(o);
  const int d = o.spatial_dims;
  const int64_t groups = o.norm_num_groups;
  const double eps = o.norm_eps;
  const size_t levels = o.num_channels.size();
  add(std::make_shared<AeConv>(d, o.in_channels, o.num_channels[0], 3, 1, 1, gen), "Conv 3 " + arrow(o.in_channels, o.num_channels[0]));
  int64_t ch = o.num_channels[0];
  for (size_t i = 0; i < levels; ++i) {
    for (int64_t r = 0; r < res[i]; ++r) {
      add(std::make_shared<AeResBlock>(d, ch, o.num_channels[i], groups, eps, gen), "ResBlock " + arrow(ch, o.num_channels[i]));
      ch = o.num_channels[i];
      if (o.attention_levels[i]) add(std::make_shared<AeAttention>(ch, groups, eps, gen), "Attention");
    }
    if (i + 1 < levels) add(std::make_shared<AeDownsample>(d, ch, gen), "Downsample (pad, conv s2)");
  }
  // (With num_res_blocks 0 at the last level ch may differ from num_channels.back(); the
  // published code assumes it does not, and so do we: the blocks below use ch.)
  if (o.with_encoder_nonlocal_attn) {
    add(std::make_shared<AeResBlock>(d, ch, ch, groups, eps, gen), "ResBlock (non-local)");
    add(std::make_shared<AeAttention>(ch, groups, eps, gen), "Attention (non-local)");
    add(std::make_shared<AeResBlock>(d, ch, ch, groups, eps, gen), "ResBlock (non-local)");
  }
  add(std::make_shared<nn::GroupNorm>(groups, ch, eps), "GroupNorm");
  add(std::make_shared<AeConv>(d, ch, o.latent_channels, 3, 1, 1, gen), "Conv 3 " + arrow(ch, o.latent_channels));
}

AeDecoder::AeDecoder(const AutoencoderKLOptions& o, Generator& gen) : AeBlockChain("decoder.blocks") {
  std::vector<int64_t> res = checked_res_blocks(o);
  const int d = o.spatial_dims;
  const int64_t groups = o.norm_num_groups;
  const double eps = o.norm_eps;
  const size_t levels = o.num_channels.size();
  // Level i of the decoder is level (levels - 1 - i) of the encoder.
  const std::vector<int64_t> chans(o.num_channels.rbegin(), o.num_channels.rend());
  const std::vector<bool> attn(o.attention_levels.rbegin(), o.attention_levels.rend());
  const std::vector<int64_t> blocks(res.rbegin(), res.rend());
  int64_t ch = chans[0];
  add(std::make_shared<AeConv>(d, o.latent_channels, ch, 3, 1, 1, gen), "Conv 3 " + arrow(o.latent_channels, ch));
  if (o.with_decoder_nonlocal_attn) {
    add(std::make_shared<AeResBlock>(d, ch, ch, groups, eps, gen), "ResBlock (non-local)");
    add(std::make_shared<AeAttention>(ch, groups, eps, gen), "Attention (non-local)");
    add(std::make_shared<AeResBlock>(d, ch, ch, groups, eps, gen), "ResBlock (non-local)");
  }
  for (size_t i = 0; i < levels; ++i) {
    for (int64_t r = 0; r < blocks[i]; ++r) {
      add(std::make_shared<AeResBlock>(d, ch, chans[i], groups, eps, gen), "ResBlock " + arrow(ch, chans[i]));
      ch = chans[i];
      if (attn[i]) add(std::make_shared<AeAttention>(ch, groups, eps, gen), "Attention");
    }
    if (i + 1 < levels) add(std::make_shared<AeUpsample>(d, ch, gen), "Upsample (nearest x2, conv)");
  }
  add(std::make_shared<nn::GroupNorm>(groups, ch, eps), "GroupNorm");
  add(std::make_shared<AeConv>(d, ch, o.out_channels, 3, 1, 1, gen), "Conv 3 " + arrow(ch, o.out_channels));
}

AutoencoderKL::AutoencoderKL(const AutoencoderKLOptions& options, Generator& gen) : options_(options) {
  checked_res_blocks(options);
  const int d = options.spatial_dims;
  const int64_t lat = options.latent_channels;
  // Registration order = the published state-dict order.
  encoder_ = register_module("encoder", std::make_shared<AeEncoder>(options, gen));
  decoder_ = register_module("decoder", std::make_shared<AeDecoder>(options, gen));
  quant_conv_mu_ = register_module("quant_conv_mu", std::make_shared<AeConv>(d, lat, lat, 1, 1, 0, gen));
  quant_conv_log_sigma_ =
      register_module("quant_conv_log_sigma", std::make_shared<AeConv>(d, lat, lat, 1, 1, 0, gen));
  post_quant_conv_ = register_module("post_quant_conv", std::make_shared<AeConv>(d, lat, lat, 1, 1, 0, gen));
}

std::pair<Tensor, Tensor> AutoencoderKL::encode(const Tensor& x) const {
  check(x.dim() == options_.spatial_dims + 2 && x.size(1) == options_.in_channels, kOp,
        "encode expects (N, " + std::to_string(options_.in_channels) + ", spatial...) with " +
            std::to_string(options_.spatial_dims) + " spatial axes");
  const Tensor h = encoder_->forward(x);                       // (N, latent, spatial')
  const Tensor z_mu = quant_conv_mu_->forward(h);              // (N, latent, spatial')
  Tensor log_var = quant_conv_log_sigma_->forward(h);          // (N, latent, spatial'): log sigma^2
  log_var = ag::clamp(log_var, -30.0, 20.0);
  const Tensor z_sigma = ag::exp(ag::mul_scalar(log_var, 0.5));  // (N, latent, spatial')
  nn::trace("quant_conv_mu", "z_mu", z_mu);
  nn::trace("quant_conv_log_sigma", "z_sigma = exp(log_var / 2)", z_sigma);
  return {z_mu, z_sigma};
}

Tensor AutoencoderKL::sample(const Tensor& z_mu, const Tensor& z_sigma, Generator& gen) const {
  const Tensor eps = randn(z_mu.shape(), gen, z_mu.dtype(), 0.0, 1.0, z_mu.device());  // (N, latent, spatial')
  return ag::add(z_mu, ag::mul(z_sigma, eps));
}

Tensor AutoencoderKL::decode(const Tensor& z) const {
  check(z.dim() == options_.spatial_dims + 2 && z.size(1) == options_.latent_channels, kOp,
        "decode expects (N, " + std::to_string(options_.latent_channels) + ", spatial...)");
  const Tensor h = post_quant_conv_->forward(z);  // (N, latent, spatial')
  nn::trace("post_quant_conv", "Conv 1", h);
  return decoder_->forward(h);  // (N, out, spatial)
}

Tensor AutoencoderKL::reconstruct(const Tensor& x) const {
  return decode(encode(x).first);  // x: (N, in, spatial) -> (N, out, spatial)
}

Shape autoencoder_kl_latent_shape(const AutoencoderKLOptions& o, const Shape& image) {
  check(static_cast<int>(image.size()) == o.spatial_dims + 2, kOp, "image shape needs (N, C, spatial...)");
  Shape latent = image;
  latent[1] = o.latent_channels;
  for (size_t level = 1; level < o.num_channels.size(); ++level)
    for (size_t a = 2; a < latent.size(); ++a) latent[a] = (latent[a] - 2) / 2 + 1;
  return latent;
}

Tensor kl_loss(const Tensor& z_mu, const Tensor& z_sigma) {
  check(z_mu.shape() == z_sigma.shape() && z_mu.dim() >= 2, "kl_loss", "z_mu and z_sigma must share a shape (N, C, ...)");
  const Tensor var = ag::mul(z_sigma, z_sigma);  // sigma^2
  // mu^2 + sigma^2 - log sigma^2 - 1, elementwise
  const Tensor terms = ag::add_scalar(ag::sub(ag::add(ag::mul(z_mu, z_mu), var), ag::log(var)), -1.0);
  std::vector<int64_t> dims;
  for (int64_t a = 1; a < z_mu.dim(); ++a) dims.push_back(a);
  const Tensor per_sample = ag::mul_scalar(ag::sum(terms, dims), 0.5);  // (N)
  return ag::mean(per_sample);                                          // scalar
}

}  // namespace ldae::nets
