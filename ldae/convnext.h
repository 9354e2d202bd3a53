// ConvNeXt (Liu et al. 2022) with torchvision 0.14's module layout, so that the published
// semantic encoder's backbone (ConvNeXt-Small with a 1-channel stem and no final Linear,
// ldae-reference 5.1) loads with its state-dict keys (tests/reference/state_dicts/convnext.txt):
//
//   features.0       stem: Conv2d(in, dims[0], 4, stride 4, bias), LayerNorm2d (eps 1e-6)
//   features.(2i+1)  stage i: depths[i] CNBlocks of width dims[i]
//   features.(2i+2)  between stages: LayerNorm2d(dims[i]), Conv2d(dims[i], dims[i+1], 2,
//                    stride 2)
//   avgpool          global average over H, W
//   classifier.0     LayerNorm2d(dims.back()); classifier.1 flatten; the published encoder
//                    replaces the final Linear (classifier.2) by the identity: no such key.
//
// CNBlock(C):  out = x + stochastic_depth(layer_scale * block(x)), block =
//   0 depthwise Conv2d 7x7 pad 3 (groups C), 1 permute to (N, H, W, C), 2 LayerNorm(C, eps 1e-6),
//   3 Linear(C, 4C), 4 GELU (exact), 5 Linear(4C, C), 6 permute back;
//   layer_scale: (C, 1, 1), initialised to options.layer_scale. Block b of all sum(depths)
//   blocks (counted over every stage from 0) drops with p = stochastic_depth_prob * b /
//   (sum(depths) - 1) (p = 0 for a single block, where torchvision would divide by zero).
//
// Spatial sizes: the stem divides by 4 and each downsampling by 2, flooring (conv without
// padding): 128x160 -> 32x40 -> 16x20 -> 8x10 -> 4x5. Each size must stay >= 1.
#pragma once
#include <memory>
#include <vector>

#include "nn/container.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"
#include "nn/stochastic_depth.h"
#include "tensor/random.h"

namespace ldae::nets {

// Field names as the module:convnext reference-case metadata (reference-cases.md).
struct ConvNeXtOptions {
  std::vector<int64_t> dims = {96, 192, 384, 768};  // width of each stage
  std::vector<int64_t> depths = {3, 3, 9, 3};       // CNBlocks of each stage
  double layer_scale = 1e-6;                        // initial value of every layer_scale
  double stochastic_depth_prob = 0.1;               // drop probability of the last block
  int64_t in_channels = 3;                          // stem input channels (1: grayscale)
};

ConvNeXtOptions convnext_tiny_options();   // torchvision convnext_tiny: depths 3,3,9,3, sd 0.1
ConvNeXtOptions convnext_small_options();  // torchvision convnext_small: depths 3,3,27,3, sd 0.4

// Throws ldae::Error unless dims and depths are non-empty, of equal length and positive,
// layer_scale > 0, stochastic_depth_prob in [0, 1] and in_channels > 0.
void check_convnext_options(const ConvNeXtOptions& o);

// The (H', W') of the last stage's feature map for an (H, W) input; throws ldae::Error
// naming the stage where a size would drop to 0.
std::vector<int64_t> convnext_feature_size(const ConvNeXtOptions& o, int64_t h, int64_t w);

// The published encoder's 1-channel stem from an RGB (ImageNet) one (ldae-reference 5.1):
// the sum of the three input-channel kernels. rgb_weight: (out, 3, kh, kw) -> (out, 1, kh, kw).
Tensor grayscale_stem_weight(const Tensor& rgb_weight);

// torchvision's LayerNorm2d: a LayerNorm over the channels of (N, C, H, W) (it permutes to
// channels-last, normalises, and permutes back). Parameters weight (C), bias (C).
class LayerNorm2d : public nn::LayerNorm {
 public:
  LayerNorm2d(int64_t channels, double eps) : nn::LayerNorm({channels}, eps) {}
  // x: (N, C, H, W) -> (N, C, H, W)
  Tensor forward(const Tensor& x) const;
};

// One ConvNeXt block (see the file comment). Registers layer_scale, block, stochastic_depth.
class CNBlock : public nn::Module {
 public:
  CNBlock(int64_t channels, double layer_scale, double sd_prob, Generator& gen,
          std::shared_ptr<Generator> drop_gen);
  // x: (N, C, H, W) -> (N, C, H, W)
  Tensor forward(const Tensor& x) const;

  Tensor layer_scale;  // (C, 1, 1)

 private:
  std::shared_ptr<nn::Conv2d> dwconv_;
  std::shared_ptr<nn::LayerNorm> norm_;
  std::shared_ptr<nn::Linear> fc1_, fc2_;
  std::shared_ptr<nn::StochasticDepth> drop_;
};

class ConvNeXt : public nn::Module {
 public:
  // gen: parameter initialisation (as torchvision: Conv2d/Linear weights trunc_normal std
  // 0.02 in [-2, 2], biases 0, LayerNorms 1/0; skipped under nn::init::SkipInitialisation).
  // drop_gen: stochastic-depth masks (null: a generator seeded from gen's seed is made
  // when stochastic_depth_prob > 0).
  ConvNeXt(const ConvNeXtOptions& o, Generator& gen, std::shared_ptr<Generator> drop_gen = nullptr);

  // x: (N, in_channels, H, W) -> (N, dims.back()): the pooled, normalised feature.
  Tensor forward(const Tensor& x) const;

  const ConvNeXtOptions& options() const { return options_; }

 private:
  ConvNeXtOptions options_;
  std::shared_ptr<nn::Conv2d> stem_conv_;
  std::shared_ptr<LayerNorm2d> stem_norm_;
  std::vector<std::vector<std::shared_ptr<CNBlock>>> stages_;
  std::vector<std::shared_ptr<LayerNorm2d>> down_norms_;
  std::vector<std::shared_ptr<nn::Conv2d>> down_convs_;
  std::shared_ptr<LayerNorm2d> head_norm_;
};

}  // namespace ldae::nets
