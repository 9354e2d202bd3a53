// The latent denoiser UNet of LDAE stage 2 (ldae-reference 4.1): the guided-diffusion /
// PDAE layout, with the published parameter names so that checkpoint keys match
// (tests/reference/state_dicts/unet.txt).
//
//   emb = time_embed(t)                                   TimeEmbedding: sinusoid, Linear, SiLU, Linear
//   input_blocks:  conv 3x3x3 (input_channel -> base), then per level
//                  num_residual_blocks_of_a_block x [ResBlock (+ AttentionBlock when the
//                  level's downsample factor ds is in attention_resolutions)], and between
//                  levels a ResBlock(down); every block's output is pushed on a skip stack
//   middle_block:  ResBlock, AttentionBlock, ResBlock
//   output_blocks: levels in reverse, (num_residual_blocks_of_a_block + 1) x
//                  [ResBlock(cat(h, skip.pop())) (+ AttentionBlock)], the last block of a
//                  level (but the first level) ending with a ResBlock(up)
//   out:           GroupNorm, SiLU, conv 3x3x3 (base -> input_channel, zero-initialised)
//
// Resampling: the published (1, 2, 2) for dims 3 (the first spatial axis is never
// resampled: a 16x20x16 latent goes 16x10x8 -> 16x5x4), or isotropic 2x2x2 with
// isotropic_resampling.
//
// The pieces (TimestepSequential, the block builders) are public so that the ShiftUNet
// (ldae/shift_unet.h) builds the same blocks under the same names.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "nn/blocks.h"
#include "nn/container.h"
#include "nn/conv.h"
#include "nn/embedding.h"
#include "nn/module.h"
#include "nn/norm.h"

namespace ldae::nets {

// Field names are the published constructor arguments.
struct UNetOptions {
  int64_t input_channel = 3;                      // latent channels (in and out)
  int64_t base_channel = 256;                     // width of level 0; time embedding is 4x this
  std::vector<int64_t> channel_multiplier = {1, 2, 3};  // width of level l = base * mult[l]
  int64_t num_residual_blocks_of_a_block = 2;     // ResBlocks per encoder level
  std::vector<int64_t> attention_resolutions = {2, 4};  // downsample factors with attention
  int64_t num_heads = 1;                          // used when head_channel == -1
  int64_t head_channel = -1;                      // > 0: heads of this width (num_heads ignored)
  bool use_new_attention_order = false;           // false: the published "legacy" order
  double dropout = 0.1;                           // in every ResBlock, train mode only
  int dims = 3;                                   // 2 or 3 spatial axes
  // Not a published argument: 2x2x2 resampling instead of the published (1, 2, 2)
  // (only for dims 3; 2D always resamples 2x2).
  bool isotropic_resampling = false;
  int64_t num_groups = 32;                        // GroupNorm groups (hard-coded 32 in the reference)
};

// Presets (each value commented in unet.cpp):
//   "paper":  the published configuration (487M parameters; latent 3x16x20x16);
//   "course": a CPU-sized network for the course's 3x16x20x16 latent of a 64x80x64 image;
//   "tiny":   a few channels, for tests and smoke runs.
// Throws ldae::Error naming the known presets for any other name.
UNetOptions unet_options(const std::string& preset);

// A sequence of UNet blocks numbered "0", "1", ... (guided-diffusion's
// TimestepEmbedSequential): each block gets what it needs (a conv only x, a ResBlock x and
// the time embedding, a ShiftResBlock also the semantic embedding).
class TimestepSequential : public nn::Module {
 public:
  void append(std::shared_ptr<nn::ConvNd> conv);
  void append(std::shared_ptr<nn::ResBlock> block);
  void append(std::shared_ptr<nn::ShiftResBlock> block);
  void append(std::shared_ptr<nn::AttentionBlock> block);

  // x: (N, C, spatial...), emb: (N, E) time embedding, emb_z: (N, E) semantic embedding
  // (needed only when the sequence holds a ShiftResBlock) -> (N, C', spatial').
  Tensor forward(const Tensor& x, const Tensor& emb, const Tensor& emb_z = Tensor()) const;

 private:
  struct Step {
    std::shared_ptr<nn::ConvNd> conv;
    std::shared_ptr<nn::ResBlock> res;
    std::shared_ptr<nn::ShiftResBlock> shift_res;
    std::shared_ptr<nn::AttentionBlock> attention;
  };
  void add(Step step, std::shared_ptr<nn::Module> module);
  std::vector<Step> steps_;
};

// The output head "out": children 0 GroupNorm, 1 SiLU, 2 conv 3x3x3 (zero-initialised).
class UNetHead : public nn::Module {
 public:
  UNetHead(const UNetOptions& o, int64_t in_channels, Generator& gen);
  // h: (N, base_channel, spatial...) -> (N, input_channel, spatial...)
  Tensor forward(const Tensor& h) const;

 private:
  std::shared_ptr<nn::GroupNorm> norm_;
  std::shared_ptr<nn::SiLU> act_;
  std::shared_ptr<nn::ConvNd> conv_;
};

// The blocks of a UNet built from options; ShiftUNet builds its shift branch with the
// same functions (semantic = true: ShiftResBlocks).
struct UNetBlocks {
  std::shared_ptr<nn::ModuleList> list;                   // registered as a child by the owner
  std::vector<std::shared_ptr<TimestepSequential>> blocks;  // the same blocks, typed
  const char* trace_name = "output_blocks";               // name in shape traces (nn/shape_trace.h)
};
struct EncoderPlan {
  std::vector<int64_t> skip_channels;  // channels of each pushed skip, in push order
  int64_t channels = 0;                // channels of the encoder output
  int64_t ds = 1;                      // downsample factor of the encoder output
};
UNetBlocks build_input_blocks(const UNetOptions& o, Generator& gen, const std::shared_ptr<Generator>& dropout_gen,
                              EncoderPlan* plan);
std::shared_ptr<TimestepSequential> build_middle_block(const UNetOptions& o, const EncoderPlan& plan,
                                                       bool semantic, Generator& gen,
                                                       const std::shared_ptr<Generator>& dropout_gen);
UNetBlocks build_output_blocks(const UNetOptions& o, const EncoderPlan& plan, bool semantic, Generator& gen,
                               const std::shared_ptr<Generator>& dropout_gen);
// The decoder pass: h from the middle block, skips as the encoder pushed them (popped
// from the back). emb_z undefined for a plain decoder.
Tensor run_output_blocks(const UNetBlocks& blocks, Tensor h, const std::vector<Tensor>& skips, const Tensor& emb,
                         const Tensor& emb_z = Tensor());

class UNet : public nn::Module {
 public:
  // gen: parameter initialisation; dropout_gen: dropout masks (null: a generator seeded
  // from gen's seed is made when dropout > 0).
  // Requires: channel widths divisible by num_groups, at least one level.
  UNet(const UNetOptions& options, Generator& gen, std::shared_ptr<Generator> dropout_gen = nullptr);

  // x_t: (N, input_channel, D, H, W) noisy latent, t: (N,) integer timesteps as numbers
  //   -> eps: (N, input_channel, D, H, W), the predicted noise.
  // Each resampled axis must be divisible by 2^(levels - 1).
  Tensor forward(const Tensor& x_t, const Tensor& t) const;

  const UNetOptions& options() const { return options_; }

 private:
  UNetOptions options_;
  std::shared_ptr<nn::TimeEmbedding> time_embed_;
  UNetBlocks input_blocks_, output_blocks_;
  std::shared_ptr<TimestepSequential> middle_block_;
  std::shared_ptr<UNetHead> out_;
};

// The shared dropout generator of a UNet/ShiftUNet (dropout_gen, or a new one).
std::shared_ptr<Generator> unet_dropout_generator(const UNetOptions& o, const Generator& gen,
                                                  std::shared_ptr<Generator> dropout_gen);

}  // namespace ldae::nets
