#include "ldae/convnext.h"

#include <string>

#include "autograd/functions.h"
#include "nn/activation.h"
#include "nn/shape_trace.h"
#include "nn/init.h"
#include "tensor/error.h"

namespace ldae::nets {

namespace {

std::string list_str(const std::vector<int64_t>& v) {
  std::string s = "[";
  for (size_t i = 0; i < v.size(); ++i) s += (i ? ", " : "") + std::to_string(v[i]);
  return s + "]";
}

// A child without parameters that stands for a torchvision module which has none (Permute,
// Flatten): keeps the published numbering of the Sequential around it.
class Placeholder : public nn::Module {};

// torchvision's init of a Conv2d or Linear inside ConvNeXt: weight trunc_normal(0, 0.02) in
// [-2, 2], bias 0.
void init_weight_bias(Tensor& weight, Tensor& bias, Generator& gen) {
  nn::init::trunc_normal_(weight, gen, 0.0, 0.02, -2.0, 2.0);
  if (bias.defined()) nn::init::zeros_(bias);
}

}  // namespace

ConvNeXtOptions convnext_tiny_options() {
  ConvNeXtOptions o;
  o.dims = {96, 192, 384, 768};
  o.depths = {3, 3, 9, 3};
  o.layer_scale = 1e-6;
  o.stochastic_depth_prob = 0.1;
  o.in_channels = 3;
  return o;
}

ConvNeXtOptions convnext_small_options() {
  ConvNeXtOptions o;
  o.dims = {96, 192, 384, 768};
  o.depths = {3, 3, 27, 3};
  o.layer_scale = 1e-6;
  o.stochastic_depth_prob = 0.4;
  o.in_channels = 3;
  return o;
}

void check_convnext_options(const ConvNeXtOptions& o) {
  check(!o.dims.empty(), "ConvNeXt", "dims is empty: at least one stage is needed");
  check(o.dims.size() == o.depths.size(), "ConvNeXt",
        "dims " + list_str(o.dims) + " and depths " + list_str(o.depths) +
            " must have the same length (one entry per stage)");
  for (size_t i = 0; i < o.dims.size(); ++i) {
    check(o.dims[i] > 0, "ConvNeXt", "dims must be positive, got " + list_str(o.dims));
    check(o.depths[i] > 0, "ConvNeXt", "depths must be positive, got " + list_str(o.depths));
  }
  check(o.layer_scale > 0.0, "ConvNeXt",
        "layer_scale must be positive, got " + std::to_string(o.layer_scale));
  check(o.stochastic_depth_prob >= 0.0 && o.stochastic_depth_prob <= 1.0, "ConvNeXt",
        "stochastic_depth_prob must be in [0, 1], got " + std::to_string(o.stochastic_depth_prob));
  check(o.in_channels > 0, "ConvNeXt",
        "in_channels must be positive, got " + std::to_string(o.in_channels));
}

std::vector<int64_t> convnext_feature_size(const ConvNeXtOptions& o, int64_t h, int64_t w) {
  const std::string input = std::to_string(h) + "x" + std::to_string(w);
  h /= 4;  // stem: kernel 4, stride 4, no padding
  w /= 4;
  check(h >= 1 && w >= 1, "ConvNeXt",
        "a " + input + " input is too small for the 4x4 stride-4 stem");
  for (size_t i = 1; i < o.dims.size(); ++i) {
    h /= 2;  // downsampling: kernel 2, stride 2, no padding
    w /= 2;
    check(h >= 1 && w >= 1, "ConvNeXt",
          "a " + input + " input is too small for " + std::to_string(o.dims.size()) +
              " stages: the downsampling to stage " + std::to_string(i) +
              " leaves an empty map (each stage after the first halves H and W, flooring)");
  }
  return {h, w};
}

Tensor grayscale_stem_weight(const Tensor& rgb_weight) {
  check(rgb_weight.dim() == 4 && rgb_weight.size(1) == 3, "grayscale_stem_weight",
        "expects an RGB stem weight (out, 3, kh, kw), got " + shape_str(rgb_weight.shape()));
  return ag::sum(rgb_weight, {1}, true);
}

// ---- LayerNorm2d ---------------------------------------------------------------------------

Tensor LayerNorm2d::forward(const Tensor& x) const {
  check(x.dim() == 4, "LayerNorm2d", "expects (N, C, H, W), got " + shape_str(x.shape()));
  const Tensor y = nn::LayerNorm::forward(ag::permute(x, {0, 2, 3, 1}));  // (N, H, W, C)
  return ag::permute(y, {0, 3, 1, 2});
}

// ---- CNBlock -------------------------------------------------------------------------------

CNBlock::CNBlock(int64_t channels, double layer_scale_value, double sd_prob, Generator& gen,
                 std::shared_ptr<Generator> drop_gen) {
  // Registration order = torchvision's state-dict order (own parameter first).
  layer_scale =
      register_parameter("layer_scale", Tensor::full({channels, 1, 1}, layer_scale_value));
  auto block = register_module("block", std::make_shared<nn::ModuleList>());
  nn::ConvOptions dw;
  dw.kernel_size = {7};
  dw.padding = {3};
  dw.groups = channels;
  dwconv_ = block->push_back(std::make_shared<nn::Conv2d>(channels, channels, dw, gen));  // 0
  block->push_back(std::make_shared<Placeholder>());                                   // 1 permute
  norm_ = block->push_back(std::make_shared<nn::LayerNorm>(Shape{channels}, 1e-6));    // 2
  fc1_ = block->push_back(std::make_shared<nn::Linear>(channels, 4 * channels, gen));  // 3
  block->push_back(std::make_shared<nn::GELU>("none"));                                // 4
  fc2_ = block->push_back(std::make_shared<nn::Linear>(4 * channels, channels, gen));  // 5
  block->push_back(std::make_shared<Placeholder>());  // 6 permute back
  drop_ = register_module("stochastic_depth",
                          std::make_shared<nn::StochasticDepth>(sd_prob, std::move(drop_gen)));
  init_weight_bias(dwconv_->weight, dwconv_->bias, gen);
  init_weight_bias(fc1_->weight, fc1_->bias, gen);
  init_weight_bias(fc2_->weight, fc2_->bias, gen);
}

Tensor CNBlock::forward(const Tensor& x) const {
  Tensor h = dwconv_->forward(x);    // (N, C, H, W)
  h = ag::permute(h, {0, 2, 3, 1});  // (N, H, W, C)
  h = norm_->forward(h);
  h = ag::gelu(fc1_->forward(h), "none");  // (N, H, W, 4C)
  h = fc2_->forward(h);                    // (N, H, W, C)
  h = ag::permute(h, {0, 3, 1, 2});        // (N, C, H, W)
  h = ag::mul(layer_scale, h);             // (C, 1, 1) broadcast
  return ag::add(x, drop_->forward(h));
}

// ---- ConvNeXt ------------------------------------------------------------------------------

ConvNeXt::ConvNeXt(const ConvNeXtOptions& o, Generator& gen, std::shared_ptr<Generator> drop_gen)
    : options_(o) {
  check_convnext_options(o);
  if (!drop_gen && o.stochastic_depth_prob > 0.0)  // a stream of its own, never the init numbers
    drop_gen = std::make_shared<Generator>(gen.seed ^ 0x9E3779B97F4A7C15ULL, 0);
  auto features = register_module("features", std::make_shared<nn::ModuleList>());

  auto stem = features->push_back(std::make_shared<nn::ModuleList>());  // features.0
  nn::ConvOptions stem_opt;
  stem_opt.kernel_size = {4};
  stem_opt.stride = {4};
  stem_conv_ =
      stem->push_back(std::make_shared<nn::Conv2d>(o.in_channels, o.dims[0], stem_opt, gen));
  init_weight_bias(stem_conv_->weight, stem_conv_->bias, gen);
  stem_norm_ = stem->push_back(std::make_shared<LayerNorm2d>(o.dims[0], 1e-6));

  int64_t total_blocks = 0;
  for (int64_t d : o.depths) total_blocks += d;
  int64_t block_id = 0;
  for (size_t s = 0; s < o.dims.size(); ++s) {
    auto stage = features->push_back(std::make_shared<nn::ModuleList>());  // features.(2s+1)
    stages_.emplace_back();
    for (int64_t b = 0; b < o.depths[s]; ++b, ++block_id) {
      // torchvision: p * block_id / (total - 1); a single block would divide by zero.
      const double sd = total_blocks > 1 ? o.stochastic_depth_prob * static_cast<double>(block_id) /
                                               (static_cast<double>(total_blocks) - 1.0)
                                         : 0.0;
      stages_.back().push_back(stage->push_back(std::make_shared<CNBlock>(
          o.dims[s], o.layer_scale, sd, gen, sd > 0.0 ? drop_gen : nullptr)));
    }
    if (s + 1 < o.dims.size()) {  // features.(2s+2): downsampling
      auto down = features->push_back(std::make_shared<nn::ModuleList>());
      down_norms_.push_back(down->push_back(std::make_shared<LayerNorm2d>(o.dims[s], 1e-6)));
      nn::ConvOptions d;
      d.kernel_size = {2};
      d.stride = {2};
      auto conv = down->push_back(std::make_shared<nn::Conv2d>(o.dims[s], o.dims[s + 1], d, gen));
      init_weight_bias(conv->weight, conv->bias, gen);
      down_convs_.push_back(conv);
    }
  }
  auto classifier = register_module("classifier", std::make_shared<nn::ModuleList>());
  head_norm_ =
      classifier->push_back(std::make_shared<LayerNorm2d>(o.dims.back(), 1e-6));  // classifier.0
  classifier->push_back(std::make_shared<Placeholder>());  // classifier.1 flatten; no classifier.2
}

Tensor ConvNeXt::forward(const Tensor& x) const {
  check(x.dim() == 4 && x.shape()[1] == options_.in_channels, "ConvNeXt",
        "expects (N, " + std::to_string(options_.in_channels) + ", H, W), got " +
            shape_str(x.shape()));
  convnext_feature_size(options_, x.shape()[2], x.shape()[3]);  // clear error for too small inputs
  Tensor h = stem_norm_->forward(stem_conv_->forward(x));       // (N, dims[0], H/4, W/4)
  nn::trace("features.0", "stem: conv 4x4 s4, LayerNorm2d", h);
  for (size_t s = 0; s < stages_.size(); ++s) {
    for (const auto& block : stages_[s]) h = block->forward(h);
    nn::trace("features", static_cast<int64_t>(2 * s + 1), "stage of CNBlocks", h);
    if (s + 1 < stages_.size()) {
      h = down_convs_[s]->forward(down_norms_[s]->forward(h));  // halves H, W
      nn::trace("features", static_cast<int64_t>(2 * s + 2), "LayerNorm2d, conv 2x2 s2", h);
    }
  }
  h = ag::mean(h, {2, 3}, true);  // avgpool: (N, C, 1, 1)
  h = head_norm_->forward(h);
  h = ag::reshape(h, {h.shape()[0], h.shape()[1]});  // flatten: (N, C)
  nn::trace("classifier", "avgpool, LayerNorm2d, flatten", h);
  return h;
}

}  // namespace ldae::nets
