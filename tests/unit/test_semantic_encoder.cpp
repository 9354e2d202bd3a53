// The 2.5D AttentionSemanticEncoder (ldae/attention_semantic_encoder.h) and the linear probe
// (ldae/linear_probe.h): the published listing, shapes, the positional encoding, modes, bad
// inputs, and a PyTorch composition of ldae-reference 5.1 at a small configuration
// (tests/reference/networks/generate_networks.py).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "ldae/attention_semantic_encoder.h"
#include "ldae/linear_probe.h"
#include "ldae/presets.h"
#include "nn/init.h"
#include "nn/state_dict_listing.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"

namespace ldae {
namespace {

using nets::AttentionSemanticEncoder;
using nets::AttentionSemanticEncoderOptions;
using testing::expect_error;

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream s;
  s << f.rdbuf();
  return s.str();
}

std::string ref(const std::string& rel) {
  return std::string(LDAE_SOURCE_DIR) + "/tests/reference/" + rel;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(x.size(), y.size());
  double m = 0.0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

AttentionSemanticEncoderOptions small_options() {
  AttentionSemanticEncoderOptions o;
  o.emb_chans = 16;
  o.num_heads = 4;
  o.seq_len = 6;
  o.backbone_dims = {8, 12, 16};
  o.backbone_depths = {1, 1, 1};
  return o;
}

TEST(AttentionSemanticEncoder, PaperListingEqualsThePublishedOne) {
  nn::init::SkipInitialisation structure_only;
  Generator gen(0);
  AttentionSemanticEncoder enc(nets::attention_semantic_encoder_preset("paper"), gen);
  const std::string published = read_text(ref("state_dicts/attention_semantic_encoder.txt"));
  ASSERT_FALSE(published.empty());
  EXPECT_EQ(nn::state_dict_listing(enc), published);
  EXPECT_EQ(enc.parameter_count(), 53588065);
  // The paper preset is the published configuration.
  const auto p = nets::attention_semantic_encoder_preset("paper"),
             q = nets::paper_attention_semantic_encoder_options();
  EXPECT_EQ(p.seq_len, 128);
  EXPECT_EQ(p.backbone_depths, q.backbone_depths);
  EXPECT_EQ(p.emb_chans, 768);
  EXPECT_EQ(p.num_heads, 8);
}

TEST(AttentionSemanticEncoder, PresetsTakeTheirPresetsAxialSlices) {
  for (const std::string& name : nets::preset_names()) {
    const AttentionSemanticEncoderOptions o = nets::attention_semantic_encoder_preset(name);
    const Shape img = nets::preset_image_shape(name);
    EXPECT_EQ(o.seq_len, img[4]) << name;  // one row per axial slice
    EXPECT_EQ(o.backbone_dims.back(), o.emb_chans) << name;
    nets::convnext_feature_size(nets::backbone_options(o), img[2], img[3]);  // throws if too small
  }
  // The tiny encoder runs on the tiny image.
  Generator gen(1);
  AttentionSemanticEncoder enc(nets::attention_semantic_encoder_preset("tiny"), gen);
  enc.eval();
  const Tensor volume = rand(nets::preset_image_shape("tiny"), gen);  // (1, 1, 16, 20, 16)
  EXPECT_EQ(enc.forward(nets::axial_slices(volume)).shape(), (Shape{1, 32}));
}

TEST(AttentionSemanticEncoder, AxialSlicesPermuteXYZToZXY) {
  Generator gen(2);
  const Tensor v = rand({2, 1, 3, 4, 5}, gen, DType::F64);
  const Tensor s = nets::axial_slices(v);
  EXPECT_EQ(s.shape(), (Shape{2, 1, 5, 3, 4}));
  // s[b, 0, z, x, y] == v[b, 0, x, y, z]
  const auto vv = v.to_vector(), sv = s.to_vector();
  for (int64_t b = 0; b < 2; ++b)
    for (int64_t x = 0; x < 3; ++x)
      for (int64_t y = 0; y < 4; ++y)
        for (int64_t z = 0; z < 5; ++z)
          ASSERT_EQ(sv[((b * 5 + z) * 3 + x) * 4 + y], vv[((b * 3 + x) * 4 + y) * 5 + z]);
  expect_error(
      [&] {
        nets::axial_slices(rand({1, 3, 4, 5}, gen));
      },
      {"axial_slices", "(B, C, X, Y, Z)"});
}

TEST(AttentionSemanticEncoder, PositionalEncodingIsTheSinusoidTable) {
  const Tensor pe = nets::sinusoidal_positional_encoding(5, 6, DType::F64);
  EXPECT_EQ(pe.shape(), (Shape{1, 5, 6}));
  const auto v = pe.to_vector();
  for (int64_t p = 0; p < 5; ++p)
    for (int64_t i = 0; i < 3; ++i) {
      const double angle =
          static_cast<double>(p) / std::pow(10000.0, 2.0 * static_cast<double>(i) / 6.0);
      EXPECT_NEAR(v[p * 6 + 2 * i], std::sin(angle), 1e-14);
      EXPECT_NEAR(v[p * 6 + 2 * i + 1], std::cos(angle), 1e-14);
    }
  Generator gen(3);
  AttentionSemanticEncoder enc(small_options(), gen);
  const auto buffers = enc.named_buffers();
  ASSERT_EQ(buffers.size(), 1u);
  EXPECT_EQ(buffers[0].first, "positional_encoding.pe");
  EXPECT_EQ(buffers[0].second.shape(), (Shape{1, 6, 16}));
}

TEST(AttentionSemanticEncoder, ShapesEvalDeterminismAndTrainRandomness) {
  AttentionSemanticEncoderOptions o = small_options();
  o.layer_scale = 1.0;
  Generator gen(4);
  AttentionSemanticEncoder enc(o, gen, std::make_shared<Generator>(9));
  enc.to(DType::F64);
  const Tensor x = rand({3, 1, 5, 16, 20}, gen, DType::F64);
  enc.eval();
  const Tensor a = enc.forward(x);
  EXPECT_EQ(a.shape(), (Shape{3, 16}));
  EXPECT_EQ(max_abs_diff(a, enc.forward(x)), 0.0);
  // Fewer slices than seq_len are fine (the table's first rows).
  EXPECT_EQ(enc.forward(rand({1, 1, 2, 16, 20}, gen, DType::F64)).shape(), (Shape{1, 16}));
  // Each sample's output depends only on its own slices.
  const Tensor one = enc.forward(ag::slice(x, 0, 1, 2));
  EXPECT_LT(max_abs_diff(one, ag::slice(a, 0, 1, 2)), 1e-12);
  enc.train();
  const Tensor t1 = enc.forward(x), t2 = enc.forward(x);
  EXPECT_GT(max_abs_diff(t1, a), 1e-6);
  EXPECT_GT(max_abs_diff(t1, t2), 1e-6);
}

TEST(AttentionSemanticEncoder, GradientsReachEveryParameter) {
  Generator gen(5);
  AttentionSemanticEncoder enc(small_options(), gen);
  enc.to(DType::F64);
  enc.eval();
  const Tensor x = rand({2, 1, 3, 16, 20}, gen, DType::F64);
  const Tensor w = rand({2, 16}, gen, DType::F64);
  ag::backward(ag::sum(ag::mul(enc.forward(x), w)));
  for (const auto& [name, p] : enc.named_parameters()) {
    ASSERT_TRUE(p.grad().defined()) << name;
    double s = 0.0;
    for (double g : p.grad().to_vector()) s += std::abs(g);
    EXPECT_GT(s, 0.0) << name;
  }
}

TEST(AttentionSemanticEncoder, InputGradientMatchesFiniteDifferences) {
  AttentionSemanticEncoderOptions o;
  o.emb_chans = 8;
  o.num_heads = 2;
  o.seq_len = 3;
  o.backbone_dims = {8};
  o.backbone_depths = {1};
  o.layer_scale = 1.0;
  Generator gen(10);
  AttentionSemanticEncoder enc(o, gen);
  enc.to(DType::F64);
  enc.eval();
  const Tensor x = testing::leaf({1, 1, 3, 4, 4}, gen);  // 3 slices of 4x4 -> 1x1 maps
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& v) { return enc.forward(v[0]); },
                   std::vector<Tensor>{x});
}

TEST(AttentionSemanticEncoder, BadOptionsAndInputs) {
  Generator gen(6);
  AttentionSemanticEncoderOptions o = small_options();
  o.emb_chans = 32;
  expect_error([&] { AttentionSemanticEncoder(o, gen); },
               {"emb_chans (32)", "backbone_dims.back() (16)"});
  o = small_options();
  o.num_heads = 3;
  expect_error([&] { AttentionSemanticEncoder(o, gen); }, {"divisible by num_heads (3)"});
  o = small_options();
  o.backbone_depths = {1};
  expect_error([&] { AttentionSemanticEncoder(o, gen); }, {"same length"});
  AttentionSemanticEncoder enc(small_options(), gen);
  expect_error(
      [&] {
        enc.forward(rand({1, 2, 3, 16, 20}, gen));
      },
      {"one channel", "(1, 2, 3, 16, 20)"});
  expect_error([&] { enc.forward(rand({1, 3, 16, 20}, gen)); }, {"(B, 1, S, H, W)"});
  expect_error([&] { enc.forward(rand({1, 1, 7, 16, 20}, gen)); }, {"7 slices", "seq_len = 6"});
  expect_error([&] { enc.forward(rand({1, 1, 2, 8, 8}, gen)); }, {"too small"});
}

// A PyTorch composition of ldae-reference 5.1 (torchvision ConvNeXt, nn.MultiheadAttention,
// nn.LayerNorm; every parameter random), eval mode, float64.
TEST(AttentionSemanticEncoder, MatchesAPyTorchCompositionInFloat64) {
  const SafetensorsFile f =
      read_safetensors(ref("networks/attention_semantic_encoder_small_f64.safetensors"));
  EXPECT_EQ(f.metadata.at("op"), "\"module:attention_semantic_encoder\"");
  std::map<std::string, Tensor> state;
  for (const auto& [k, t] : f.tensors)
    if (k.rfind("param.", 0) == 0) state[k.substr(6)] = t;
  nn::init::SkipInitialisation skip;
  Generator gen(0);
  AttentionSemanticEncoder enc(small_options(), gen);
  enc.to(DType::F64);
  enc.load_state_dict(state, true);
  enc.eval();
  const Tensor out = enc.forward(f.tensors.at("in0"));
  const Tensor& expected = f.tensors.at("out");
  ASSERT_EQ(out.shape(), expected.shape());
  const auto a = out.to_vector(), b = expected.to_vector();
  for (size_t i = 0; i < a.size(); ++i)
    EXPECT_NEAR(a[i], b[i], 1e-10 * std::max(1.0, std::abs(b[i]))) << i;
}

TEST(AttentionSemanticEncoder, PublishedDuplicateBackboneKeysAreMergedAfterACheck) {
  Generator gen(11);
  AttentionSemanticEncoder enc(small_options(), gen);
  std::map<std::string, Tensor> published;
  NoGrad no_grad;  // plain copies of the weights
  for (const auto& [k, t] : enc.state_dict()) {
    published[k] = t.clone();
    if (k.rfind("backbone.backbone.", 0) == 0)
      published["slice_distributed.module.backbone." + k.substr(18)] = t.clone();
  }
  const auto merged = nets::drop_duplicate_backbone(published);
  EXPECT_EQ(merged.size(), enc.state_dict().size());
  EXPECT_TRUE(enc.load_state_dict(merged, true).ok());
  // A duplicate that differs, or one without its twin, is refused.
  const std::string k = "slice_distributed.module.backbone.features.0.0.bias";
  published[k] = add_scalar(published[k], 1e-3);
  expect_error([&] { nets::drop_duplicate_backbone(published); }, {k, "differs"});
  published.erase("backbone.backbone.features.0.0.bias");
  expect_error([&] { nets::drop_duplicate_backbone(published); }, {k, "no twin"});
}

// ---- LinearProbe ---------------------------------------------------------------------------

TEST(LinearProbe, KeysShapesAndIdentityNormalisationBeforeFit) {
  Generator gen(7);
  nets::LinearProbe probe(4, gen);
  EXPECT_EQ(nn::state_dict_listing(probe),
            "mean 4 buffer\nstd 4 buffer\nlinear.weight 1x4 param\nlinear.bias 1 "
            "param\ntotal_parameters 5\n");
  const Tensor y = rand({3, 4}, gen);
  const Tensor out = probe.forward(y);
  EXPECT_EQ(out.shape(), (Shape{3}));
}

TEST(LinearProbe, FitsPopulationStatisticsAndZScores) {
  Generator gen(8);
  nets::LinearProbe probe(3, gen);
  probe.to(DType::F64);
  // Feature 0: 1, 2, 3, 4 (mean 2.5, population std sqrt(1.25)); feature 1 constant 7;
  // feature 2: -1, 1, -1, 1 (mean 0, std 1).
  const Tensor train =
      Tensor::from_vector({1, 7, -1, 2, 7, 1, 3, 7, -1, 4, 7, 1}, {4, 3}, DType::F64);
  probe.fit_normalisation(train);
  const auto mean = probe.mean.to_vector(), sd = probe.std.to_vector();
  EXPECT_NEAR(mean[0], 2.5, 1e-15);
  EXPECT_NEAR(mean[1], 7.0, 1e-15);
  EXPECT_NEAR(mean[2], 0.0, 1e-15);
  EXPECT_NEAR(sd[0], std::sqrt(1.25), 1e-15);
  EXPECT_EQ(sd[1], 1.0);  // constant feature guarded
  EXPECT_NEAR(sd[2], 1.0, 1e-15);
  // forward = w . z + b with z the z-scores.
  {
    NoGrad no_grad;
    for (auto& [name, p] : probe.named_parameters()) {
      if (name == "linear.weight")
        p.copy_(Tensor::from_vector({0.5, 3.0, -2.0}, {1, 3}, DType::F64));
      if (name == "linear.bias") p.fill_(0.25);
    }
  }
  const Tensor y = Tensor::from_vector({4, 7, 1, 0, 9, 0}, {2, 3}, DType::F64);
  const auto out = probe.forward(y).to_vector();
  EXPECT_NEAR(out[0], 0.5 * (1.5 / std::sqrt(1.25)) + 3.0 * 0.0 - 2.0 * 1.0 + 0.25, 1e-14);
  EXPECT_NEAR(out[1], 0.5 * (-2.5 / std::sqrt(1.25)) + 3.0 * 2.0 - 2.0 * 0.0 + 0.25, 1e-14);
}

TEST(LinearProbe, BadInputs) {
  Generator gen(9);
  expect_error([&] { nets::LinearProbe(0, gen); }, {"LinearProbe", "positive"});
  nets::LinearProbe probe(3, gen);
  expect_error([&] { probe.fit_normalisation(rand({4, 2}, gen)); }, {"(M, 3)", "(4, 2)"});
  expect_error([&] { probe.fit_normalisation(Tensor::zeros({0, 3})); }, {"M >= 1"});
  expect_error([&] { probe.forward(rand({4}, gen)); }, {"(M, 3)"});
}

}  // namespace
}  // namespace ldae
