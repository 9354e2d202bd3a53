// AutoencoderKL (ldae/autoencoder_kl.h): the published parameter listing at the paper
// configuration, output shapes (with and without attention), the KL term, gradients
// through the whole graph (float64) and a strict state-dict round trip. Tiny shapes only.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "ldae/autoencoder_kl.h"
#include "ldae/presets.h"
#include "nn/shape_trace.h"
#include "nn/state_dict_listing.h"
#include "tensor/random.h"

using namespace ldae;
using nets::AutoencoderKL;
using nets::AutoencoderKLOptions;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream f(path);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The 2-level 3D autoencoder of the shape tests: 8 channels, groups of 2.
AutoencoderKLOptions tiny_options(bool attention) {
  AutoencoderKLOptions o = nets::paper_autoencoder_kl_options();
  o.num_channels = {8, 8};
  o.num_res_blocks = {1};
  o.norm_num_groups = 4;
  o.attention_levels = {false, attention};
  o.with_encoder_nonlocal_attn = attention;
  o.with_decoder_nonlocal_attn = attention;
  return o;
}

bool has_key(const std::string& listing, const std::string& line_start) {
  return listing.find("\n" + line_start) != std::string::npos;
}

}  // namespace

TEST(AutoencoderKL, PaperListingEqualsThePublishedOne) {
  Generator gen(0);
  AutoencoderKL model(nets::paper_autoencoder_kl_options(), gen);
  const std::string published =
      read_text(std::string(LDAE_SOURCE_DIR) + "/tests/reference/state_dicts/autoencoder_kl.txt");
  ASSERT_FALSE(published.empty());
  EXPECT_EQ(nn::state_dict_listing(model), published);
  EXPECT_EQ(model.parameter_count(), 13766248);
}

TEST(AutoencoderKL, ShapesThroughEncodeDecodeReconstruct) {
  for (bool attention : {false, true}) {
    Generator gen(1);
    AutoencoderKL model(tiny_options(attention), gen);
    const Tensor x = rand({1, 1, 16, 20, 16}, gen);
    const auto [mu, sigma] = model.encode(x);
    EXPECT_EQ(mu.shape(), (Shape{1, 3, 8, 10, 8})) << "attention " << attention;
    EXPECT_EQ(sigma.shape(), (Shape{1, 3, 8, 10, 8}));
    for (double s : sigma.to_vector()) ASSERT_GT(s, 0.0);
    const Tensor z = model.sample(mu, sigma, gen);
    EXPECT_EQ(z.shape(), mu.shape());
    EXPECT_EQ(model.decode(z).shape(), x.shape());
    EXPECT_EQ(model.reconstruct(x).shape(), x.shape());
  }
}

TEST(AutoencoderKL, AttentionBlocksAndTheirUnusedProjectionAreRegistered) {
  Generator gen(2);
  AutoencoderKL model(tiny_options(true), gen);
  const std::string listing = "\n" + nn::state_dict_listing(model);
  // encoder: conv, [res, down], [res, attn], mid res, attn, res, norm, conv.
  EXPECT_TRUE(has_key(listing, "encoder.blocks.2.conv.conv.weight 8x8x3x3x3 param"));
  EXPECT_TRUE(has_key(listing, "encoder.blocks.4.to_q.weight 8x8 param"));
  EXPECT_TRUE(has_key(listing, "encoder.blocks.4.proj_attn.weight 8x8 param"));
  EXPECT_TRUE(has_key(listing, "encoder.blocks.6.to_v.bias 8 param"));
  EXPECT_TRUE(has_key(listing, "encoder.blocks.7.conv2.conv.weight 8x8x3x3x3 param"));
  EXPECT_TRUE(has_key(listing, "encoder.blocks.9.conv.weight 3x8x3x3x3 param"));
  // decoder: conv, mid res, attn, res, [res, attn, up], [res], norm, conv.
  EXPECT_TRUE(has_key(listing, "decoder.blocks.2.proj_attn.bias 8 param"));
  EXPECT_TRUE(has_key(listing, "decoder.blocks.5.norm.weight 8 param"));
  EXPECT_TRUE(has_key(listing, "decoder.blocks.6.conv.conv.weight 8x8x3x3x3 param"));
  EXPECT_TRUE(has_key(listing, "decoder.blocks.9.conv.weight 1x8x3x3x3 param"));
}

TEST(AutoencoderKL, AsymmetricPaddingDownsamplingSizes) {
  // n -> floor((n - 2) / 2) + 1 per downsampling: 20 -> 10 -> 5, 6 -> 3 -> 1.
  AutoencoderKLOptions o = nets::paper_autoencoder_kl_options();
  o.num_channels = {2, 2, 2};
  o.num_res_blocks = {0};
  o.norm_num_groups = 1;
  o.attention_levels = {false, false, false};
  Generator gen(3);
  AutoencoderKL model(o, gen);
  const Tensor x = rand({1, 1, 8, 20, 6}, gen);
  EXPECT_EQ(model.encode(x).first.shape(), (Shape{1, 3, 2, 5, 1}));
  EXPECT_EQ(model.reconstruct(x).shape(), (Shape{1, 1, 8, 20, 4}));
  EXPECT_EQ(nets::autoencoder_kl_latent_shape(o, x.shape()), (Shape{1, 3, 2, 5, 1}));
}

TEST(AutoencoderKL, TwoDimensional) {
  AutoencoderKLOptions o = tiny_options(true);
  o.spatial_dims = 2;
  Generator gen(4);
  AutoencoderKL model(o, gen);
  const Tensor x = rand({1, 1, 12, 10}, gen);
  EXPECT_EQ(model.encode(x).first.shape(), (Shape{1, 3, 6, 5}));
  EXPECT_EQ(model.reconstruct(x).shape(), x.shape());
}

TEST(AutoencoderKL, RejectsBadOptionsAndInputs) {
  Generator gen(5);
  AutoencoderKLOptions o = tiny_options(false);
  o.norm_num_groups = 3;  // 8 channels are not divisible by 3
  EXPECT_THROW(AutoencoderKL(o, gen), Error);
  o = tiny_options(false);
  o.attention_levels = {false};  // one entry for two levels
  EXPECT_THROW(AutoencoderKL(o, gen), Error);
  AutoencoderKL model(tiny_options(false), gen);
  EXPECT_THROW(model.encode(Tensor::zeros({1, 2, 4, 4, 4})), Error);  // 2 channels, not 1
  EXPECT_THROW(model.decode(Tensor::zeros({1, 3, 4, 4})), Error);     // 2 spatial axes, not 3
}

TEST(AutoencoderKL, KlTerm) {
  // mu 0, sigma 1: no divergence from the prior.
  EXPECT_NEAR(nets::kl_loss(Tensor::zeros({2, 3, 2, 2, 2}), Tensor::ones({2, 3, 2, 2, 2})).item(), 0.0, 1e-7);
  // By hand: 0.5 * sum(mu^2 + s^2 - log s^2 - 1) per sample, averaged over the batch of 2.
  const std::vector<double> mu = {0.5, -1.0, 2.0, 0.0}, s = {1.0, 0.5, 2.0, 0.1};
  const Tensor tmu = Tensor::from_vector(mu, {2, 2, 1, 1, 1}, DType::F64);
  const Tensor ts = Tensor::from_vector(s, {2, 2, 1, 1, 1}, DType::F64);
  double total = 0;
  for (size_t i = 0; i < mu.size(); ++i) total += 0.5 * (mu[i] * mu[i] + s[i] * s[i] - std::log(s[i] * s[i]) - 1);
  EXPECT_NEAR(nets::kl_loss(tmu, ts).item(), total / 2, 1e-12);
}

TEST(AutoencoderKL, GradientsFlowThroughTheWholeGraph) {
  // float64: two levels (a downsampling and an upsampling), attention and non-local blocks.
  AutoencoderKLOptions o = nets::paper_autoencoder_kl_options();
  o.num_channels = {2, 2};
  o.latent_channels = 2;
  o.num_res_blocks = {1};
  o.norm_num_groups = 1;
  o.attention_levels = {false, true};
  o.with_encoder_nonlocal_attn = true;
  o.with_decoder_nonlocal_attn = true;
  Generator gen(6);
  AutoencoderKL model(o, gen);
  model.to(DType::F64);
  Tensor x = rand({1, 1, 2, 4, 2}, gen, DType::F64);  // latent 1x2x1
  x.set_requires_grad(true);
  ag::GradcheckOptions go;
  go.max_entries_per_input = 6;
  const auto recon = ag::gradcheck([&](const std::vector<Tensor>& in) { return model.reconstruct(in[0]); }, {x}, go);
  EXPECT_TRUE(recon.ok) << recon.message;
  const auto kl = ag::gradcheck(
      [&](const std::vector<Tensor>& in) {
        const auto [mu, sigma] = model.encode(in[0]);
        return nets::kl_loss(mu, sigma);
      },
      {x}, go);
  EXPECT_TRUE(kl.ok) << kl.message;
}

TEST(AutoencoderKL, StrictStateDictRoundTrip) {
  Generator g1(7), g2(8);
  AutoencoderKL a(tiny_options(true), g1), b(tiny_options(true), g2);
  const Tensor x = rand({1, 1, 8, 8, 8}, g1);
  const std::vector<double> ya = a.reconstruct(x).to_vector();
  EXPECT_NE(b.reconstruct(x).to_vector(), ya);  // different initialisations
  const nn::LoadReport report = b.load_state_dict(a.state_dict(), /*strict=*/true);
  EXPECT_TRUE(report.ok()) << report.str();
  EXPECT_EQ(b.reconstruct(x).to_vector(), ya);
  // A model without attention does not accept the attention checkpoint.
  AutoencoderKL c(tiny_options(false), g2);
  EXPECT_FALSE(c.load_state_dict(a.state_dict(), /*strict=*/false).ok());
}

TEST(AutoencoderKL, PresetsBuildAndMatchTheirImages) {
  for (const auto& preset : {"tiny", "course"}) {
    const AutoencoderKLOptions o = nets::autoencoder_kl_preset(preset);
    Generator gen(9);
    AutoencoderKL model(o, gen);
    EXPECT_GT(model.parameter_count(), 0);
  }
  EXPECT_EQ(nets::preset_image_shape("course"), (Shape{1, 1, 64, 80, 64}));
  // The preset comments' latent sizes.
  const auto latent = [](const char* p) {
    return nets::autoencoder_kl_latent_shape(nets::autoencoder_kl_preset(p), nets::preset_image_shape(p));
  };
  EXPECT_EQ(latent("tiny"), (Shape{1, 3, 8, 10, 8}));
  EXPECT_EQ(latent("course"), (Shape{1, 3, 16, 20, 16}));
  EXPECT_EQ(latent("paper"), (Shape{1, 3, 16, 20, 16}));
  EXPECT_THROW(nets::check_preset("huge"), Error);
}

// A shape trace (nn/shape_trace.h) of the tiny autoencoder: one line per encoder/decoder
// block plus the latent lines, ending at the image shape; nothing is printed outside the scope.
TEST(AutoencoderKL, ShapeTraceFollowsTheBlocks) {
  Generator gen(0);
  nets::AutoencoderKL ae(nets::autoencoder_kl_preset("tiny"), gen);
  const Tensor x = rand({1, 1, 16, 20, 16}, gen);
  std::ostringstream out;
  {
    nn::ShapeTrace trace(out);
    EXPECT_THROW(nn::ShapeTrace nested(out), Error);
    ae.reconstruct(x);
  }
  const std::string text = out.str();
  EXPECT_NE(text.find("encoder.blocks.2"), std::string::npos) << text;
  EXPECT_NE(text.find("Downsample (pad, conv s2)          (1, 8, 8, 10, 8)"), std::string::npos) << text;
  EXPECT_NE(text.find("z_mu"), std::string::npos) << text;
  const size_t last = text.rfind("decoder.blocks.");
  ASSERT_NE(last, std::string::npos);
  EXPECT_NE(text.find("(1, 1, 16, 20, 16)", last), std::string::npos) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 15);
  EXPECT_FALSE(nn::tracing());  // the scope ended
}
