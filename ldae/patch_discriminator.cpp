#include "ldae/patch_discriminator.h"

#include "autograd/functions.h"
#include "nn/init.h"
#include "tensor/error.h"

namespace ldae::nets {

namespace {

const char* kOp = "PatchDiscriminator";

// One conv's output size along an axis: floor((n + 2 p - k) / s) + 1 (< 1: too small).
int64_t conv_size(int64_t n, int k, int s, int p) {
  const int64_t span = n + 2 * p - k;
  return span < 0 ? 0 : span / s + 1;
}

// The strides of the convs in forward order: initial 2, the layers 2 ... 2 1, final 1.
std::vector<int> conv_strides(const PatchDiscriminatorOptions& o) {
  std::vector<int> s = {2};
  for (int l = 0; l < o.num_layers_d; ++l) s.push_back(l == o.num_layers_d - 1 ? 1 : 2);
  s.push_back(1);
  return s;
}

// monai's ADN block: the norm "N" and the dropout "D", in that order (the activation "A"
// has no parameters: DiscConvBlock::forward applies it last).
class Adn : public nn::Module {
 public:
  Adn(std::shared_ptr<nn::BatchNorm> n, std::shared_ptr<nn::Dropout> d) {
    if (n) register_module("N", std::move(n));
    if (d) register_module("D", std::move(d));
  }
};

}  // namespace

PatchDiscriminatorOptions paper_patch_discriminator_options() {
  PatchDiscriminatorOptions o;
  o.num_channels = 64;  // config/aekl.yaml (the LightningModule default is 32)
  return o;
}

void check_patch_discriminator_options(const PatchDiscriminatorOptions& o) {
  check(o.spatial_dims >= 1 && o.spatial_dims <= 3, kOp,
        "spatial_dims must be 1, 2 or 3, got " + std::to_string(o.spatial_dims));
  check(o.num_layers_d >= 1, kOp,
        "num_layers_d must be >= 1, got " + std::to_string(o.num_layers_d));
  check(o.num_channels > 0 && o.in_channels > 0 && o.out_channels > 0, kOp,
        "num_channels, in_channels and out_channels must be positive");
  check(o.num_layers_d < 31 && (o.num_channels << o.num_layers_d) > 0, kOp,
        "num_layers_d " + std::to_string(o.num_layers_d) + " is too large");
  check(o.kernel_size >= 1, kOp, "kernel_size must be >= 1, got " + std::to_string(o.kernel_size));
  check(o.padding >= 0, kOp, "padding must be >= 0, got " + std::to_string(o.padding));
  check(o.negative_slope >= 0, kOp,
        "negative_slope must be >= 0, got " + std::to_string(o.negative_slope));
  check(o.norm == "BATCH" || o.norm == "NONE", kOp,
        "norm '" + o.norm + "' is not supported (supported: \"BATCH\", \"NONE\")");
  check(o.dropout >= 0 && o.dropout < 1, kOp,
        "dropout must be in [0, 1), got " + std::to_string(o.dropout));
}

std::vector<std::vector<int64_t>> patch_discriminator_sizes(const PatchDiscriminatorOptions& o,
                                                            const std::vector<int64_t>& spatial) {
  check_patch_discriminator_options(o);
  check(static_cast<int>(spatial.size()) == o.spatial_dims, kOp,
        "expected " + std::to_string(o.spatial_dims) + " spatial sizes, got " +
            std::to_string(spatial.size()));
  std::vector<std::vector<int64_t>> out;
  std::vector<int64_t> cur = spatial;
  for (int s : conv_strides(o)) {
    for (int64_t& n : cur) n = n < 1 ? 0 : conv_size(n, o.kernel_size, s, o.padding);
    out.push_back(cur);
  }
  return out;
}

Shape patch_discriminator_output_shape(const PatchDiscriminatorOptions& o, const Shape& input) {
  check(static_cast<int>(input.size()) == o.spatial_dims + 2, kOp,
        "expected an input (N, C, " + std::to_string(o.spatial_dims) + " spatial axes), got " +
            shape_str(input));
  const std::vector<int64_t> spatial(input.begin() + 2, input.end());
  const std::vector<int64_t> last = patch_discriminator_sizes(o, spatial).back();
  for (int64_t n : last) {
    check(n >= 1, kOp,
          "input " + shape_str(input) + " is too small: it gives no logits (1 per axis needed)");
  }
  Shape s = {input[0], o.out_channels};
  s.insert(s.end(), last.begin(), last.end());
  return s;
}

// ---- DiscConvBlock ------------------------------------------------------------------------

DiscConvBlock::DiscConvBlock(int rank, int64_t in, int64_t out, int kernel, int stride, int padding,
                             bool bias, const std::string& norm_name, double dropout, bool act,
                             double negative_slope, const std::shared_ptr<Generator>& dropout_gen,
                             Generator& gen)
    : act_(act), negative_slope_(negative_slope) {
  nn::ConvOptions co;
  co.kernel_size = {kernel};
  co.stride = {stride};
  co.padding = {padding};
  co.bias = bias;
  conv = register_module("conv", std::make_shared<nn::ConvNd>(rank, in, out, co, gen));
  nn::init::normal_(conv->weight, 0.0, 0.02, gen);
  if (conv->bias.defined()) nn::init::zeros_(conv->bias);
  const bool has_norm = norm_name == "BATCH";
  if (has_norm) {
    norm = std::make_shared<nn::BatchNorm>(out);
    nn::init::normal_(norm->weight, 1.0, 0.02, gen);
    nn::init::zeros_(norm->bias);
  }
  if (dropout > 0) dropout_ = std::make_shared<nn::Dropout>(dropout, dropout_gen);
  if (norm || dropout_) register_module("adn", std::make_shared<Adn>(norm, dropout_));
}

Tensor DiscConvBlock::forward(const Tensor& x) const {
  Tensor h = conv->forward(x);
  if (norm) h = norm->forward(h);
  if (dropout_) h = dropout_->forward(h);
  if (act_) h = ag::leaky_relu(h, negative_slope_);
  return h;
}

// ---- PatchDiscriminator -------------------------------------------------------------------

PatchDiscriminator::PatchDiscriminator(const PatchDiscriminatorOptions& o, Generator& gen)
    : options_(o) {
  check_patch_discriminator_options(o);
  // Dropout masks come from their own stream (seed derived from the init seed), as the UNet's.
  std::shared_ptr<Generator> dropout_gen;
  if (o.dropout > 0) dropout_gen = std::make_shared<Generator>(gen.seed ^ 0x5DEECE66DULL, 0);
  const std::vector<int> strides = conv_strides(o);
  auto add = [&](const std::string& name, int64_t in, int64_t out, int stride, bool bias,
                 const std::string& norm, double dropout, bool act) {
    auto block = std::make_shared<DiscConvBlock>(o.spatial_dims, in, out, o.kernel_size, stride,
                                                 o.padding, bias, norm, dropout, act,
                                                 o.negative_slope, dropout_gen, gen);
    layers_.push_back(register_module(name, block));
  };
  add("initial_conv", o.in_channels, o.num_channels, strides[0], true, "NONE", o.dropout, true);
  int64_t ch = o.num_channels;
  for (int l = 0; l < o.num_layers_d; ++l) {
    add(std::to_string(l), ch, ch * 2, strides[l + 1], o.bias, o.norm, o.dropout, true);
    ch *= 2;
  }
  add("final_conv", ch, o.out_channels, 1, true, "NONE", 0.0, false);
}

std::vector<Tensor> PatchDiscriminator::forward_all(const Tensor& x) const {
  check(x.dim() == options_.spatial_dims + 2 && x.size(1) == options_.in_channels, kOp,
        "expected input (N, " + std::to_string(options_.in_channels) + ", " +
            std::to_string(options_.spatial_dims) + " spatial axes), got " + shape_str(x.shape()));
  patch_discriminator_output_shape(options_, x.shape());  // throws when too small
  std::vector<Tensor> outs;
  Tensor h = x;
  for (const auto& layer : layers_) {
    h = layer->forward(h);
    outs.push_back(h);
  }
  return outs;
}

Tensor PatchDiscriminator::forward(const Tensor& x) const {
  return forward_all(x).back();
}

}  // namespace ldae::nets
