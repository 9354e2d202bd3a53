// Stage 1's micro-batch (ldae/ae_gan_step.h). The published discriminator-gradient leak is
// fixed by default: after the generator pass D holds no gradient, so the D update equals
// that of a D-only backward bit for bit; faithful_disc_grad_leak = true reproduces the
// leak (D's gradient = D-only + the generator pass's adversarial term). The generator's
// own gradients are the same either way.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/functions.h"
#include "ldae/ae_gan_step.h"
#include "ldae/presets.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace ldae;
using namespace ldae::nets;

namespace {

struct Nets {
  Nets() : init(3), ae(autoencoder_kl_preset("tiny"), init), disc(patch_discriminator_preset("tiny"), init) {
    ae.train();
    disc.train();
  }
  Generator init;
  AutoencoderKL ae;
  PatchDiscriminator disc;
};

// Copies of the gradients (undefined ones as empty vectors).
std::map<std::string, std::vector<double>> grads(const nn::Module& m) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& [name, p] : m.named_parameters()) out[name] = p.grad().defined() ? p.grad().to_vector() : std::vector<double>{};
  return out;
}

bool any_gradient(const nn::Module& m) {
  for (const auto& [_, p] : m.named_parameters())
    if (p.grad().defined())
      for (double v : p.grad().to_vector())
        if (v != 0) return true;
  return false;
}

}  // namespace

TEST(AeGanStep, FixedDiscriminatorUpdateHoldsNoGeneratorTerm) {
  Generator data(11);
  const Tensor x = rand({1, 1, 16, 20, 16}, data);
  AeGanLossOptions o;  // the published weights; faithful_disc_grad_leak = false

  for (bool faithful : {false, true}) {
    SCOPED_TRACE(faithful ? "faithful" : "fixed");
    o.faithful_disc_grad_leak = faithful;
    Nets n;
    Generator noise(5);
    const GeneratorPass g = generator_backward(n.ae, n.disc, x, noise, o, /*adv_on=*/true, 0.5);
    ASSERT_TRUE(std::isfinite(g.loss));
    EXPECT_GT(g.adversarial, 0);
    EXPECT_TRUE(any_gradient(n.ae));
    // Fixed: D collected nothing in the generator pass. Faithful: it did.
    EXPECT_EQ(any_gradient(n.disc), faithful);
    const auto leaked = grads(n.disc);
    for (const auto& [_, p] : n.disc.named_parameters()) EXPECT_TRUE(p.requires_grad());  // unfrozen again
    discriminator_backward(n.disc, x, g.reconstruction, o, 0.5);
    const auto combined = grads(n.disc);

    // The D-only backward on the same inputs (train-mode BatchNorm normalises with the
    // batch's statistics, so the running statistics it updated do not change this).
    n.disc.zero_grad();
    discriminator_backward(n.disc, x, g.reconstruction, o, 0.5);
    const auto d_only = grads(n.disc);
    if (!faithful) {
      EXPECT_EQ(combined, d_only);  // bit for bit: no generator term
    } else {
      // combined = leaked + d_only (up to the order of the float additions).
      double worst = 0, largest_leak = 0;
      for (const auto& [name, c] : combined) {
        const auto& l = leaked.at(name);
        const auto& d = d_only.at(name);
        ASSERT_EQ(c.size(), d.size());
        for (size_t i = 0; i < c.size(); ++i) {
          const double li = l.empty() ? 0.0 : l[i];
          worst = std::max(worst, std::abs(c[i] - (li + d[i])) / (1e-6 + std::abs(li) + std::abs(d[i])));
          largest_leak = std::max(largest_leak, std::abs(li));
        }
      }
      EXPECT_LT(worst, 1e-4);
      EXPECT_GT(largest_leak, 0);
      EXPECT_NE(combined, d_only);
    }
  }
}

TEST(AeGanStep, GeneratorGradientsDoNotDependOnTheFix) {
  Generator data(12);
  const Tensor x = rand({1, 1, 16, 20, 16}, data);
  std::map<std::string, std::vector<double>> by_mode[2];
  for (int faithful = 0; faithful < 2; ++faithful) {
    AeGanLossOptions o;
    o.faithful_disc_grad_leak = faithful == 1;
    Nets n;
    Generator noise(5);
    generator_backward(n.ae, n.disc, x, noise, o, true, 1.0);
    by_mode[faithful] = grads(n.ae);
  }
  EXPECT_EQ(by_mode[0], by_mode[1]);
}

TEST(AeGanStep, LossesFollowThePublishedFormula) {
  Generator data(13);
  const Tensor x = rand({1, 1, 16, 20, 16}, data);
  AeGanLossOptions o;
  o.kl_weight = 0.5;  // large enough to see in the sum
  Nets n;
  Generator noise(5);
  const GeneratorPass off = generator_backward(n.ae, n.disc, x, noise, o, /*adv_on=*/false, 1.0);
  EXPECT_EQ(off.adversarial, 0);
  EXPECT_FALSE(any_gradient(n.disc));  // warm-up: D untouched
  EXPECT_NEAR(off.loss, off.l1 + 0.5 * off.kl, 1e-6 * std::abs(off.loss));
  n.ae.zero_grad();
  Generator noise2(5);
  const GeneratorPass on = generator_backward(n.ae, n.disc, x, noise2, o, true, 1.0);
  EXPECT_NEAR(on.loss, on.l1 + 0.5 * on.kl + 0.025 * on.adversarial, 1e-6 * std::abs(on.loss));
  const DiscriminatorPass d = discriminator_backward(n.disc, x, on.reconstruction, o, 1.0);
  EXPECT_NEAR(d.loss, 0.025 * 0.5 * (d.fake + d.real), 1e-7);
  // The perceptual hook adds weight * P.
  o.perceptual = [](const Tensor& a, const Tensor& b) { return ag::mean(ag::abs(ag::sub(a, b))); };
  Generator noise3(5);
  const GeneratorPass p = generator_backward(n.ae, n.disc, x, noise3, o, false, 1.0);
  EXPECT_NEAR(p.perceptual, p.l1, 1e-6);
  EXPECT_NEAR(p.loss, p.l1 + 0.5 * p.kl + 1e-3 * p.perceptual, 1e-6 * std::abs(p.loss));
  // The NaN hook: the loss is NaN and no backward ran.
  n.ae.zero_grad();
  Generator noise4(5);
  const GeneratorPass bad = generator_backward(n.ae, n.disc, x, noise4, o, false, 1.0, /*inject_nan=*/true);
  EXPECT_TRUE(std::isnan(bad.loss));
  EXPECT_FALSE(any_gradient(n.ae));
}
