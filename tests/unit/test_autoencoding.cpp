// The LDAE inference library (ldae/autoencoding.h) on tiny random networks: shapes,
// determinism, the DDIM wiring checked with an analytic denoiser, SLERP, manipulation,
// variations, interpolation and the refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "common/test_helpers.h"
#include "common/tiny_ldae.h"
#include "autograd/no_grad.h"
#include "ldae/autoencoding.h"
#include "ldae/presets.h"
#include "tensor/ops.h"

using namespace ldae;
using namespace ldae::infer;
using ldae::testing::expect_error;

namespace {

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  EXPECT_EQ(x.size(), y.size());
  double m = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) m = std::max(m, std::fabs(x[i] - y[i]));
  return m;
}

double rms(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += (x[i] - y[i]) * (x[i] - y[i]);
  return std::sqrt(s / static_cast<double>(x.size()));
}

bool bit_identical(const Tensor& a, const Tensor& b) {
  return a.shape() == b.shape() && a.dtype() == b.dtype() && a.to_vector() == b.to_vector();
}

double norm_of(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x * x;
  return std::sqrt(s);
}

LdaeModel tiny_model(uint64_t seed = 1) { return ldae::testing::tiny_ldae(seed); }

Tensor tiny_volume(uint64_t seed, int64_t n = 1) {
  Generator gen(seed);
  return rand({n, 1, 16, 20, 16}, gen);
}

AutoencodingOptions few_steps(int64_t steps = 4) { return AutoencodingOptions::fixed(steps); }

// Data N(mu, sigma^2 I): the least-squares noise predictor is known in closed form,
//   E[eps | x_t] = sqrt(1-a) (x_t - sqrt(a) mu) / (a sigma^2 + 1 - a),
// so DDIM inversion followed by sampling returns the input up to the time discretisation.
struct GaussianData {
  double mu, sigma;
  const diffusion::Schedule* s;
  Tensor eps(const Tensor& x, int64_t t) const {
    const double a = s->alpha_bar(t);
    const double c = std::sqrt(1 - a) / (a * sigma * sigma + 1 - a);
    return mul_scalar(add_scalar(x, -std::sqrt(a) * mu), c);
  }
};

}  // namespace

// ---- Shapes and determinism -------------------------------------------------------------------

TEST(Autoencoding, ReconstructShapesInBothModes) {
  LdaeModel m = tiny_model();
  const Tensor x = tiny_volume(2);
  Generator gen(5);
  for (Mode mode : {Mode::Encoded, Mode::Semantic}) {
    const Reconstruction r = reconstruct(m, x, mode, few_steps(), &gen);
    EXPECT_EQ(r.y_sem.shape(), (Shape{1, 32})) << mode_name(mode);
    EXPECT_EQ(r.latent.shape(), (Shape{1, 3, 8, 10, 8}));
    EXPECT_EQ(r.x_T.shape(), (Shape{1, 3, 8, 10, 8}));
    EXPECT_EQ(r.recon_latent.shape(), (Shape{1, 3, 8, 10, 8}));
    EXPECT_EQ(r.image.shape(), (Shape{1, 1, 16, 20, 16}));
    EXPECT_EQ(r.autoencoder_image.shape(), (Shape{1, 1, 16, 20, 16}));
    EXPECT_FALSE(r.image.requires_grad());
  }
}

TEST(Autoencoding, BatchOfTwoGivesEachSampleItsOwnCode) {
  LdaeModel m = tiny_model();
  const Tensor x = tiny_volume(3, 2);
  const Tensor y = semantic_code(*m.encoder, x);
  EXPECT_EQ(y.shape(), (Shape{2, 32}));
  EXPECT_GT(max_abs_diff(y.slice(0, 0, 1), y.slice(0, 1, 2)), 1e-6);
  // Sample 1 of the batch equals sample 1 alone.
  const Tensor y1 = semantic_code(*m.encoder, x.slice(0, 1, 2).contiguous());
  EXPECT_LT(max_abs_diff(y.slice(0, 1, 2), y1), 1e-5);
}

TEST(Autoencoding, SameSeedIsBitIdenticalOtherSeedDiffers) {
  LdaeModel m = tiny_model();
  const Tensor x = tiny_volume(4);
  Generator g1(11), g2(11), g3(12);
  const Reconstruction a = reconstruct(m, x, Mode::Semantic, few_steps(), &g1);
  const Reconstruction b = reconstruct(m, x, Mode::Semantic, few_steps(), &g2);
  const Reconstruction c = reconstruct(m, x, Mode::Semantic, few_steps(), &g3);
  EXPECT_TRUE(bit_identical(a.x_T, b.x_T));
  EXPECT_TRUE(bit_identical(a.image, b.image));
  EXPECT_GT(max_abs_diff(a.image, c.image), 1e-6);
  // Encoded mode is deterministic without any generator.
  const Reconstruction e1 = reconstruct(m, x, Mode::Encoded, few_steps());
  const Reconstruction e2 = reconstruct(m, x, Mode::Encoded, few_steps());
  EXPECT_TRUE(bit_identical(e1.x_T, e2.x_T));
  EXPECT_TRUE(bit_identical(e1.image, e2.image));
}

TEST(Autoencoding, ReconstructFromTheEncodingsIsReconstruct) {
  // What ldae evaluate relies on to run the two encoders once per scan: given reconstruct's z0
  // and y_sem, reconstruct_from gives the same bits in both modes (same draws from the same
  // seed), leaves autoencoder_image empty, and refuses what reconstruct refuses.
  LdaeModel m = tiny_model();
  const Tensor x = tiny_volume(8);
  Generator g1(21), g2(21);
  const Reconstruction whole = reconstruct(m, x, Mode::Semantic, few_steps(), &g1);
  const Reconstruction from = reconstruct_from(m, whole.latent, whole.y_sem, Mode::Semantic, few_steps(), &g2);
  EXPECT_TRUE(bit_identical(whole.x_T, from.x_T));
  EXPECT_TRUE(bit_identical(whole.image, from.image));
  EXPECT_FALSE(from.autoencoder_image.defined());
  const Reconstruction enc = reconstruct(m, x, Mode::Encoded, few_steps());
  const Reconstruction enc_from = reconstruct_from(m, enc.latent, enc.y_sem, Mode::Encoded, few_steps());
  EXPECT_TRUE(bit_identical(enc.x_T, enc_from.x_T));
  EXPECT_TRUE(bit_identical(enc.recon_latent, enc_from.recon_latent));
  EXPECT_TRUE(bit_identical(enc.image, enc_from.image));
  EXPECT_THROW(reconstruct_from(m, enc.latent, enc.y_sem, Mode::Semantic, few_steps()), Error);  // no generator
  EXPECT_THROW(reconstruct_from(m, enc.latent.slice(1, 0, 1), enc.y_sem, Mode::Encoded, few_steps()), Error);
}

TEST(Autoencoding, NetworksRunInEvalModeAndKeepTheirMode) {
  LdaeModel m = tiny_model();
  const Tensor x = tiny_volume(6);
  m.encoder->eval();
  const Tensor y_eval = semantic_code(*m.encoder, x);
  m.encoder->train();  // dropout and stochastic depth would change y in train mode
  const Tensor y_train_mode = semantic_code(*m.encoder, x);
  EXPECT_TRUE(bit_identical(y_eval, y_train_mode));
  EXPECT_TRUE(m.encoder->is_training());  // restored
  m.shift_unet->train_shift(true);
  const Tensor z = scaled_latent(*m.autoencoder, x, m.scale_factor);
  encode_xT(*m.shift_unet, m.schedule, z, y_eval, few_steps().ddim("encode"));
  EXPECT_TRUE(m.shift_unet->is_training());
  for (const auto& [name, child] : m.shift_unet->named_children())  // frozen part still in eval mode
    EXPECT_EQ(child->is_training(), !nets::ShiftUNet::is_frozen_key(name + ".")) << name;
}

TEST(Autoencoding, ToImageDividesByTheScaleFactor) {
  LdaeModel m = tiny_model();
  const Tensor x = tiny_volume(7);
  const Tensor z = scaled_latent(*m.autoencoder, x, 0.5);
  NoGrad no_grad;
  const Tensor mu = m.autoencoder->encode(x).first;
  EXPECT_LT(max_abs_diff(z, mul_scalar(mu, 0.5)), 1e-6);
  EXPECT_LT(max_abs_diff(to_image(*m.autoencoder, z, 0.5), m.autoencoder->decode(mu)), 1e-5);
}

// ---- Image space (the image-space DAE baseline: autoencoder null) ------------------------------

TEST(Autoencoding, ImageSpaceMapIsTwoXMinusOneAndItsRoundTripIsExact) {
  // Values on a 1/256 grid: 2x - 1 and (z + 1) / 2 are exact in float32, so the round trip is.
  std::vector<double> grid;
  for (int k = 0; k <= 256; ++k) grid.push_back(k / 256.0);
  const Tensor x = Tensor::from_vector(grid, {1, 1, 1, 1, 257});
  DiffusionSpace image;  // autoencoder null
  ASSERT_TRUE(image.image_space());
  EXPECT_EQ(image.name(), "image");
  const Tensor z = scaled_latent(image, x);
  EXPECT_EQ(z.shape(), x.shape());
  EXPECT_EQ(max_abs_diff(z, add_scalar(mul_scalar(x, 2.0), -1.0)), 0.0);
  EXPECT_EQ(z.to_vector().front(), -1.0);
  EXPECT_EQ(z.to_vector().back(), 1.0);
  EXPECT_EQ(max_abs_diff(to_image(image, z), x), 0.0);
  image.scale_factor = 0.5;  // z = 0.5 (2x - 1), and back
  EXPECT_EQ(max_abs_diff(scaled_latent(image, x), add_scalar(x, -0.5)), 0.0);
  EXPECT_EQ(max_abs_diff(to_image(image, scaled_latent(image, x)), x), 0.0);
  // Arbitrary [0, 1) values: exact up to the float32 rounding of 2x - 1 (one ulp of 1).
  const Tensor v = tiny_volume(3);
  DiffusionSpace unit;
  EXPECT_LE(max_abs_diff(to_image(unit, scaled_latent(unit, v)), v), 6e-8);
  expect_error([&] { scaled_latent(unit, Tensor::zeros({1, 3, 4, 4, 4})); }, {"scaled_latent", "(N, 1, X, Y, Z)"});
  expect_error([&] { to_image(unit, Tensor::zeros({1, 3, 4, 4, 4})); }, {"to_image", "(N, 1, X, Y, Z)"});
  unit.scale_factor = 0;
  expect_error([&] { scaled_latent(unit, v); }, {"scale factor must be positive"});
}

TEST(Autoencoding, ImageSpaceModelReconstructsOnTheImage) {
  // The tiny image-space DAE: no autoencoder, the ShiftUNet on the 1-channel image.
  LdaeModel m = tiny_model();
  m.autoencoder = nullptr;
  m.scale_factor = 1.0;
  nets::ShiftUNetOptions o = nets::shift_unet_preset("tiny");
  o.unet = nets::image_space_unet_options(o.unet);
  EXPECT_EQ(o.unet.input_channel, 1);
  EXPECT_TRUE(o.unet.isotropic_resampling);
  Generator g(5);
  m.shift_unet = std::make_shared<nets::ShiftUNet>(o, g);
  const Tensor x = tiny_volume(4);
  const Reconstruction enc = reconstruct(m, x, Mode::Encoded, few_steps());
  EXPECT_EQ(enc.latent.shape(), x.shape());
  EXPECT_EQ(enc.x_T.shape(), x.shape());
  EXPECT_EQ(enc.image.shape(), x.shape());
  EXPECT_LE(max_abs_diff(enc.autoencoder_image, x), 6e-8);  // the image mapped there and back
  for (double v : enc.image.to_vector()) ASSERT_TRUE(std::isfinite(v));
  Generator draw(9);
  EXPECT_EQ(reconstruct(m, x, Mode::Semantic, few_steps(), &draw).image.shape(), x.shape());
}

// ---- The DDIM wiring with an analytic denoiser -------------------------------------------------

TEST(Autoencoding, WiringCallsTheDenoiserAtTheDdimTimestepsWithTheCode) {
  const diffusion::Schedule s = diffusion::Schedule::linear();
  std::vector<int64_t> seen_t;
  std::vector<double> seen_y;
  const ConditionalDenoiser fn = [&](const Tensor& x, int64_t t, const Tensor& y) {
    seen_t.push_back(t);
    seen_y.push_back(y.at({0, 1}));
    return diffusion::EpsAndShift{Tensor::zeros(x.shape(), x.dtype()), Tensor()};
  };
  const Tensor z0 = Tensor::full({1, 3, 2, 2, 2}, 0.3);
  const Tensor y = Tensor::from_vector({0.0, 7.0}, {1, 2});
  diffusion::DdimOptions o = few_steps(4).ddim("encode");
  const Tensor xT = encode_xT(fn, s, z0, y, o);
  decode_latent(fn, s, xT, y, few_steps(4).ddim("decode"));
  const std::vector<int64_t> tau = diffusion::ddim_timesteps(1000, 4);  // 0, 249, 499, 749, 999
  EXPECT_EQ(seen_t, (std::vector<int64_t>{tau[0], tau[1], tau[2], tau[3], tau[4], tau[3], tau[2], tau[1]}));
  for (double v : seen_y) EXPECT_EQ(v, 7.0);
}

TEST(Autoencoding, RoundTripWithAnAnalyticDenoiserReturnsTheLatent) {
  const diffusion::Schedule s = diffusion::Schedule::linear();
  const GaussianData data{0.2, 0.5, &s};
  Generator gen(21);
  const Tensor z0 = add_scalar(mul_scalar(randn({2, 3, 4, 4, 4}, gen, DType::F64), data.sigma), data.mu);
  const Tensor y = randn({2, 8}, gen, DType::F64);
  // eps from the data; a shift that depends on x and y (any smooth function of them: the
  // inversion and the sampler see the same one, so the round trip still closes).
  const ConditionalDenoiser fn = [&](const Tensor& x, int64_t t, const Tensor& code) {
    const Tensor c = code.slice(1, 0, 1).reshape({code.size(0), 1, 1, 1, 1});  // (N, 1, 1, 1, 1)
    return diffusion::EpsAndShift{data.eps(x, t), mul_scalar(mul(x, c), 0.02)};
  };
  std::vector<double> err;
  for (int64_t steps : {10, 100}) {
    const AutoencodingOptions o = AutoencodingOptions::fixed(steps);
    const Tensor xT = encode_xT(fn, s, z0, y, o.ddim("encode"));
    const Tensor back = decode_latent(fn, s, xT, y, o.ddim("decode"));
    err.push_back(rms(back, z0));
    EXPECT_GT(max_abs_diff(xT, z0), 0.5);  // x_T is noise-like, not the input
  }
  EXPECT_LT(err[1], 0.03) << err[0] << " " << err[1];
  EXPECT_LT(err[1], err[0] / 3) << err[0] << " " << err[1];
}

TEST(Autoencoding, ClampChoiceReachesTheSampler) {
  // eps = 0, G = 0: x0_hat = x / sqrt(abar), beyond 1 for x_T = 3, so a clamp at 1 changes
  // every step; a clamp at 1e6 (above x / sqrt(abar) ~ 470 at t = 999) changes nothing.
  const diffusion::Schedule s = diffusion::Schedule::linear();
  const ConditionalDenoiser fn = [](const Tensor& x, int64_t, const Tensor&) {
    return diffusion::EpsAndShift{Tensor::zeros(x.shape(), x.dtype()), Tensor()};
  };
  const Tensor xT = Tensor::full({1, 3, 2, 2, 2}, 3.0, DType::F64);
  const Tensor y = Tensor::zeros({1, 4}, DType::F64);
  AutoencodingOptions off = AutoencodingOptions::fixed(10), at1 = off, at100 = off;
  at1.clamp = diffusion::X0Clamp::at(1.0);
  at100.clamp = diffusion::X0Clamp::at(1e6);
  const Tensor a = decode_latent(fn, s, xT, y, off.ddim("decode"));
  EXPECT_GT(max_abs_diff(a, decode_latent(fn, s, xT, y, at1.ddim("decode"))), 1e-3);
  EXPECT_LT(max_abs_diff(a, decode_latent(fn, s, xT, y, at100.ddim("decode"))), 1e-9);
}

TEST(Autoencoding, OursClampsX0OnlyInImageSpace) {
  // Image-space data are exactly [-1, 1] (z = 2x - 1): ours clamps x0 there, not in latent
  // space; the published clamp and an explicit clamp apply in both; clamp_images = false
  // (the command line's --clamp) turns the image-space clamp off.
  const LdaeModel latent_model = tiny_model();
  const DiffusionSpace latent = latent_model.space(), image{nullptr, 1.0};
  ASSERT_FALSE(latent.image_space());
  ASSERT_TRUE(image.image_space());
  const AutoencodingOptions f = AutoencodingOptions::fixed(10);
  EXPECT_EQ(f.x0_clamp().mode, diffusion::X0Clamp::Mode::Off);  // no space given yet
  EXPECT_EQ(f.in_space(latent).x0_clamp().mode, diffusion::X0Clamp::Mode::Off);
  const diffusion::X0Clamp in_image = f.in_space(image).ddim("decode").clamp;
  EXPECT_EQ(in_image.mode, diffusion::X0Clamp::Mode::Value);
  EXPECT_EQ(in_image.value, 1.0);
  EXPECT_EQ(f.in_space(image).name(), "fixed");
  AutoencodingOptions unclamped = f;
  unclamped.clamp_images = false;
  EXPECT_EQ(unclamped.in_space(image).ddim("encode").clamp.mode, diffusion::X0Clamp::Mode::Off);
  AutoencodingOptions dynamic = f;
  dynamic.clamp = diffusion::X0Clamp::dynamic(0.995);
  EXPECT_EQ(dynamic.in_space(image).x0_clamp().mode, diffusion::X0Clamp::Mode::Percentile);
  const AutoencodingOptions p = AutoencodingOptions::published(10);
  EXPECT_EQ(p.in_space(latent).x0_clamp().mode, diffusion::X0Clamp::Mode::Value);

  // It reaches the sampler: as ClampChoiceReachesTheSampler, x0_hat beyond 1 at every step.
  const diffusion::Schedule s = diffusion::Schedule::linear();
  const ConditionalDenoiser fn = [](const Tensor& x, int64_t, const Tensor&) {
    return diffusion::EpsAndShift{Tensor::zeros(x.shape(), x.dtype()), Tensor()};
  };
  const Tensor xT = Tensor::full({1, 1, 2, 2, 2}, 3.0, DType::F64);
  const Tensor y = Tensor::zeros({1, 4}, DType::F64);
  AutoencodingOptions at1 = f;
  at1.clamp = diffusion::X0Clamp::at(1.0);
  const Tensor want = decode_latent(fn, s, xT, y, at1.ddim("decode"));
  EXPECT_EQ(decode_latent(fn, s, xT, y, f.in_space(image).ddim("decode")).to_vector(), want.to_vector());
  EXPECT_GT(max_abs_diff(decode_latent(fn, s, xT, y, f.in_space(latent).ddim("decode")), want), 1e-3);
}

TEST(Autoencoding, OptionsNameThePublishedAndTheFixedSampler) {
  const AutoencodingOptions p = AutoencodingOptions::published(50);
  EXPECT_EQ(p.encode_steps, 50);
  EXPECT_EQ(p.decode_steps, 50);
  EXPECT_EQ(p.clamp.mode, diffusion::X0Clamp::Mode::Value);
  EXPECT_EQ(p.clamp.value, 1.0);
  EXPECT_EQ(p.shift_coefficient, diffusion::ShiftCoefficient::Reference);
  EXPECT_EQ(p.name(), "published");
  const AutoencodingOptions f = AutoencodingOptions::fixed(20);
  EXPECT_EQ(f.clamp.mode, diffusion::X0Clamp::Mode::Off);
  EXPECT_EQ(f.shift_coefficient, diffusion::ShiftCoefficient::Training);
  EXPECT_EQ(f.name(), "fixed");
  EXPECT_EQ(AutoencodingOptions().name(), "fixed");  // the default
  AutoencodingOptions c = f;
  c.clamp = diffusion::X0Clamp::at(3.0);
  EXPECT_EQ(c.name(), "custom");
  const diffusion::DdimOptions d = p.ddim("decode");
  EXPECT_EQ(d.steps, 50);
  EXPECT_EQ(d.eta, 0.0);
  EXPECT_EQ(d.shift_coefficient, diffusion::ShiftCoefficient::Reference);
  expect_error([&] { p.ddim("sample"); }, {"AutoencodingOptions::ddim", "sample"});
}

TEST(Autoencoding, ShiftCoefficientChoiceReachesTheSampler) {
  // With eps = 0 and G = 1 the only difference between the two samplers is c_t.
  const diffusion::Schedule s = diffusion::Schedule::linear();
  const ConditionalDenoiser fn = [](const Tensor& x, int64_t, const Tensor&) {
    return diffusion::EpsAndShift{Tensor::zeros(x.shape(), x.dtype()), Tensor::ones(x.shape(), x.dtype())};
  };
  const Tensor xT = Tensor::full({1, 3, 2, 2, 2}, 0.5, DType::F64);
  const Tensor y = Tensor::zeros({1, 4}, DType::F64);
  AutoencodingOptions ref = AutoencodingOptions::fixed(10), train = AutoencodingOptions::fixed(10);
  ref.shift_coefficient = diffusion::ShiftCoefficient::Reference;
  EXPECT_GT(max_abs_diff(decode_latent(fn, s, xT, y, ref.ddim("decode")),
                         decode_latent(fn, s, xT, y, train.ddim("decode"))), 1e-4);
}

// semantic_shift = false: the inversion and the sampling are the plain DDIM of the stage-2
// model (unshifted_denoiser), whatever the code; with the shift the result differs.
TEST(Autoencoding, WithoutTheShiftReconstructIsThePlainDdimOfTheStage2Model) {
  LdaeModel m = tiny_model();
  const Tensor x = tiny_volume(4);
  AutoencodingOptions o = few_steps();
  o.semantic_shift = false;
  const Reconstruction r = reconstruct(m, x, Mode::Encoded, o);
  const AutoencodingOptions in = o.in_space(m.space());
  const ConditionalDenoiser plain = unshifted_denoiser(*m.shift_unet);
  const Tensor other_code = Tensor::zeros(r.y_sem.shape(), r.y_sem.dtype());  // y_sem must not matter
  const Tensor xT = encode_xT(plain, m.schedule, r.latent, other_code, in.ddim("encode"));
  EXPECT_TRUE(bit_identical(xT, r.x_T));
  EXPECT_TRUE(bit_identical(decode_latent(plain, m.schedule, xT, other_code, in.ddim("decode")), r.recon_latent));
  EXPECT_FALSE(plain(r.latent, 10, r.y_sem).shift.defined());
  const Reconstruction shifted = reconstruct(m, x, Mode::Encoded, few_steps());
  EXPECT_GT(max_abs_diff(shifted.recon_latent, r.recon_latent), 1e-6);
}

// ---- SLERP, interpolation ------------------------------------------------------------------------

TEST(Autoencoding, SlerpEndpointsAndNorm) {
  Generator gen(31);
  const Tensor a = randn({2, 3, 4, 4, 4}, gen, DType::F64);
  Tensor b = randn({2, 3, 4, 4, 4}, gen, DType::F64);
  EXPECT_TRUE(bit_identical(slerp(a, b, 0.0), a));
  EXPECT_TRUE(bit_identical(slerp(a, b, 1.0), b));
  // Rescale each sample of b to the norm of a's: then every point of the arc keeps that norm,
  // where the LERP midpoint is shorter (two nearly orthogonal Gaussian vectors).
  const int64_t m = 3 * 4 * 4 * 4;
  std::vector<double> av = a.to_vector(), bv = b.to_vector();
  for (int i = 0; i < 2; ++i) {
    std::vector<double> ai(av.begin() + i * m, av.begin() + (i + 1) * m), bi(bv.begin() + i * m, bv.begin() + (i + 1) * m);
    const double r = norm_of(ai) / norm_of(bi);
    for (int64_t j = 0; j < m; ++j) bv[static_cast<size_t>(i * m + j)] *= r;
  }
  b = Tensor::from_vector(bv, a.shape(), DType::F64);
  for (double alpha : {0.25, 0.5, 0.9}) {
    const std::vector<double> sv = slerp(a, b, alpha).to_vector();
    for (int i = 0; i < 2; ++i) {
      const std::vector<double> si(sv.begin() + i * m, sv.begin() + (i + 1) * m);
      const std::vector<double> ai(av.begin() + i * m, av.begin() + (i + 1) * m);
      EXPECT_NEAR(norm_of(si) / norm_of(ai), 1.0, 1e-12) << alpha;
    }
  }
  const std::vector<double> lerp = add(mul_scalar(a, 0.5), mul_scalar(b, 0.5)).to_vector();
  EXPECT_LT(norm_of(std::vector<double>(lerp.begin(), lerp.begin() + m)) /
                norm_of(std::vector<double>(av.begin(), av.begin() + m)), 0.85);
  // The angle to the start grows linearly with alpha.
  const std::vector<double> s3 = slerp(a, b, 1.0 / 3).to_vector();
  auto angle = [&](const std::vector<double>& x, const std::vector<double>& y) {
    double d = 0;
    for (int64_t j = 0; j < m; ++j) d += x[static_cast<size_t>(j)] * y[static_cast<size_t>(j)];
    return std::acos(d / (norm_of(std::vector<double>(x.begin(), x.begin() + m)) *
                          norm_of(std::vector<double>(y.begin(), y.begin() + m))));
  };
  EXPECT_NEAR(angle(av, s3), angle(av, bv) / 3, 1e-9);
}

TEST(Autoencoding, SlerpOfParallelVectorsIsTheLerpAndRefusesOpposites) {
  Generator gen(32);
  const Tensor a = randn({1, 10}, gen, DType::F64);
  const Tensor b = mul_scalar(a, 2.0);  // theta = 0
  const Tensor s = slerp(a, b, 0.25);
  EXPECT_LT(max_abs_diff(s, mul_scalar(a, 1.25)), 1e-12);
  for (double v : s.to_vector()) EXPECT_TRUE(std::isfinite(v));
  expect_error([&] { slerp(a, neg(a), 0.5); }, {"slerp", "opposite directions"});
  expect_error([&] { slerp(a, Tensor::zeros({1, 10}, DType::F64), 0.5); }, {"slerp", "zero vector"});
  expect_error([&] { slerp(a, Tensor::zeros({1, 9}, DType::F64), 0.5); }, {"slerp", "same (N, ...) shape"});
}

TEST(Autoencoding, InterpolationEndpointsAreTheSubjectsOwnDecodes) {
  LdaeModel m = tiny_model();
  const diffusion::DdimOptions o = few_steps(3).ddim("decode");
  Generator gen(41);
  const Tensor yA = randn({1, 32}, gen), yB = randn({1, 32}, gen);
  const Tensor xA = randn({1, 3, 8, 10, 8}, gen), xB = randn({1, 3, 8, 10, 8}, gen);
  const std::vector<Tensor> path = interpolate(*m.shift_unet, m.schedule, yA, yB, xA, xB, {0.0, 0.5, 1.0}, o);
  ASSERT_EQ(path.size(), 3u);
  EXPECT_TRUE(bit_identical(path[0], decode_latent(*m.shift_unet, m.schedule, xA, yA, o)));
  EXPECT_TRUE(bit_identical(path[2], decode_latent(*m.shift_unet, m.schedule, xB, yB, o)));
  EXPECT_GT(max_abs_diff(path[1], path[0]), 1e-6);
  EXPECT_GT(max_abs_diff(path[1], path[2]), 1e-6);
}

// ---- Manipulation, variations ----------------------------------------------------------------------

TEST(Autoencoding, ManipulatedCodeMovesAlphaSqrtDInTheZScoredSpace) {
  Generator gen(51);
  const Tensor y = randn({2, 16}, gen, DType::F64);
  const Tensor w = randn({16}, gen, DType::F64);
  const Tensor mean = randn({16}, gen, DType::F64);
  const Tensor sd = rand({1, 16}, gen, DType::F64, 0.5, 2.0);
  const double alpha = 2.5;
  const std::vector<double> yv = y.to_vector(), wv = w.to_vector(), mu = mean.to_vector(), s = sd.to_vector();
  const std::vector<double> out = manipulate_code(y, w, alpha, mean, sd).to_vector();
  for (int i = 0; i < 2; ++i) {
    std::vector<double> dz(16);
    for (int j = 0; j < 16; ++j) dz[j] = (out[i * 16 + j] - mu[j]) / s[j] - (yv[i * 16 + j] - mu[j]) / s[j];
    EXPECT_NEAR(norm_of(dz), alpha * 4.0, 1e-9);  // |alpha| sqrt(16)
    for (int j = 0; j < 16; ++j) EXPECT_NEAR(dz[j], alpha * 4.0 * wv[j] / norm_of(wv), 1e-9);
  }
  // Without statistics: plain space.
  const std::vector<double> plain = manipulate_code(y, w, -1.0).to_vector();
  for (int j = 0; j < 16; ++j) EXPECT_NEAR(plain[j] - yv[j], -4.0 * wv[j] / norm_of(wv), 1e-12);
  EXPECT_TRUE(bit_identical(manipulate_code(y, w, 0.0), y));
  expect_error([&] { manipulate_code(y, randn({15}, gen, DType::F64), 1.0); }, {"manipulate_code", "(16)"});
  expect_error([&] { manipulate_code(y, Tensor::zeros({16}, DType::F64), 1.0); }, {"manipulate_code", "norm 0"});
  expect_error([&] { manipulate_code(y, w, 1.0, mean, Tensor::zeros({16}, DType::F64)); },
               {"manipulate_code", "not positive"});
  expect_error([&] { manipulate_code(y, w, 1.0, mean); }, {"manipulate_code", "both"});
}

TEST(Autoencoding, ManipulateWithAlphaZeroIsThePlainDecode) {
  LdaeModel m = tiny_model();
  const Tensor x = tiny_volume(8);
  const AutoencodingOptions o = few_steps(3);
  const Tensor y = semantic_code(*m.encoder, x);
  const Tensor z = scaled_latent(*m.autoencoder, x, m.scale_factor);
  const Tensor xT = encode_xT(*m.shift_unet, m.schedule, z, y, o.ddim("encode"));
  const Tensor plain = decode_latent(*m.shift_unet, m.schedule, xT, y, o.ddim("decode"));
  Generator gen(9);
  const Tensor w = randn({32}, gen);
  EXPECT_TRUE(bit_identical(manipulate(*m.shift_unet, m.schedule, y, xT, w, 0.0, o.ddim("decode")), plain));
  const Tensor mean = randn({32}, gen), sd = rand({32}, gen, DType::F32, 0.5, 1.5);
  EXPECT_LT(max_abs_diff(manipulate(*m.shift_unet, m.schedule, y, xT, w, 0.0, o.ddim("decode"), mean, sd), plain),
            1e-4);
  // A non-zero alpha changes the decode (the shift branch reads y).
  EXPECT_GT(max_abs_diff(manipulate(*m.shift_unet, m.schedule, y, xT, w, 3.0, o.ddim("decode"), mean, sd), plain),
            1e-5);
}

TEST(Autoencoding, VariationsDifferAndDrawKDoesNotDependOnTheCount) {
  LdaeModel m = tiny_model();
  Generator g(61);
  const Tensor y = randn({1, 32}, g);
  const diffusion::DdimOptions o = few_steps(3).ddim("decode");
  Generator g3(7), g2(7);
  const std::vector<Tensor> three = vary(*m.shift_unet, m.schedule, y, {1, 3, 8, 10, 8}, 3, o, g3);
  const std::vector<Tensor> two = vary(*m.shift_unet, m.schedule, y, {1, 3, 8, 10, 8}, 2, o, g2);
  ASSERT_EQ(three.size(), 3u);
  EXPECT_TRUE(bit_identical(three[0], two[0]));
  EXPECT_TRUE(bit_identical(three[1], two[1]));
  EXPECT_GT(max_abs_diff(three[0], three[1]), 1e-4);
  EXPECT_GT(max_abs_diff(three[1], three[2]), 1e-4);
  expect_error([&] { vary(*m.shift_unet, m.schedule, y, {1, 3, 8, 10, 8}, 0, o, g3); }, {"vary", "count"});
}

// ---- Refusals ------------------------------------------------------------------------------------------

TEST(Autoencoding, MismatchedShapesAreClearErrors) {
  LdaeModel m = tiny_model();
  Generator gen(71);
  const diffusion::DdimOptions o = few_steps(2).ddim("encode");
  // The encoder was built for 16 axial slices (Z).
  expect_error([&] { semantic_code(*m.encoder, rand({1, 1, 16, 20, 12}, gen)); },
               {"semantic_code", "12 axial slices", "built for 16"});
  expect_error([&] { semantic_code(*m.encoder, rand({1, 2, 16, 20, 16}, gen)); },
               {"semantic_code", "(N, 1, X, Y, Z)"});
  expect_error([&] { semantic_code(*m.encoder, rand({16, 20, 16}, gen)); }, {"semantic_code"});
  // The volume differs from the networks' image.
  expect_error([&] { reconstruct(m, rand({1, 1, 16, 24, 16}, gen), Mode::Encoded, few_steps(2)); },
               {"reconstruct", "(16, 24, 16)", "trained on (16, 20, 16)"});
  expect_error([&] { reconstruct(m, tiny_volume(1), Mode::Semantic, few_steps(2), nullptr); },
               {"reconstruct", "Generator"});
  // y_sem of the wrong width or batch.
  const Tensor z = randn({1, 3, 8, 10, 8}, gen);
  expect_error([&] { encode_xT(*m.shift_unet, m.schedule, z, randn({1, 16}, gen), o); },
               {"encode_xT", "y_sem is (1, 16)", "(1, 32)"});
  expect_error([&] { decode_latent(*m.shift_unet, m.schedule, z, randn({2, 32}, gen), o); },
               {"decode_latent", "y_sem is (2, 32)"});
  // Latents of the wrong channel count or a size the UNet cannot halve.
  const Tensor y = randn({1, 32}, gen);
  expect_error([&] { encode_xT(*m.shift_unet, m.schedule, randn({1, 4, 8, 10, 8}, gen), y, o); },
               {"encode_xT", "(1, 4, 8, 10, 8)", "(N, 3, d, h, w)"});
  expect_error([&] { decode_latent(*m.shift_unet, m.schedule, randn({1, 3, 8, 9, 8}, gen), y, o); },
               {"decode_latent", "(1, 3, 8, 9, 8)", "divisible by 2"});
  expect_error([&] { decode_latent(*m.shift_unet, m.schedule, randn({3, 8, 10, 8}, gen), y, o); },
               {"decode_latent", "(3, 8, 10, 8)"});
  expect_error([&] { to_image(*m.autoencoder, randn({1, 4, 8, 10, 8}, gen), 0.8); }, {"to_image", "(1, 4, 8, 10, 8)"});
  expect_error([&] { to_image(*m.autoencoder, z, 0.0); }, {"to_image", "scale factor"});
  expect_error([&] { interpolate(*m.shift_unet, m.schedule, y, y, z, randn({1, 3, 8, 10, 16}, gen), {0.5}, o); },
               {"interpolate", "differs"});
  expect_error([] { parse_mode("noise"); }, {"unknown mode", "encoded, semantic"});
  EXPECT_EQ(parse_mode("semantic"), Mode::Semantic);
}
