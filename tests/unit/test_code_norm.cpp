// The code standardiser of stage 3 (ldae/code_norm.h) on its own and inside the ShiftUNet:
// the running statistics by hand, what forward does in each mode, that only training passes
// change the statistics, where its buffers sit in the state dict, and that a stage-3 step
// with several noise draws counts each scan once.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "ldae/code_norm.h"
#include "ldae/pdae_step.h"
#include "ldae/presets.h"
#include "tensor/ops.h"

namespace ldae::nets {
namespace {

using ldae::testing::expect_error;

// codes: rows of a (N, E) F64 tensor
Tensor codes(const std::vector<std::vector<double>>& rows) {
  std::vector<double> flat;
  for (const auto& r : rows) flat.insert(flat.end(), r.begin(), r.end());
  return Tensor::from_vector(flat, {static_cast<int64_t>(rows.size()), static_cast<int64_t>(rows[0].size())},
                             DType::F64);
}

CodeStandardiserOptions mode(CodeNorm m) {
  CodeStandardiserOptions o;
  o.mode = m;
  return o;
}

TEST(CodeNorm, NamesRoundTripAndUnknownNamesAreRefused) {
  for (CodeNorm m : {CodeNorm::Off, CodeNorm::Running, CodeNorm::Batch})
    EXPECT_EQ(parse_code_norm(code_norm_name(m)), m);
  expect_error([] { parse_code_norm("layer"); }, {"unknown mode \"layer\"", "off, running or batch"});
  expect_error([] { CodeStandardiser(4, mode(CodeNorm::Off)); }, {"mode off builds no module"});
  expect_error([] { CodeStandardiser(0); }, {"dim must be positive"});
}

// During the warm-up the buffers are the plain mean and the population variance of every
// code seen, however the codes are split into calls.
TEST(CodeStandardiser, WarmupGivesThePlainMeanAndVariance) {
  CodeStandardiser cs(2);
  const std::vector<std::vector<double>> rows = {{1, -2}, {3, 0.5}, {2, 4}, {-1, 1}, {0.5, 0.25}};
  cs.track(codes({rows[0], rows[1]}));
  cs.track(codes({rows[2], rows[3], rows[4]}));
  EXPECT_EQ(cs.codes_seen(), 5);
  for (int j = 0; j < 2; ++j) {
    double m = 0, v = 0;
    for (const auto& r : rows) m += r[j] / 5;
    for (const auto& r : rows) v += (r[j] - m) * (r[j] - m) / 5;
    EXPECT_NEAR(cs.running_mean.to_vector()[j], m, 1e-14);
    EXPECT_NEAR(cs.running_var.to_vector()[j], v, 1e-14);
  }
}

// After warmup_codes codes each new one moves the averages by `weight`:
// mean += w d, var = (1 - w) (var + w d^2), d = code - mean.
TEST(CodeStandardiser, AfterTheWarmupAnExponentialAverage) {
  CodeStandardiserOptions o;
  o.warmup_codes = 2;
  o.weight = 0.25;
  CodeStandardiser cs(1, o);
  cs.track(codes({{0}, {2}, {5}}));
  // warm-up: mean 1, var 1; then d = 4: mean 2, var 0.75 (1 + 0.25 * 16) = 3.75
  EXPECT_DOUBLE_EQ(cs.running_mean.item(), 2.0);
  EXPECT_DOUBLE_EQ(cs.running_var.item(), 3.75);
  EXPECT_EQ(cs.codes_seen(), 3);
}

TEST(CodeStandardiser, IdentityUntilTwoCodesThenStandardised) {
  CodeStandardiser cs(2);
  cs.eval();
  const Tensor y = codes({{1, 2}, {3, 6}});
  EXPECT_EQ(amax(abs(sub(cs.forward(y), y))).item(), 0.0);
  cs.track(codes({{1, 2}}));
  EXPECT_EQ(amax(abs(sub(cs.forward(y), y))).item(), 0.0);  // one code: no variance yet
  cs.track(codes({{3, 6}}));
  // mean (2, 4), var (1, 4): the two codes become -1 and +1 in each component
  const std::vector<double> c = cs.forward(y).to_vector();
  const std::vector<double> expected = {-1, -1, 1, 1};
  for (size_t i = 0; i < c.size(); ++i) EXPECT_NEAR(c[i], expected[i], 1e-7) << i;
}

// forward never changes the statistics; in batch mode a training pass of several codes is
// centred on their own mean (scaled by the running std), one code or eval mode as running.
TEST(CodeStandardiser, BatchModeCentresOnTheBatchOnlyInTraining) {
  CodeStandardiser batch(2, mode(CodeNorm::Batch)), running(2, mode(CodeNorm::Running));
  const Tensor seen = codes({{0, 0}, {2, 4}, {4, 8}});  // mean (2, 4), var (8/3, 32/3)
  batch.track(seen);
  running.track(seen);
  const Tensor y = codes({{10, 1}, {12, 5}, {14, 3}});  // batch mean (12, 3)
  batch.train();
  running.train();
  const std::vector<double> b = batch.forward(y).to_vector(), r = running.forward(y).to_vector();
  EXPECT_EQ(batch.codes_seen(), 3);  // forward did not track
  const double s0 = 1 / std::sqrt(8.0 / 3 + 1e-8), s1 = 1 / std::sqrt(32.0 / 3 + 1e-8);
  const std::vector<double> eb = {-2 * s0, -2 * s1, 0, 2 * s1, 2 * s0, 0};
  const std::vector<double> er = {8 * s0, -3 * s1, 10 * s0, 1 * s1, 12 * s0, -1 * s1};
  for (size_t i = 0; i < 6; ++i) {
    EXPECT_NEAR(b[i], eb[i], 1e-12) << i;
    EXPECT_NEAR(r[i], er[i], 1e-12) << i;
  }
  // One code in training, or eval mode: the running mean.
  const Tensor one = codes({{10, 1}});
  EXPECT_EQ(amax(abs(sub(batch.forward(one), running.forward(one)))).item(), 0.0);
  batch.eval();
  EXPECT_EQ(amax(abs(sub(batch.forward(y), running.forward(y)))).item(), 0.0);
  expect_error([&] { batch.forward(codes({{1, 2, 3}})); }, {"expected codes (N, 2)"});
  expect_error([&] { batch.track(Tensor::zeros({2})); }, {"expected codes (N, 2)"});
}

// The gradient goes through the batch mean: every row's code moves every row's output, and
// the outputs' sum over the batch does not depend on the codes at all.
TEST(CodeStandardiser, BatchModeGradientThroughTheMean) {
  CodeStandardiser cs(2, mode(CodeNorm::Batch));
  cs.track(codes({{0, 0}, {2, 4}, {4, 8}}));
  cs.train();
  Tensor y = codes({{10, 1}, {12, 5}, {14, 3}});
  y.set_requires_grad(true);
  const Tensor out = cs.forward(y);
  ag::backward(ag::sum(out));
  EXPECT_LT(amax(abs(y.grad())).item(), 1e-12);  // d(sum of centred rows)/dy = 0
}

// ---- Inside the ShiftUNet ----

ShiftUNetOptions tiny_with(CodeNorm m) {
  ShiftUNetOptions o = shift_unet_preset("tiny");
  o.code_norm = m;
  return o;
}

TEST(ShiftUNetCodeNorm, BuffersComeLastAndAreNotFrozen) {
  Generator gen(3);
  ShiftUNet off(tiny_with(CodeNorm::Off), gen), on(tiny_with(CodeNorm::Batch), gen);
  const auto a = off.ordered_state(), b = on.ordered_state();
  ASSERT_EQ(b.size(), a.size() + 3);
  for (size_t i = 0; i < a.size(); ++i) EXPECT_EQ(a[i].name, b[i].name);  // published order kept
  EXPECT_EQ(b[a.size()].name, "code_norm.running_mean");
  EXPECT_EQ(b[a.size() + 1].name, "code_norm.running_var");
  EXPECT_EQ(b[a.size() + 2].name, "code_norm.num_codes");
  EXPECT_FALSE(ShiftUNet::is_frozen_key("code_norm.running_mean"));
}

// Training mode folds the codes into the statistics, eval mode does not; forward() is
// forward_coded() of code_input().
TEST(ShiftUNetCodeNorm, OnlyTrainingPassesTrack) {
  Generator gen(4);
  ShiftUNet net(tiny_with(CodeNorm::Running), gen);
  const auto state = net.state_dict();
  const Tensor num = state.at("code_norm.num_codes");
  const int64_t E = net.options().latent_dim;
  const Tensor x = randn({2, 3, 8, 10, 8}, gen), t = Tensor::from_vector({5, 700}, {2}),
               y = randn({2, E}, gen);
  NoGrad no_grad;
  net.train_shift(true);
  net.forward(x, t, y);
  EXPECT_EQ(num.item(), 2.0);
  net.code_input(y);
  EXPECT_EQ(num.item(), 4.0);
  net.train_shift(false);
  const auto [eps, shift] = net.forward(x, t, y);
  EXPECT_EQ(num.item(), 4.0);
  const auto [eps2, shift2] = net.forward_coded(x, t, net.code_input(y));
  EXPECT_EQ(amax(abs(sub(shift, shift2))).item(), 0.0);
  EXPECT_EQ(amax(abs(sub(eps, eps2))).item(), 0.0);
  expect_error([&] { net.forward(x, t, randn({3, E}, gen)); }, {"expected y_sem (2, "});
  EXPECT_EQ(num.item(), 4.0);  // a refused call changes nothing
}

// A stage-3 step with K noise draws standardises the N scans' codes once: the statistics
// count N codes, not K * N.
TEST(ShiftUNetCodeNorm, PdaeStepCountsEachScanOnce) {
  Generator gen(21);
  AttentionSemanticEncoder encoder(attention_semantic_encoder_preset("tiny"), gen);
  ShiftUNet net(tiny_with(CodeNorm::Batch), gen);
  encoder.train();
  net.train_shift(true);
  Generator data(22);
  const Tensor slices = axial_slices(rand({2, 1, 16, 20, 16}, data));
  const Tensor z0 = randn({2, 3, 8, 10, 8}, data);
  Generator noise(5);
  PdaeLossOptions three;
  three.noise_draws = 3;
  pdae_backward(encoder, net, diffusion::Schedule::linear(), slices, z0, noise, three, 1.0);
  EXPECT_EQ(net.state_dict().at("code_norm.num_codes").item(), 2.0);
}

}  // namespace
}  // namespace ldae::nets
