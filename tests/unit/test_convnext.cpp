// ConvNeXt (ldae/convnext.h) and stochastic depth (nn/stochastic_depth.h): the published
// listing, shapes and spatial sizes, initialisation, modes, bad options, and the output of
// torchvision 0.14's ConvNeXt at a small configuration (tests/reference/networks/).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <sstream>
#include <string>

#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "ldae/convnext.h"
#include "ldae/presets.h"
#include "nn/init.h"
#include "nn/state_dict_listing.h"
#include "nn/stochastic_depth.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"

namespace ldae {
namespace {

using nets::ConvNeXt;
using nets::ConvNeXtOptions;
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

ConvNeXtOptions small_options() {
  ConvNeXtOptions o;
  o.dims = {8, 16, 24};
  o.depths = {1, 2, 1};
  o.in_channels = 1;
  return o;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const auto x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(x.size(), y.size());
  double m = 0.0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::abs(x[i] - y[i]));
  return m;
}

// ---- Stochastic depth ----------------------------------------------------------------------

TEST(StochasticDepth, EvalAndZeroProbabilityAreTheIdentity) {
  Generator gen(1);
  const Tensor x = rand({6, 3, 4}, gen, DType::F64);
  Generator g(5);
  EXPECT_EQ(max_abs_diff(nn::stochastic_depth(x, 0.5, false, g), x), 0.0);
  EXPECT_EQ(max_abs_diff(nn::stochastic_depth(x, 0.0, true, g), x), 0.0);
  EXPECT_EQ(g.offset, 0u);  // nothing drawn
  nn::StochasticDepth m(0.5, std::make_shared<Generator>(3));
  m.eval();
  EXPECT_EQ(max_abs_diff(m.forward(x), x), 0.0);
}

TEST(StochasticDepth, DropsWholeSamplesAndRescalesTheKeptOnes) {
  Generator gen(2);
  const int64_t n = 20000;
  const double p = 0.3;
  const Tensor x = add_scalar(rand({n, 2, 3}, gen, DType::F64), 1.0);  // in [1, 2): never 0
  Generator g(7);
  const Tensor y = nn::stochastic_depth(x, p, true, g);
  EXPECT_EQ(g.offset, static_cast<uint64_t>(n));  // one draw per sample
  const auto xv = x.to_vector(), yv = y.to_vector();
  int64_t kept = 0;
  for (int64_t s = 0; s < n; ++s) {
    const double ratio = yv[s * 6] / xv[s * 6];
    ASSERT_TRUE(ratio == 0.0 || std::abs(ratio - 1.0 / (1.0 - p)) < 1e-12) << ratio;
    for (int64_t j = 1; j < 6; ++j)  // the whole sample shares the decision
      ASSERT_NEAR(yv[s * 6 + j], ratio * xv[s * 6 + j], 1e-12);
    kept += ratio != 0.0;
  }
  const double rate = static_cast<double>(kept) / static_cast<double>(n);
  // Binomial(20000, 0.7): standard deviation 0.0032 of the rate; 5 sigma.
  EXPECT_NEAR(rate, 1.0 - p, 0.016);
  // The mean is preserved in expectation: E[y] = E[x].
  double sx = 0.0, sy = 0.0;
  for (size_t i = 0; i < xv.size(); ++i) sx += xv[i], sy += yv[i];
  EXPECT_NEAR(sy / sx, 1.0, 0.03);
}

TEST(StochasticDepth, SameGeneratorStateSameMask) {
  Generator gen(3);
  const Tensor x = rand({64, 5}, gen, DType::F64);
  Generator a(11, 4), b(11, 4);
  EXPECT_EQ(
      max_abs_diff(nn::stochastic_depth(x, 0.5, true, a), nn::stochastic_depth(x, 0.5, true, b)),
      0.0);
  Generator c(12, 4);
  EXPECT_GT(
      max_abs_diff(nn::stochastic_depth(x, 0.5, true, a), nn::stochastic_depth(x, 0.5, true, c)),
      0.0);
}

TEST(StochasticDepth, ProbabilityOneZeroesEverything) {
  Generator gen(4), g(1);
  const Tensor x = rand({5, 3}, gen, DType::F64);
  for (double v : nn::stochastic_depth(x, 1.0, true, g).to_vector()) EXPECT_EQ(v, 0.0);
}

TEST(StochasticDepth, GradientIsTheMaskedScale) {
  Generator gen(5);
  const Tensor x = testing::leaf({4, 3}, gen);
  const Tensor keep = Tensor::from_vector({1, 0, 0, 1}, {4}, DType::F64);
  EXPECT_GRADCHECK(
      [&](const std::vector<Tensor>& v) { return nn::stochastic_depth_with_mask(v[0], keep, 0.2); },
      std::vector<Tensor>{x});
}

TEST(StochasticDepth, BadArguments) {
  Generator gen(6);
  const Tensor x = rand({3, 2}, gen);
  expect_error([&] { nn::stochastic_depth(x, 1.5, true, gen); }, {"stochastic_depth", "[0, 1]"});
  expect_error([&] { nn::stochastic_depth(x, -0.1, false, gen); }, {"[0, 1]"});
  expect_error([&] { nn::StochasticDepth(0.2, nullptr); }, {"StochasticDepth", "generator"});
  expect_error([&] { nn::stochastic_depth_with_mask(x, Tensor::ones({2}), 0.1); },
               {"keep mask", "(3)"});
}

// ---- ConvNeXt ------------------------------------------------------------------------------

TEST(ConvNeXt, PaperListingEqualsThePublishedOne) {
  nn::init::SkipInitialisation structure_only;
  Generator gen(0);
  ConvNeXt net(nets::convnext_preset("paper"), gen);
  const std::string published = read_text(ref("state_dicts/convnext.txt"));
  ASSERT_FALSE(published.empty());
  EXPECT_EQ(nn::state_dict_listing(net), published);
  EXPECT_EQ(net.parameter_count(), 49451616);
}

TEST(ConvNeXt, TorchvisionPresetsMatchTheirDefinitions) {
  const ConvNeXtOptions t = nets::convnext_tiny_options(), s = nets::convnext_small_options();
  EXPECT_EQ(t.depths, (std::vector<int64_t>{3, 3, 9, 3}));
  EXPECT_EQ(s.depths, (std::vector<int64_t>{3, 3, 27, 3}));
  EXPECT_EQ(t.dims, (std::vector<int64_t>{96, 192, 384, 768}));
  EXPECT_DOUBLE_EQ(t.stochastic_depth_prob, 0.1);
  EXPECT_DOUBLE_EQ(s.stochastic_depth_prob, 0.4);
  EXPECT_EQ(s.in_channels, 3);
  // The encoder's backbone = convnext_small with a 1-channel stem.
  ConvNeXtOptions paper = nets::convnext_preset("paper");
  EXPECT_EQ(paper.in_channels, 1);
  paper.in_channels = 3;
  EXPECT_EQ(paper.dims, s.dims);
  EXPECT_EQ(paper.depths, s.depths);
  EXPECT_DOUBLE_EQ(paper.stochastic_depth_prob, s.stochastic_depth_prob);
}

TEST(ConvNeXt, FeatureSizesFloorLikeTorchvision) {
  const ConvNeXtOptions paper = nets::convnext_preset("paper");
  EXPECT_EQ(nets::convnext_feature_size(paper, 128, 160),
            (std::vector<int64_t>{4, 5}));  // ldae-reference 5.1
  EXPECT_EQ(nets::convnext_feature_size(paper, 64, 80), (std::vector<int64_t>{2, 2}));
  EXPECT_EQ(nets::convnext_feature_size(small_options(), 33, 43),
            (std::vector<int64_t>{2, 2}));  // 8x10 -> 4x5 -> 2x2
  expect_error([&] { nets::convnext_feature_size(paper, 16, 20); }, {"16x20", "stage 3"});
  expect_error([&] { nets::convnext_feature_size(paper, 3, 100); }, {"stem"});
  // Every preset's backbone takes its preset's axial slices (X x Y of the image).
  for (const std::string& p : nets::preset_names()) {
    const Shape img = nets::preset_image_shape(p);
    const auto hw = nets::convnext_feature_size(nets::convnext_preset(p), img[2], img[3]);
    EXPECT_GE(hw[0], 1) << p;
  }
}

TEST(ConvNeXt, ShapesAndKeysOfASmallNetwork) {
  Generator gen(1);
  ConvNeXt net(small_options(), gen);
  const Tensor x = rand({3, 1, 32, 40}, gen);
  net.eval();
  EXPECT_EQ(net.forward(x).shape(), (Shape{3, 24}));
  const std::string listing = "\n" + nn::state_dict_listing(net);
  for (const char* key :
       {"features.0.0.weight 8x1x4x4 param", "features.1.0.layer_scale 8x1x1 param",
        "features.2.1.weight 16x8x2x2 param", "features.3.1.block.5.weight 16x64 param",
        "features.5.0.block.0.weight 24x1x7x7 param", "classifier.0.bias 24 param"})
    EXPECT_NE(listing.find(std::string("\n") + key), std::string::npos) << key;
  EXPECT_EQ(listing.find("classifier.2"), std::string::npos);
  EXPECT_EQ(listing.find("features.6"), std::string::npos);
}

TEST(ConvNeXt, InitialisationFollowsTorchvision) {
  ConvNeXtOptions o = small_options();
  o.dims = {32, 64, 64};
  o.layer_scale = 0.25;
  Generator gen(2);
  ConvNeXt net(o, gen);
  for (const auto& [name, t] : net.named_parameters()) {
    const auto v = t.to_vector();
    const bool is_norm = name.find("features.0.1.") == 0 || name.find("classifier.0.") == 0 ||
                         name.find(".block.2.") != std::string::npos ||
                         (name.find("features.2.0.") == 0 || name.find("features.4.0.") == 0);
    if (name.find("layer_scale") != std::string::npos) {
      for (double x : v) ASSERT_EQ(x, 0.25) << name;
    } else if (name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0) {
      for (double x : v) ASSERT_EQ(x, 0.0) << name;
    } else if (is_norm) {
      for (double x : v) ASSERT_EQ(x, 1.0) << name;
    } else {  // conv / linear weight: N(0, 0.02) truncated at +-2
      double s2 = 0.0;
      for (double x : v) {
        ASSERT_LE(std::abs(x), 2.0);
        s2 += x * x;
      }
      const double sd = std::sqrt(s2 / static_cast<double>(v.size()));
      if (v.size() >= 1000) {
        EXPECT_NEAR(sd, 0.02, 0.002) << name;
      }
    }
  }
}

TEST(ConvNeXt, TruncatedNormalRejectsOutsideTheBounds) {
  Generator gen(3);
  Tensor t = Tensor::empty({20000}, DType::F64);
  nn::init::trunc_normal_(t, gen, 0.0, 1.0, -0.5, 1.0);
  double mean = 0.0;
  for (double x : t.to_vector()) {
    ASSERT_GE(x, -0.5);
    ASSERT_LE(x, 1.0);
    mean += x;
  }
  // Mean of N(0, 1) truncated to [-0.5, 1]: (phi(-0.5) - phi(1)) / (Phi(1) - Phi(-0.5))
  // = (0.35207 - 0.24197) / (0.84134 - 0.30854) = 0.2066 (sampling sd 0.003).
  EXPECT_NEAR(mean / 20000.0, 0.2066, 0.01);
  nn::init::SkipInitialisation skip;
  Generator g(4);
  nn::init::trunc_normal_(t, g, 0.0, 0.02);
  EXPECT_EQ(g.offset, 0u);
}

TEST(ConvNeXt, EvalIsDeterministicAndTrainDropsBlocks) {
  ConvNeXtOptions o = small_options();
  o.layer_scale = 1.0;  // make every block matter
  o.stochastic_depth_prob = 0.9;
  Generator gen(5);
  ConvNeXt net(o, gen, std::make_shared<Generator>(77));
  net.to(DType::F64);
  const Tensor x = rand({4, 1, 32, 40}, gen, DType::F64);
  net.eval();
  const Tensor a = net.forward(x), b = net.forward(x);
  EXPECT_EQ(max_abs_diff(a, b), 0.0);
  net.train();
  const Tensor t1 = net.forward(x), t2 = net.forward(x);
  EXPECT_GT(max_abs_diff(t1, a), 1e-6);
  EXPECT_GT(max_abs_diff(t1, t2), 1e-6);  // fresh masks each call
  // The same dropout generator state reproduces the training pass.
  Generator g2(5);
  ConvNeXt net2(o, g2, std::make_shared<Generator>(77));
  net2.to(DType::F64);
  EXPECT_EQ(max_abs_diff(net2.forward(x), t1), 0.0);
}

TEST(ConvNeXt, StochasticDepthGrowsLinearlyOverAllBlocks) {
  // With p = 1 the last block is always dropped and the first never: a network whose only
  // blocks are the first and the last. Block 0 (p = 0) must act in train mode like in eval.
  ConvNeXtOptions o;
  o.dims = {8};
  o.depths = {2};
  o.in_channels = 1;
  o.layer_scale = 1.0;
  o.stochastic_depth_prob = 1.0;
  Generator gen(6);
  ConvNeXt net(o, gen);
  net.to(DType::F64);
  const Tensor x = rand({3, 1, 16, 16}, gen, DType::F64);
  net.train();
  const Tensor train = net.forward(x);
  // Eval with the last block's residual removed: set its layer_scale to 0.
  for (auto& [name, t] : net.named_parameters())
    if (name == "features.1.1.layer_scale") {
      NoGrad no_grad;
      t.fill_(0.0);
    }
  net.eval();
  EXPECT_LT(max_abs_diff(net.forward(x), train), 1e-12);
}

TEST(ConvNeXt, InputGradientMatchesFiniteDifferences) {
  ConvNeXtOptions o;
  o.dims = {4, 8};
  o.depths = {1, 1};
  o.in_channels = 1;
  o.layer_scale = 1.0;  // the blocks' branches matter
  Generator gen(8);
  ConvNeXt net(o, gen);
  net.to(DType::F64);
  net.eval();
  const Tensor x = testing::leaf({2, 1, 8, 12}, gen);  // stem 2x3 -> 1x1
  EXPECT_GRADCHECK([&](const std::vector<Tensor>& v) { return net.forward(v[0]); },
                   std::vector<Tensor>{x});
}

TEST(ConvNeXt, GrayscaleStemSumsTheRgbKernels) {
  Generator gen(9);
  const Tensor rgb = rand({2, 3, 4, 4}, gen, DType::F64);
  const Tensor g = nets::grayscale_stem_weight(rgb);
  EXPECT_EQ(g.shape(), (Shape{2, 1, 4, 4}));
  // On a gray image (the same slice on every channel) both stems give the same response.
  const Tensor x = rand({1, 1, 8, 8}, gen, DType::F64);
  ConvParams p{{4, 4}, {0, 0}, {1, 1}, 1};
  const Tensor a = ag::conv2d(ag::expand(x, {1, 3, 8, 8}), rgb, Tensor(), p);
  const Tensor b = ag::conv2d(x, g, Tensor(), p);
  EXPECT_LT(max_abs_diff(a, b), 1e-12);
  expect_error([&] { nets::grayscale_stem_weight(rand({2, 1, 4, 4}, gen)); }, {"(out, 3, kh, kw)"});
}

TEST(ConvNeXt, BadOptionsAndInputs) {
  Generator gen(7);
  ConvNeXtOptions o = small_options();
  o.depths = {1, 1};
  expect_error([&] { ConvNeXt(o, gen); }, {"ConvNeXt", "same length"});
  o = small_options();
  o.dims = {};
  o.depths = {};
  expect_error([&] { ConvNeXt(o, gen); }, {"at least one stage"});
  o = small_options();
  o.dims[1] = 0;
  expect_error([&] { ConvNeXt(o, gen); }, {"dims must be positive"});
  o = small_options();
  o.depths[2] = -1;
  expect_error([&] { ConvNeXt(o, gen); }, {"depths must be positive"});
  o = small_options();
  o.stochastic_depth_prob = 1.5;
  expect_error([&] { ConvNeXt(o, gen); }, {"stochastic_depth_prob"});
  o = small_options();
  o.layer_scale = 0.0;
  expect_error([&] { ConvNeXt(o, gen); }, {"layer_scale"});
  ConvNeXt net(small_options(), gen);
  expect_error([&] { net.forward(rand({2, 3, 32, 32}, gen)); }, {"(N, 1, H, W)", "(2, 3, 32, 32)"});
  expect_error([&] { net.forward(rand({2, 1, 32}, gen)); }, {"(N, 1, H, W)"});
  expect_error([&] { net.forward(rand({1, 1, 12, 40}, gen)); }, {"12x40", "too small"});
}

// torchvision.models.convnext.ConvNeXt (0.14), 3 stages (8, 16, 24), depths (1, 2, 1), a
// 1-channel stem, no final Linear, every parameter random; eval mode, float64
// (tests/reference/networks/generate_networks.py).
TEST(ConvNeXt, MatchesTorchvisionInFloat64) {
  const SafetensorsFile f = read_safetensors(ref("networks/convnext_small_config_f64.safetensors"));
  EXPECT_EQ(f.metadata.at("op"), "\"module:convnext\"");
  EXPECT_EQ(f.metadata.at("dims"), "[8, 16, 24]");
  EXPECT_EQ(f.metadata.at("depths"), "[1, 2, 1]");
  std::map<std::string, Tensor> state;
  for (const auto& [k, t] : f.tensors)
    if (k.rfind("param.", 0) == 0) state[k.substr(6)] = t;
  nn::init::SkipInitialisation skip;  // every weight comes from the file
  Generator gen(0);
  ConvNeXt net(small_options(), gen);
  net.to(DType::F64);
  net.load_state_dict(state, true);  // strict: the key sets are equal
  net.eval();
  const Tensor out = net.forward(f.tensors.at("in0"));
  const Tensor& expected = f.tensors.at("out");
  ASSERT_EQ(out.shape(), expected.shape());
  const auto a = out.to_vector(), b = expected.to_vector();
  double scale = 0.0;
  for (double v : b) scale = std::max(scale, std::abs(v));
  ASSERT_GT(scale, 0.1);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_NEAR(a[i], b[i], 1e-10 * scale) << i;
}

}  // namespace
}  // namespace ldae
