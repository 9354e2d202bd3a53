// PatchDiscriminator (ldae/patch_discriminator.h): the published listing at the paper
// configuration, the shape rule (the published "32^3 input gives 2^3 logits"), the presets,
// batch norm in train and eval mode, the initialisation statistics and bad options.
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <functional>
#include <map>
#include <sstream>
#include <string>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "autograd/no_grad.h"
#include "ldae/patch_discriminator.h"
#include "ldae/presets.h"
#include "nn/init.h"
#include "nn/state_dict_listing.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace ldae;
using nets::PatchDiscriminator;
using nets::PatchDiscriminatorOptions;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A small 3D discriminator: 4 -> 8 -> 16 -> 32 channels, 3 layers.
PatchDiscriminatorOptions small_options() {
  PatchDiscriminatorOptions o = nets::paper_patch_discriminator_options();
  o.num_channels = 4;
  return o;
}

struct Moments {
  double mean = 0, std = 0;
  int64_t n = 0;
};

Moments moments(const Tensor& t) {
  Moments m;
  const std::vector<double> v = t.to_vector();
  m.n = static_cast<int64_t>(v.size());
  for (double x : v) m.mean += x;
  m.mean /= static_cast<double>(m.n);
  for (double x : v) m.std += (x - m.mean) * (x - m.mean);
  m.std = std::sqrt(m.std / static_cast<double>(m.n));
  return m;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

}  // namespace

TEST(PatchDiscriminator, PaperListingEqualsThePublishedOne) {
  nn::init::SkipInitialisation structure_only;  // 11M weights: only the names and shapes matter
  Generator gen(0);
  PatchDiscriminator model(nets::paper_patch_discriminator_options(), gen);
  const std::string published = read_text(std::string(LDAE_SOURCE_DIR) +
                                          "/tests/reference/state_dicts/patch_discriminator.txt");
  ASSERT_FALSE(published.empty());
  EXPECT_EQ(nn::state_dict_listing(model), published);
  EXPECT_EQ(model.parameter_count(), 11048769);
}

// ldae-reference 12: a 32^3 input gives 2^3 logits (32 -> 16 -> 8 -> 4 -> 3 -> 2).
TEST(PatchDiscriminator, ThirtyTwoCubedGivesTwoCubedLogits) {
  const PatchDiscriminatorOptions paper = nets::paper_patch_discriminator_options();
  const auto sizes = nets::patch_discriminator_sizes(paper, {32, 32, 32});
  ASSERT_EQ(sizes.size(), 5u);
  const std::vector<int64_t> want = {16, 8, 4, 3, 2};
  for (size_t i = 0; i < sizes.size(); ++i)
    EXPECT_EQ(sizes[i], std::vector<int64_t>(3, want[i])) << "layer " << i;
  EXPECT_EQ(nets::patch_discriminator_output_shape(paper, {2, 1, 32, 32, 32}),
            (Shape{2, 1, 2, 2, 2}));

  // The same through a real forward pass (fewer channels, same geometry).
  Generator gen(1);
  PatchDiscriminator model(small_options(), gen);
  const Tensor x = randn({2, 1, 32, 32, 32}, gen);
  const std::vector<Tensor> outs = model.forward_all(x);
  ASSERT_EQ(outs.size(), 5u);
  const std::vector<int64_t> channels = {4, 8, 16, 32, 1};
  for (size_t i = 0; i < outs.size(); ++i) {
    EXPECT_EQ(outs[i].shape(), (Shape{2, channels[i], want[i], want[i], want[i]})) << "layer " << i;
  }
  EXPECT_EQ(model.forward(x).shape(), (Shape{2, 1, 2, 2, 2}));
  // The activations are LeakyReLU(0.2): no value below 0.2 times the smallest pre-activation
  // can be told apart here, but every layer but the last has some negative outputs scaled down.
  for (size_t i = 0; i + 1 < outs.size(); ++i) {
    double lo = 0;
    for (double v : outs[i].to_vector()) lo = std::min(lo, v);
    EXPECT_LT(lo, 0.0) << "layer " << i;
  }
}

TEST(PatchDiscriminator, PresetsGiveLogitsOnTheirImages) {
  const std::vector<std::pair<std::string, Shape>> want = {
      {"tiny", {1, 1, 2, 3, 2}}, {"course", {1, 1, 6, 8, 6}}, {"paper", {1, 1, 14, 18, 14}}};
  for (const auto& [preset, shape] : want) {
    const PatchDiscriminatorOptions o = nets::patch_discriminator_preset(preset);
    EXPECT_EQ(nets::patch_discriminator_output_shape(o, nets::preset_image_shape(preset)), shape)
        << preset;
  }
  EXPECT_EQ(nets::patch_discriminator_preset("paper").num_channels, 64);
  EXPECT_EQ(nets::patch_discriminator_preset("course").num_channels, 32);
  // The tiny network really runs on the tiny image.
  Generator gen(2);
  PatchDiscriminator tiny(nets::patch_discriminator_preset("tiny"), gen);
  EXPECT_EQ(tiny.forward(rand({1, 1, 16, 20, 16}, gen)).shape(), (Shape{1, 1, 2, 3, 2}));
  EXPECT_THROW(nets::patch_discriminator_preset("huge"), Error);
}

// Train mode: batch statistics (a sample's output depends on the rest of the batch), the
// running statistics move and num_batches_tracked counts; eval mode: running statistics
// (samples are independent) and no buffer changes.
TEST(PatchDiscriminator, BatchNormTrainAndEval) {
  Generator gen(3);
  PatchDiscriminatorOptions o = small_options();
  o.num_layers_d = 2;
  PatchDiscriminator model(o, gen);
  model.to(DType::F64);
  const Tensor x = randn({3, 1, 16, 16, 16}, gen, DType::F64);
  const Tensor first = x.slice(0, 0, 1).contiguous();

  model.train();
  const Tensor y_batch = model.forward(x).detach();
  for (const auto& [name, t] : model.named_buffers()) {
    if (name.find("num_batches_tracked") != std::string::npos) {
      EXPECT_EQ(t.item(), 1.0) << name;
    } else if (name.find("running_mean") != std::string::npos) {
      EXPECT_GT(moments(t).std, 0.0) << name << " did not move";
    }
  }
  const Tensor y_alone = model.forward(first);  // another batch: other statistics
  double diff = 0;
  const std::vector<double> a = y_batch.slice(0, 0, 1).contiguous().to_vector(),
                            b = y_alone.to_vector();
  for (size_t i = 0; i < a.size(); ++i) diff = std::max(diff, std::abs(a[i] - b[i]));
  EXPECT_GT(diff, 1e-6);

  model.eval();
  std::map<std::string, std::vector<double>> before;
  for (const auto& [name, t] : model.named_buffers()) before[name] = t.to_vector();
  const Tensor e_batch = model.forward(x).detach(), e_alone = model.forward(first);
  for (const auto& [name, t] : model.named_buffers())
    EXPECT_EQ(t.to_vector(), before[name]) << name;
  const std::vector<double> ea = e_batch.slice(0, 0, 1).contiguous().to_vector(),
                            eb = e_alone.to_vector();
  for (size_t i = 0; i < ea.size(); ++i) EXPECT_NEAR(ea[i], eb[i], 1e-12);

  // Gradients reach every parameter in train mode.
  model.train();
  ag::backward(ag::sum(model.forward(x)));
  for (const auto& [name, p] : model.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    EXPECT_GT(moments(p.grad()).std + std::abs(moments(p.grad()).mean), 0.0) << name;
  }
}

// Float64 gradients through the whole network in train mode (batch statistics), checked by
// finite differences: input and every parameter, weights randomised (tiny 2D network).
TEST(PatchDiscriminator, GradientsMatchFiniteDifferences) {
  Generator gen(7);
  PatchDiscriminatorOptions o = small_options();
  o.spatial_dims = 2;
  o.num_channels = 2;
  o.num_layers_d = 2;
  PatchDiscriminator model(o, gen);
  model.to(DType::F64);
  {
    NoGrad no_grad;
    for (auto& [name, p] : model.named_parameters())
      p.copy_(rand(p.shape(), gen, DType::F64,
                   name.find("adn.N.weight") != std::string::npos ? 0.5 : -0.5,
                   name.find("adn.N.weight") != std::string::npos ? 1.5 : 0.5));
  }
  model.train();
  Tensor x = randn({2, 1, 16, 12}, gen, DType::F64).set_requires_grad();  // -> (2, 1, 2, 1)
  std::vector<Tensor> inputs = {x};
  for (const Tensor& p : model.parameters()) inputs.push_back(p);
  const size_t nparams = inputs.size() - 1;
  auto f = [&](const std::vector<Tensor>& in) { return model.forward(in[0]); };  // params in place
  ag::GradcheckOptions opt;
  opt.max_entries_per_input = 20;
  const ag::GradcheckResult r = ag::gradcheck(f, inputs, opt);
  EXPECT_TRUE(r.ok) << r.message;
  EXPECT_EQ(nparams, 10u);  // 2 conv biases, 4 conv weights, 2 x (BN weight, bias)
}

TEST(PatchDiscriminator, InitialisationStatistics) {
  Generator gen(4);
  PatchDiscriminator model(nets::patch_discriminator_preset("course"), gen);
  int64_t conv_weights = 0, bn_weights = 0;
  for (const auto& [name, t] : model.named_parameters()) {
    const Moments m = moments(t);
    if (name.find(".bias") != std::string::npos) {
      EXPECT_EQ(m.mean, 0.0) << name;
      EXPECT_EQ(m.std, 0.0) << name;
    } else if (name.find("adn.N.weight") != std::string::npos) {
      bn_weights += m.n;
      EXPECT_NEAR(m.mean, 1.0, 0.01) << name;
      EXPECT_NEAR(m.std, 0.02, 0.005) << name;
    } else {
      conv_weights += m.n;
      EXPECT_NEAR(m.mean, 0.0, 4 * 0.02 / std::sqrt(static_cast<double>(m.n)) + 1e-4) << name;
      EXPECT_NEAR(m.std, 0.02, m.n > 10000 ? 0.0005 : 0.004) << name;
    }
  }
  EXPECT_EQ(bn_weights, 64 + 128 + 256);
  EXPECT_GT(conv_weights, 2000000);
  for (const auto& [name, t] : model.named_buffers()) {
    const double want = name.find("running_var") != std::string::npos ? 1.0 : 0.0;
    for (double v : t.to_vector()) ASSERT_EQ(v, want) << name;
  }
  // The layers' convs have no bias (bias = false); initial and final convs have one.
  const auto state = model.state_dict();
  EXPECT_EQ(state.count("0.conv.bias"), 0u);
  EXPECT_EQ(state.count("initial_conv.conv.bias"), 1u);
  EXPECT_EQ(state.count("final_conv.conv.bias"), 1u);
}

TEST(PatchDiscriminator, TwoAndOneDimensionsAndNoNorm) {
  Generator gen(5);
  PatchDiscriminatorOptions o = small_options();
  o.spatial_dims = 2;
  o.norm = "NONE";
  o.bias = true;
  PatchDiscriminator model(o, gen);
  EXPECT_EQ(model.named_buffers().size(), 0u);
  EXPECT_EQ(model.state_dict().count("0.conv.bias"), 1u);
  EXPECT_EQ(model.forward(randn({2, 1, 32, 24}, gen)).shape(), (Shape{2, 1, 2, 1}));

  o.spatial_dims = 1;  // a 1D network (convs over a height-1 image), batch norm again
  o.norm = "BATCH";
  PatchDiscriminator line(o, gen);
  EXPECT_EQ(line.forward(randn({2, 1, 32}, gen)).shape(), (Shape{2, 1, 2}));
}

TEST(PatchDiscriminator, BadOptionsAndInputs) {
  Generator gen(6);
  auto build = [&](const std::function<void(PatchDiscriminatorOptions&)>& edit) {
    PatchDiscriminatorOptions o = small_options();
    edit(o);
    return error_of([&] { PatchDiscriminator m(o, gen); });
  };
  EXPECT_NE(build([](auto& o) { o.norm = "INSTANCE"; }).find("norm 'INSTANCE' is not supported"),
            std::string::npos);
  EXPECT_NE(build([](auto& o) { o.num_layers_d = 0; }).find("num_layers_d"), std::string::npos);
  EXPECT_NE(build([](auto& o) { o.spatial_dims = 4; }).find("spatial_dims"), std::string::npos);
  EXPECT_NE(build([](auto& o) { o.dropout = 1.0; }).find("dropout"), std::string::npos);
  EXPECT_NE(build([](auto& o) { o.kernel_size = 0; }).find("kernel_size"), std::string::npos);
  EXPECT_NE(build([](auto& o) { o.num_channels = 0; }).find("positive"), std::string::npos);

  PatchDiscriminator model(small_options(), gen);
  // 16^3: 8, 4, 2, 1, then the final conv gives 0: too small.
  EXPECT_NE(error_of([&] {
              model.forward(Tensor::zeros({1, 1, 16, 16, 16}));
            }).find("too small"),
            std::string::npos);
  EXPECT_THROW(model.forward(Tensor::zeros({1, 2, 32, 32, 32})), Error);  // 2 channels, wants 1
  EXPECT_THROW(model.forward(Tensor::zeros({1, 32, 32, 32})), Error);     // no batch axis
  EXPECT_THROW(nets::patch_discriminator_sizes(small_options(), {32, 32}), Error);
}
