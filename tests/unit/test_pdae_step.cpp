// The stage-3 training step (ldae/pdae_step.h) on the tiny networks: the loss value by hand,
// where the gradients go, and that a few Adam steps make the shift explain part of the
// frozen UNet's error.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/no_grad.h"
#include "diffusion/forward.h"
#include "ldae/pdae_step.h"
#include "ldae/presets.h"
#include "nn/adam.h"
#include "nn/clip_grad.h"
#include "tensor/ops.h"

namespace ldae::nets {
namespace {

double max_abs(const Tensor& t) {
  return amax(abs(t.detach())).item();
}

struct TinyStage3 {
  Generator gen{21};
  AttentionSemanticEncoder encoder{attention_semantic_encoder_preset("tiny"), gen};
  ShiftUNet net{shift_unet_preset("tiny"), gen};
  diffusion::Schedule schedule = diffusion::Schedule::linear();
  Tensor slices,
      z0;  // two scans: (2, 1, 16, 16, 20) slices of (2, 1, 16, 20, 16) volumes; (2, 3, 8, 10, 8)
  TinyStage3() {
    Generator data(22);
    slices = axial_slices(rand({2, 1, 16, 20, 16}, data));
    z0 = randn({2, 3, 8, 10, 8}, data);
    encoder.train();
    net.train_shift(true);
  }
};

// What stage 3 trains: the encoder and the shift branch (the frozen UNet has no gradient).
nn::NamedTensors trainable_params(TinyStage3& s) {
  nn::NamedTensors params;
  for (const auto& [n, p] : s.encoder.named_parameters()) params.push_back({"encoder." + n, p});
  for (const auto& [n, p] : s.net.named_parameters())
    if (p.requires_grad()) params.push_back({"shift_unet." + n, p});
  return params;
}

TEST(PdaeStep, ShiftPresetMatchesTheEncoder) {
  for (const auto& p : preset_names())
    EXPECT_EQ(shift_unet_preset(p).latent_dim, attention_semantic_encoder_preset(p).emb_chans) << p;
  EXPECT_EQ(shift_unet_preset("paper").latent_dim, 768);
}

TEST(PdaeStep, LossByHandAtInitialisation) {
  TinyStage3 s;
  Generator noise(5, 100);
  Generator replay = noise;
  const PdaePass p = pdae_backward(s.encoder, s.net, s.schedule, s.slices, s.z0, noise, {}, 1.0);
  // Freshly built, G = 0: the loss is what the frozen UNet leaves.
  EXPECT_EQ(p.shift_rms, 0.0);
  EXPECT_DOUBLE_EQ(p.loss, p.loss_frozen);
  EXPECT_GT(p.y_sem_std, 0.0);
  // The same draws by hand: t first, then eps.
  const std::vector<int64_t> t = diffusion::sample_timesteps(2, 1000, replay);
  const Tensor eps = randn(s.z0.shape(), replay);
  NoGrad no_grad;
  const Tensor z_t = diffusion::q_sample(s.schedule, s.z0, t, eps);
  const Tensor eps_theta = s.net
                               .forward(z_t, Tensor::from_vector({double(t[0]), double(t[1])}, {2}),
                                        Tensor::zeros({2, 32}))
                               .first;
  const Tensor e = eps.contiguous(), et = eps_theta.contiguous();
  const int64_t per = e.numel() / 2;
  double sum = 0;
  for (int64_t i = 0; i < e.numel(); ++i) {
    const double d = double(e.data<float>()[i]) - double(et.data<float>()[i]);
    sum += s.schedule.pdae_loss_weight(t[i / per], 0.1) * d * d;
  }
  EXPECT_NEAR(p.loss, sum / double(e.numel()), 1e-6 * std::abs(p.loss) + 1e-9);
  EXPECT_GT(noise.offset, Generator(5, 100).offset);  // the draws came from `noise`
  EXPECT_EQ(noise.offset, replay.offset);
}

TEST(PdaeStep, GradientsReachOnlyTheTrainableParts) {
  TinyStage3 s;
  Generator noise(6);
  pdae_backward(s.encoder, s.net, s.schedule, s.slices, s.z0, noise, {}, 1.0);
  for (const auto& [name, p] : s.net.named_parameters()) {
    if (ShiftUNet::is_frozen_key(name)) {
      EXPECT_FALSE(p.grad().defined()) << name;
    }
  }
  // The zero-initialised head gets a gradient at once ...
  EXPECT_GT(max_abs(s.net.state_dict().at("shift_out.2.weight").grad()), 0.0);
  // ... and after a few Adam steps the gradient reaches the encoder through the shift.
  nn::Adam adam(trainable_params(s), nn::AdamOptions{1e-3});
  for (int i = 0; i < 3; ++i) {
    adam.step();
    s.encoder.zero_grad();
    s.net.zero_grad();
    pdae_backward(s.encoder, s.net, s.schedule, s.slices, s.z0, noise, {}, 1.0);
  }
  double encoder_grad = 0;
  for (const auto& [n, p] : s.encoder.named_parameters())
    if (p.grad().defined()) encoder_grad = std::max(encoder_grad, max_abs(p.grad()));
  EXPECT_GT(encoder_grad, 0.0);
}

TEST(PdaeStep, ScaleScalesTheGradients) {
  TinyStage3 a, b;
  Generator na(7), nb(7);
  pdae_backward(a.encoder, a.net, a.schedule, a.slices, a.z0, na, {}, 1.0);
  pdae_backward(b.encoder, b.net, b.schedule, b.slices, b.z0, nb, {}, 0.25);
  const Tensor ga = a.net.state_dict().at("shift_out.2.weight").grad();
  const Tensor gb = b.net.state_dict().at("shift_out.2.weight").grad();
  EXPECT_LT(max_abs(sub(mul_scalar(ga, 0.25), gb)), 1e-6 * max_abs(ga));
}

TEST(PdaeStep, TrainingTheShiftLowersTheLossOnAFixedBatch) {
  TinyStage3 s;
  s.encoder.eval();  // no dropout: the same batch, the same noise, a deterministic target
  s.net.train_shift(false);
  const nn::NamedTensors params = trainable_params(s);
  nn::Adam adam(params, nn::AdamOptions{2e-3});
  PdaePass first, last;
  for (int i = 0; i < 25; ++i) {
    Generator noise(8);  // the same t and eps every step
    last = pdae_backward(s.encoder, s.net, s.schedule, s.slices, s.z0, noise, {}, 1.0);
    if (i == 0) first = last;
    std::vector<Tensor> ps;
    for (auto& [n, p] : params) ps.push_back(p);
    nn::clip_grad_norm(ps, 1.0);
    adam.step();
    s.encoder.zero_grad();
    s.net.zero_grad();
  }
  EXPECT_DOUBLE_EQ(first.loss_frozen, last.loss_frozen);  // the frozen UNet did not move
  EXPECT_GT(last.shift_rms, 0.0);
  EXPECT_LT(last.loss, 0.9 * first.loss) << "first " << first.loss << ", last " << last.loss;
}

// noise_draws = K encodes each scan once and trains on K noisy copies of its latent: the
// same draws, loss and gradients as encoding the batch K times over (eval mode, no
// dropout, so both encodings agree), for one encoder pass.
TEST(PdaeStep, NoiseDrawsEqualARepeatedBatch) {
  TinyStage3 a, b;
  for (TinyStage3* s : {&a, &b}) {
    s->encoder.eval();
    s->net.train_shift(false);
  }
  nn::Adam adam_a(trainable_params(a), nn::AdamOptions{1e-3}),
      adam_b(trainable_params(b), nn::AdamOptions{1e-3});
  PdaeLossOptions two;
  two.noise_draws = 2;
  const Tensor slices_twice = cat({b.slices, b.slices}, 0), z0_twice = cat({b.z0, b.z0}, 0);
  Generator na(12), nb(12);
  for (int step = 0; step < 4; ++step) {  // after a few Adam steps the encoder gets gradients too
    a.encoder.zero_grad();
    a.net.zero_grad();
    b.encoder.zero_grad();
    b.net.zero_grad();
    const PdaePass pa = pdae_backward(a.encoder, a.net, a.schedule, a.slices, a.z0, na, two, 1.0);
    const PdaePass pb =
        pdae_backward(b.encoder, b.net, b.schedule, slices_twice, z0_twice, nb, {}, 1.0);
    EXPECT_NEAR(pa.loss, pb.loss, 1e-5 * pb.loss) << "step " << step;
    EXPECT_NEAR(pa.loss_frozen, pb.loss_frozen, 1e-6 * pb.loss_frozen) << "step " << step;
    EXPECT_EQ(na.offset, nb.offset);  // the same number of draws
    const auto pas = trainable_params(a), pbs = trainable_params(b);
    double worst = 0, largest = 0;
    for (size_t i = 0; i < pas.size(); ++i) {
      const Tensor ga = pas[i].second.grad(), gb = pbs[i].second.grad();
      ASSERT_EQ(ga.defined(), gb.defined()) << pas[i].first;
      if (!gb.defined()) continue;
      worst = std::max(worst, max_abs(sub(ga, gb)));
      largest = std::max(largest, max_abs(gb));
    }
    ASSERT_GT(largest, 0.0);
    EXPECT_LT(worst, 1e-4 * largest) << "step " << step;
    adam_a.step();
    adam_b.step();
  }
  double encoder_grad = 0;
  for (const auto& [n, p] : a.encoder.named_parameters())
    if (p.grad().defined()) encoder_grad = std::max(encoder_grad, max_abs(p.grad()));
  EXPECT_GT(encoder_grad, 0.0);  // the comparison above covered the encoder's gradients
  PdaeLossOptions zero;
  zero.noise_draws = 0;
  EXPECT_THROW(pdae_backward(a.encoder, a.net, a.schedule, a.slices, a.z0, na, zero, 1.0), Error);
}

TEST(PdaeStep, InjectedNanAndBadShapes) {
  TinyStage3 s;
  Generator noise(9);
  const PdaePass p =
      pdae_backward(s.encoder, s.net, s.schedule, s.slices, s.z0, noise, {}, 1.0, true);
  EXPECT_TRUE(std::isnan(p.loss));
  for (const auto& [n, q] : s.net.named_parameters()) EXPECT_FALSE(q.grad().defined()) << n;
  EXPECT_THROW(pdae_backward(s.encoder, s.net, s.schedule, s.z0, s.z0, noise, {}, 1.0), Error);
  EXPECT_THROW(pdae_backward(s.encoder, s.net, s.schedule, s.slices, randn({3, 3, 8, 10, 8}, noise),
                             noise, {}, 1.0),
               Error);
}

}  // namespace
}  // namespace ldae::nets
