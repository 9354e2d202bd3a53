// AutoencoderKL: the stage-1 variational autoencoder of LDAE (ldae-reference 2.1, 2.3
// and 12), rebuilt with monai-generative's structure and parameter names so that the
// published checkpoints load with strict checks.
//
//   encoder:  conv3 in -> per level: num_res_blocks ResBlocks (+ attention if the level
//             asks for it), then a downsampling except after the last level
//             -> [non-local: ResBlock, attention, ResBlock] -> GroupNorm -> conv3 to
//             latent_channels (no SiLU before it, as published)
//   quant_conv_mu, quant_conv_log_sigma: 1x1 convs -> mu and log sigma^2 (clamped to
//             [-30, 20]); sigma = exp(log sigma^2 / 2)
//   post_quant_conv: 1x1 conv on z, then the decoder, the mirror of the encoder with
//             nearest x2 upsampling + conv3 instead of downsampling, and no output
//             activation.
//
// The paper configuration (3D, 1 -> 1 channel, num_channels {64, 128, 128, 128}, latent
// 3, 2 ResBlocks per level, 32 groups, no attention) maps 1x128x160x128 to a 3x16x20x16
// latent and has 13,766,248 parameters.
#pragma once
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "ldae/autoencoder_kl_blocks.h"
#include "nn/container.h"
#include "nn/module.h"
#include "nn/norm.h"

namespace ldae::nets {

// Fields named as the published constructor's arguments.
struct AutoencoderKLOptions {
  int spatial_dims = 3;                                  // 2 or 3
  int64_t in_channels = 1;
  int64_t out_channels = 1;
  std::vector<int64_t> num_channels = {32, 64, 64, 64};  // one entry per level
  int64_t latent_channels = 3;
  std::vector<int64_t> num_res_blocks = {2};             // per level, or one entry for all
  int64_t norm_num_groups = 32;                          // divides every num_channels entry
  double norm_eps = 1e-6;                                // the library default
  std::vector<bool> attention_levels = {false, false, true, true};  // per level (library default)
  bool with_encoder_nonlocal_attn = true;                // the library default
  bool with_decoder_nonlocal_attn = true;                // the library default
};

// The paper configuration of ldae-reference 2.1 (no attention anywhere).
AutoencoderKLOptions paper_autoencoder_kl_options();

// A chain of heterogeneous blocks under "blocks.0", "blocks.1", ... run in order.
class AeBlockChain : public nn::Module {
 public:
  // trace_name: how a shape trace (nn/shape_trace.h) names the blocks ("encoder.blocks").
  explicit AeBlockChain(const char* trace_name) : trace_name_(trace_name) {
    blocks_ = register_module("blocks", std::make_shared<nn::ModuleList>());
  }
  // x: (N, C_in, spatial...) -> (N, C_out, spatial') through every block in order.
  Tensor forward(const Tensor& x) const;

 protected:
  // Registers `block` as the next index and remembers to call its forward; `kind` names the
  // block in shape traces ("ResBlock 8->16").
  template <typename B>
  void add(std::shared_ptr<B> block, std::string kind) {
    blocks_->push_back(block);
    steps_.push_back([block](const Tensor& x) { return block->forward(x); });
    kinds_.push_back(std::move(kind));
  }

 private:
  const char* trace_name_;
  std::shared_ptr<nn::ModuleList> blocks_;
  std::vector<std::function<Tensor(const Tensor&)>> steps_;
  std::vector<std::string> kinds_;
};

class AeEncoder : public AeBlockChain {
 public:
  // x: (N, in_channels, spatial...) -> (N, latent_channels, spatial / 2^(levels-1))
  AeEncoder(const AutoencoderKLOptions& o, Generator& gen);
};

class AeDecoder : public AeBlockChain {
 public:
  // z: (N, latent_channels, spatial) -> (N, out_channels, spatial * 2^(levels-1))
  AeDecoder(const AutoencoderKLOptions& o, Generator& gen);
};

class AutoencoderKL : public nn::Module {
 public:
  // Throws ldae::Error on an inconsistent configuration (group counts, list lengths).
  AutoencoderKL(const AutoencoderKLOptions& options, Generator& gen);

  // x: (N, in, spatial...) -> (z_mu, z_sigma), both (N, latent, spatial').
  std::pair<Tensor, Tensor> encode(const Tensor& x) const;
  // z = z_mu + z_sigma * eps, eps ~ N(0, 1) drawn from gen (no gradient through eps).
  Tensor sample(const Tensor& z_mu, const Tensor& z_sigma, Generator& gen) const;
  // z: (N, latent, spatial') -> (N, out, spatial): post_quant_conv then the decoder.
  Tensor decode(const Tensor& z) const;
  // x -> decode(z_mu): the deterministic reconstruction.
  Tensor reconstruct(const Tensor& x) const;

  const AutoencoderKLOptions& options() const { return options_; }

 private:
  AutoencoderKLOptions options_;
  std::shared_ptr<AeEncoder> encoder_;
  std::shared_ptr<AeDecoder> decoder_;
  std::shared_ptr<AeConv> quant_conv_mu_, quant_conv_log_sigma_, post_quant_conv_;
};

// The shape encode gives for an image of shape (N, in, n...): every downsampling maps a
// size n to floor((n - 2) / 2) + 1, once per level but the last.
Shape autoencoder_kl_latent_shape(const AutoencoderKLOptions& o, const Shape& image);

// The KL term of the reference's loss (ldae-reference 2.3):
//   0.5 * sum over (C, spatial) of (mu^2 + sigma^2 - log sigma^2 - 1), averaged over N.
// z_mu, z_sigma: (N, latent, spatial...) -> scalar.
Tensor kl_loss(const Tensor& z_mu, const Tensor& z_sigma);

}  // namespace ldae::nets
