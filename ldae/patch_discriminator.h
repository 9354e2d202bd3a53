// PatchDiscriminator: the 3D PatchGAN of LDAE's stage 1 (ldae-reference 2.2 and 12), rebuilt
// with monai-generative's (0.2.3) structure and parameter names so that published state
// dicts load with strict checks. Children, run in order:
//
//   initial_conv   conv k, stride 2, in -> num_channels, bias; LeakyReLU (no norm)
//   "0" ... "L-1"  L = num_layers_d layers, channels doubling: conv k (bias = `bias`) ->
//                  batch norm ("adn.N") -> dropout -> LeakyReLU; stride 2, except the
//                  last of them, stride 1
//   final_conv     conv k, stride 1, bias, no norm and no activation: the patch logits
//
// with padding `padding` everywhere. Each spatial size goes through
// floor((n + 2 padding - k) / stride) + 1 per conv: a 32^3 input gives 2^3 logits.
// Initialisation: conv weights N(0, 0.02), batch-norm weights N(1, 0.02), every bias 0.
// The paper configuration (3D, num_channels 64, 3 layers, 1 -> 1 channel, kernel 4,
// batch norm, no layer bias, padding 1) has 11,048,769 parameters.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/module.h"
#include "nn/norm.h"
#include "tensor/random.h"

namespace ldae::nets {

// Fields named as monai-generative's constructor arguments (activation: LEAKYRELU with
// `negative_slope`).
struct PatchDiscriminatorOptions {
  int spatial_dims = 3;       // 1, 2 or 3
  int num_layers_d = 3;       // >= 1
  int64_t num_channels = 32;  // channels of initial_conv; layer l has num_channels 2^(l+1)
  int64_t in_channels = 1;
  int64_t out_channels = 1;
  int kernel_size = 4;
  double negative_slope = 0.2;  // of the LeakyReLU activations
  std::string norm = "BATCH";   // "BATCH" or "NONE"
  bool bias = false;            // bias of the num_layers_d middle convs
  int padding = 1;
  double dropout = 0.0;  // in [0, 1)
};

// The paper configuration (ldae-reference 2.2; config disc_num_channels 64).
PatchDiscriminatorOptions paper_patch_discriminator_options();

// Throws ldae::Error naming the first bad option.
void check_patch_discriminator_options(const PatchDiscriminatorOptions& o);

// The spatial sizes of every layer's output for an input of spatial sizes `spatial`
// (o.spatial_dims entries), in forward_all's order; the last is the logits' size. An
// entry < 1 means the input is too small (forward would fail).
std::vector<std::vector<int64_t>> patch_discriminator_sizes(const PatchDiscriminatorOptions& o,
                                                            const std::vector<int64_t>& spatial);

// The logits' shape (N, out_channels, spatial') for an input shape (N, in_channels,
// spatial...); throws when the input is too small to give at least one logit per axis.
Shape patch_discriminator_output_shape(const PatchDiscriminatorOptions& o, const Shape& input);

// One monai `Convolution` block: child "conv", and "adn" holding the norm "N" (when there is
// one; the activation and dropout have no parameters).
class DiscConvBlock : public nn::Module {
 public:
  // norm: "BATCH" or "NONE"; act: apply LeakyReLU(negative_slope) last.
  DiscConvBlock(int rank, int64_t in, int64_t out, int kernel, int stride, int padding, bool bias,
                const std::string& norm, double dropout, bool act, double negative_slope,
                const std::shared_ptr<Generator>& dropout_gen, Generator& gen);

  // x: (N, in, spatial...) -> (N, out, spatial')
  Tensor forward(const Tensor& x) const;

  std::shared_ptr<nn::ConvNd> conv;
  std::shared_ptr<nn::BatchNorm> norm;  // null without norm

 private:
  std::shared_ptr<nn::Dropout> dropout_;  // null with p = 0
  bool act_;
  double negative_slope_;
};

class PatchDiscriminator : public nn::Module {
 public:
  PatchDiscriminator(const PatchDiscriminatorOptions& o, Generator& gen);  // throws on bad options

  // x: (N, in, spatial...) -> every layer's output in order (initial_conv, "0", ...,
  // final_conv); the last is the patch logits.
  std::vector<Tensor> forward_all(const Tensor& x) const;
  Tensor forward(const Tensor& x) const;  // the patch logits (N, out, spatial')

  const PatchDiscriminatorOptions& options() const { return options_; }

 private:
  PatchDiscriminatorOptions options_;
  std::vector<std::shared_ptr<DiscConvBlock>> layers_;  // in forward order
};

}  // namespace ldae::nets
