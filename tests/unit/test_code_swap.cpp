// The code-swap check (ldae/code_swap.h): its arithmetic, its partners, its input checks,
// that it reads 0 when the codes are equal, and that a shift branch trained on two scans
// learns to need each scan's own code.
#include <gtest/gtest.h>

#include <cmath>

#include "autograd/engine.h"
#include "autograd/no_grad.h"
#include "diffusion/forward.h"
#include "diffusion/loss.h"
#include "ldae/code_swap.h"
#include "ldae/presets.h"
#include "nn/adam.h"
#include "nn/clip_grad.h"
#include "tensor/error.h"
#include "tensor/ops.h"

namespace ldae::nets {
namespace {

TEST(CodeSwap, ShareIsTheLostPartOfTheGain) {
  EXPECT_DOUBLE_EQ((CodeSwap{1.0, 1.5, 2.0}).share(), 0.5);
  EXPECT_DOUBLE_EQ((CodeSwap{1.0, 1.0, 2.0}).share(), 0.0);
  EXPECT_DOUBLE_EQ((CodeSwap{1.0, 3.0, 2.0}).share(), 2.0);  // a wrong code worse than none
  EXPECT_TRUE(std::isnan((CodeSwap{2.0, 2.5, 2.0}).share()));  // no gain: no ratio
  EXPECT_TRUE(std::isnan((CodeSwap{2.0, 2.5, 1.0}).share()));
}

TEST(CodeSwap, PartnersAreTheNextScanOfAnotherSubject) {
  EXPECT_EQ(other_subject_partners({"a", "a", "b", "c"}), (std::vector<size_t>{2, 2, 3, 0}));
  EXPECT_EQ(other_subject_partners({"a", "b"}), (std::vector<size_t>{1, 0}));
  EXPECT_TRUE(other_subject_partners({"a", "a", "a"}).empty());
  EXPECT_TRUE(other_subject_partners({}).empty());
}

struct TinyBranch {
  Generator gen{31};
  ShiftUNet net{shift_unet_preset("tiny"), gen};
  diffusion::Schedule schedule = diffusion::Schedule::linear();
  std::vector<Tensor> z0;  // two scans (1, 3, 8, 10, 8), far apart
  Tensor codes;            // (2, 32): two different codes
  TinyBranch() {
    Generator data(32);
    z0 = {add_scalar(randn({1, 3, 8, 10, 8}, data), 1.5),
          add_scalar(randn({1, 3, 8, 10, 8}, data), -1.5)};
    codes = randn({2, 32}, data);
    net.train_shift(false);
  }
};

TEST(CodeSwap, AFreshBranchHasNoShiftSoNoShare) {
  TinyBranch b;
  const std::vector<int64_t> t = {10, 500, 990};
  const CodeSwap c = code_swap(b.net, b.schedule, b.z0, b.codes, {1, 0}, t, Generator(4), {});
  EXPECT_GT(c.loss_frozen, 0.0);
  EXPECT_EQ(c.loss_own, c.loss_frozen);  // the zero-initialised head: G = 0 exactly
  EXPECT_EQ(c.loss_swapped, c.loss_frozen);
  EXPECT_TRUE(std::isnan(c.share()));
  // By hand: the mean over the scans of the PDAE loss of 3 noisy copies, noise drawn scan
  // after scan from the generator.
  Generator replay(4);
  NoGrad no_grad;
  double sum = 0;
  for (int i = 0; i < 2; ++i) {
    const Tensor x0 = b.z0[i].expand({3, 3, 8, 10, 8}).contiguous();
    const Tensor eps = randn(x0.shape(), replay);
    const Tensor x_t = diffusion::q_sample(b.schedule, x0, t, eps);
    const Tensor y = b.codes.slice(0, i, i + 1).expand({3, 32}).contiguous();
    const auto [eps_theta, shift] = b.net.forward(x_t, diffusion::timestep_tensor(t, cpu_device()), y);
    sum += diffusion::pdae_loss(b.schedule, t, eps, eps_theta, mul_scalar(shift, 0.0)).item();
  }
  EXPECT_NEAR(c.loss_frozen, sum / 2, 1e-7 * sum);
}

// A branch whose shift ignores the code (here a constant bias on the zero-initialised head):
// swapping the code changes nothing, while the shift itself does change the loss.
TEST(CodeSwap, AShiftThatIgnoresTheCodeReadsZero) {
  TinyBranch b;
  {
    NoGrad no_grad;
    b.net.state_dict().at("shift_out.2.bias").fill_(0.05);
  }
  const CodeSwap c = code_swap(b.net, b.schedule, b.z0, b.codes, {1, 0}, {200, 700}, Generator(4), {});
  EXPECT_NE(c.loss_own, c.loss_frozen);
  EXPECT_EQ(c.loss_swapped, c.loss_own);
  if (c.loss_own < c.loss_frozen) {
    EXPECT_EQ(c.share(), 0.0);
  }
}

TEST(CodeSwap, BadInputIsRefused) {
  TinyBranch b;
  EXPECT_THROW(code_swap(b.net, b.schedule, b.z0, b.codes, {0, 1}, {100, 900}, Generator(4), {}), Error);
  EXPECT_THROW(code_swap(b.net, b.schedule, b.z0, b.codes, {1, 2}, {100, 900}, Generator(4), {}), Error);
  EXPECT_THROW(code_swap(b.net, b.schedule, b.z0, b.codes, {1}, {100, 900}, Generator(4), {}), Error);
  EXPECT_THROW(code_swap(b.net, b.schedule, b.z0, b.codes, {1, 0}, {}, Generator(4), {}), Error);
  EXPECT_THROW(code_swap(b.net, b.schedule, b.z0, b.codes, {1, 0}, {1000}, Generator(4), {}), Error);
  EXPECT_THROW(code_swap(b.net, b.schedule, {b.z0[0]}, b.codes.slice(0, 0, 1), {0}, {100},
                         Generator(4), {}),
               Error);
  EXPECT_THROW(code_swap(b.net, b.schedule, b.z0, Tensor::zeros({3, 32}), {1, 0}, {100, 900}, Generator(4), {}),
               Error);
}

// Trains only the branch, with fixed codes, on the two scans at the timesteps t, fresh
// noise at every step.
void train_branch(TinyBranch& b, const Tensor& codes, const std::vector<int64_t>& t, int steps) {
  nn::NamedTensors params;
  for (const auto& [n, p] : b.net.named_parameters())
    if (p.requires_grad()) params.push_back({n, p});
  std::vector<Tensor> ps;
  for (auto& [n, p] : params) ps.push_back(p);
  nn::Adam adam(params, nn::AdamOptions{2e-3});
  Generator noise(9);
  const int64_t k = static_cast<int64_t>(t.size());
  std::vector<int64_t> tt;  // each scan at every timestep
  for (int scan = 0; scan < 2; ++scan) tt.insert(tt.end(), t.begin(), t.end());
  std::vector<Tensor> x0s, ys;
  for (int scan = 0; scan < 2; ++scan) {
    x0s.push_back(b.z0[scan].expand({k, 3, 8, 10, 8}));
    ys.push_back(codes.slice(0, scan, scan + 1).expand({k, codes.size(1)}));
  }
  const Tensor z0 = cat(x0s, 0), y = cat(ys, 0);  // (2k, 3, 8, 10, 8), (2k, 32)
  for (int i = 0; i < steps; ++i) {
    const Tensor eps = randn(z0.shape(), noise);
    const Tensor z_t = diffusion::q_sample(b.schedule, z0, tt, eps);
    const auto [eps_theta, shift] = b.net.forward(z_t, diffusion::timestep_tensor(tt, cpu_device()), y);
    ag::backward(diffusion::pdae_loss(b.schedule, tt, eps, eps_theta, shift));
    nn::clip_grad_norm(ps, 1.0);
    adam.step();
    b.net.zero_grad();
  }
}

TEST(CodeSwap, ABranchTrainedOnTwoScansNeedsTheirOwnCodes) {
  const std::vector<int64_t> t = {300, 500, 700};
  TinyBranch b;
  train_branch(b, b.codes, t, 20);
  const CodeSwap c = code_swap(b.net, b.schedule, b.z0, b.codes, {1, 0}, t, Generator(4), {});
  // With a frozen UNet that is far from the best denoiser (here a random one), most of what
  // the branch learns is to denoise better from x_t alone, which needs no code: the part
  // lost to a swapped code is small, but there.
  EXPECT_LT(c.loss_own, 0.75 * c.loss_frozen) << "own " << c.loss_own << ", frozen " << c.loss_frozen;
  EXPECT_GT(c.loss_swapped, c.loss_own) << "own " << c.loss_own << ", swapped " << c.loss_swapped;
  EXPECT_GT(c.share(), 0.0);
  EXPECT_LT(c.share(), 0.1) << "share " << c.share();
  // The same codes for both scans: swapping changes nothing.
  const Tensor same = cat({b.codes.slice(0, 0, 1), b.codes.slice(0, 0, 1)}, 0);
  const CodeSwap s = code_swap(b.net, b.schedule, b.z0, same, {1, 0}, t, Generator(4), {});
  EXPECT_EQ(s.loss_swapped, s.loss_own);
  // A copy of the generator: the same call gives the same numbers.
  const CodeSwap again = code_swap(b.net, b.schedule, b.z0, b.codes, {1, 0}, t, Generator(4), {});
  EXPECT_EQ(again.loss_own, c.loss_own);
  EXPECT_EQ(again.loss_swapped, c.loss_swapped);
}

}  // namespace
}  // namespace ldae::nets
