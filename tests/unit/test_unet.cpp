// The LDAE denoiser UNet and the ShiftUNet gradient estimator (ldae/unet.h,
// ldae/shift_unet.h): the published state-dict listings at the paper configuration, forward
// shapes at tiny configurations, the frozen part, and loading it from a stage-2 file.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <tuple>

#include "../common/test_helpers.h"
#include "ldae/shift_unet.h"
#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "ldae/unet.h"
#include "nn/init.h"
#include "nn/state_dict_listing.h"
#include "tensor/safetensors.h"

using namespace ldae;
using namespace ldae::nets;
namespace fs = std::filesystem;

namespace {

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  EXPECT_TRUE(in.good()) << "cannot open " << path;
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// The tiny configuration of the forward tests: base 8, levels 8 and 16, attention at ds 2.
UNetOptions tiny(bool isotropic) {
  UNetOptions o = unet_options("tiny");
  o.isotropic_resampling = isotropic;
  return o;
}

// Timesteps as the network receives them (integers as numbers).
Tensor timesteps(std::vector<double> t) {
  const int64_t n = static_cast<int64_t>(t.size());
  return Tensor::from_vector(t, {n});
}

double max_abs(const Tensor& t) {
  double m = 0.0;
  for (double v : t.to_vector()) m = std::max(m, std::abs(v));
  return m;
}

// A per-test temporary folder, removed at the end.
class UNetLoad : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("ldae_unet_" + std::to_string(::getpid()) + "_" + info->name());
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A tiny stage-2 file: a UNet's state dict under "ema.", plus an unrelated key.
  std::map<std::string, Tensor> stage2_state(const UNet& unet) const {
    std::map<std::string, Tensor> state;
    for (const auto& [k, v] : unet.state_dict()) state["ema." + k] = v.detach();
    state["model.something_else"] = Tensor::zeros({2});
    return state;
  }

  fs::path dir_;
};

}  // namespace

// The paper configurations (487M and 865M parameters) are built with the random fills
// skipped (nn::init::SkipInitialisation): the parameters are Tensor::empty allocations that
// nothing writes, so their pages are never touched and the build costs well under a
// second and (almost) no resident memory, even under AddressSanitizer.
TEST(UNet, PaperListingMatchesPublished) {
  Generator gen(0);
  nn::init::SkipInitialisation skip;
  UNet unet(unet_options("paper"), gen);
  EXPECT_EQ(nn::state_dict_listing(unet), read_text(LDAE_SOURCE_DIR "/tests/reference/state_dicts/unet.txt"));
  EXPECT_EQ(unet.parameter_count(), 486927363);
}

TEST(ShiftUNet, PaperListingMatchesPublished) {
  Generator gen(0);
  nn::init::SkipInitialisation skip;
  ShiftUNet net(shift_unet_options("paper"), gen);
  EXPECT_EQ(nn::state_dict_listing(net),
            read_text(LDAE_SOURCE_DIR "/tests/reference/state_dicts/shift_unet.txt"));
  EXPECT_EQ(net.parameter_count(), 865339142);
}

TEST(UNet, SkipInitialisationLeavesTheGeneratorAlone) {
  Generator gen(7);
  {
    nn::init::SkipInitialisation skip;
    UNet unet(tiny(false), gen);
    EXPECT_EQ(gen.offset, 0u);
  }
  EXPECT_FALSE(nn::init::initialisation_skipped());
  UNet unet(tiny(false), gen);
  EXPECT_GT(gen.offset, 0u);  // a normal build draws its random fills
}

TEST(UNet, ForwardShapesPublishedResampling) {
  Generator gen(1);
  UNet unet(tiny(false), gen);
  NoGrad no_grad;  // shapes only
  Tensor x = rand({2, 3, 8, 10, 8}, gen);
  Tensor eps = unet.forward(x, timesteps({3, 999}));
  EXPECT_EQ(eps.shape(), (Shape{2, 3, 8, 10, 8}));
  // The zero-initialised head: a fresh UNet predicts eps = 0 exactly.
  EXPECT_EQ(max_abs(eps), 0.0);
}

TEST(UNet, ForwardShapesIsotropicResampling) {
  Generator gen(2);
  UNet unet(tiny(true), gen);
  NoGrad no_grad;  // shapes only
  // The published (1, 2, 2) keeps the first axis: an odd first axis works there but not
  // with 2x2x2 pooling. So an even one here, and the output must come back full size.
  Tensor x = rand({1, 3, 8, 10, 8}, gen);
  EXPECT_EQ(unet.forward(x, timesteps({10})).shape(), (Shape{1, 3, 8, 10, 8}));
  // The first axis really is resampled: a size that 2x2x2 pooling cannot undo fails
  // (7 -> 3 -> 6), while the published resampling accepts it.
  Tensor odd = rand({1, 3, 7, 10, 8}, gen);
  EXPECT_THROW(unet.forward(odd, timesteps({10})), Error);
  UNet published(tiny(false), gen);
  EXPECT_EQ(published.forward(odd, timesteps({10})).shape(), (Shape{1, 3, 7, 10, 8}));
}

TEST(UNet, OutputDependsOnInputAndTime) {
  Generator gen(3);
  UNet unet(tiny(false), gen);
  // Give the zero-initialised layers values so that every path contributes.
  Generator fill(4);
  for (auto& [name, p] : unet.named_parameters()) nn::init::uniform_(p, -0.2, 0.2, fill);
  unet.eval();
  NoGrad no_grad;  // values only
  Tensor x = rand({1, 3, 4, 6, 4}, gen);
  Tensor a = unet.forward(x, timesteps({5}));
  Tensor b = unet.forward(x, timesteps({500}));
  Tensor c = unet.forward(rand({1, 3, 4, 6, 4}, gen), timesteps({5}));
  EXPECT_GT(max_abs(a), 0.0);
  EXPECT_GT(max_abs(sub(a, b)), 1e-6);
  EXPECT_GT(max_abs(sub(a, c)), 1e-6);
}

TEST(UNet, UnknownPresetIsAnError) {
  ldae::testing::expect_error([] { unet_options("huge"); }, {"huge", "paper", "course", "tiny"});
}

TEST(UNet, CoursePresetFitsTheCourseLatent) {
  // 3x16x20x16, the latent of a 64x80x64 image. A full forward costs ~2 GFLOP (too slow for
  // a unit test), so the same network runs on a latent with the course's resampled axes
  // (20 -> 10 -> 5 and 16 -> 8 -> 4) but a short first axis, which the published (1, 2, 2)
  // resampling never touches.
  const UNetOptions o = unet_options("course");
  EXPECT_EQ(o.input_channel, 3);
  EXPECT_FALSE(o.isotropic_resampling);
  Generator gen(0);
  UNet unet(o, gen);
  EXPECT_LT(unet.parameter_count(), 10000000);  // CPU-sized
  NoGrad no_grad;  // shapes only
  EXPECT_EQ(unet.forward(Tensor::zeros({1, 3, 1, 20, 16}), timesteps({1})).shape(), (Shape{1, 3, 1, 20, 16}));
}

TEST(ShiftUNet, ForwardShapesAndFrozenPart) {
  Generator gen(5);
  ShiftUNet net(shift_unet_options("tiny"), gen);
  Tensor x = rand({2, 3, 8, 10, 8}, gen);
  Tensor y = rand({2, 16}, gen);
  Tensor eps, shift;
  {
    NoGrad no_grad;  // shapes only
    std::tie(eps, shift) = net.forward(x, timesteps({0, 20}), y);
  }
  EXPECT_EQ(eps.shape(), (Shape{2, 3, 8, 10, 8}));
  EXPECT_EQ(shift.shape(), (Shape{2, 3, 8, 10, 8}));
  EXPECT_EQ(max_abs(shift), 0.0);  // zero-initialised shift_out: G = 0 at step 0

  int64_t frozen = 0, trainable = 0;
  for (const auto& [name, p] : net.named_parameters()) {
    const bool shift_part = name.rfind("label_emb.", 0) == 0 || name.rfind("shift_", 0) == 0;
    EXPECT_EQ(p.requires_grad(), shift_part) << name;
    (shift_part ? trainable : frozen) += 1;
  }
  EXPECT_GT(frozen, 0);
  EXPECT_GT(trainable, 0);
  EXPECT_EQ(static_cast<int64_t>(net.trainable_parameters().size()), trainable);
  // The frozen part is as big as the UNet of the same options.
  UNet unet(shift_unet_options("tiny").unet, gen);
  int64_t frozen_count = 0;
  for (const auto& [name, p] : net.named_parameters())
    if (ShiftUNet::is_frozen_key(name)) frozen_count += p.numel();
  EXPECT_EQ(frozen_count, unet.parameter_count());
}

TEST(ShiftUNet, ShiftDependsOnTheSemanticCode) {
  Generator gen(6);
  ShiftUNet net(shift_unet_options("tiny"), gen);
  Generator fill(8);
  for (auto& [name, p] : net.named_parameters())
    if (!ShiftUNet::is_frozen_key(name)) nn::init::uniform_(p, -0.2, 0.2, fill);
  net.eval();
  NoGrad no_grad;  // values only
  Tensor x = rand({1, 3, 4, 6, 4}, gen);
  auto [eps_a, shift_a] = net.forward(x, timesteps({9}), rand({1, 16}, gen));
  auto [eps_b, shift_b] = net.forward(x, timesteps({9}), rand({1, 16}, gen));
  EXPECT_EQ(max_abs(sub(eps_a, eps_b)), 0.0);  // eps ignores y_sem
  EXPECT_GT(max_abs(sub(shift_a, shift_b)), 1e-6);
}

TEST(ShiftUNet, GradientsReachOnlyTheShiftBranch) {
  Generator gen(10);
  ShiftUNet net(shift_unet_options("tiny"), gen);
  Generator fill(11);
  {
    NoGrad no_grad;  // non-zero shift heads, so that gradients flow through the whole branch
    for (auto& [name, p] : net.named_parameters())
      if (!ShiftUNet::is_frozen_key(name)) nn::init::uniform_(p, -0.2, 0.2, fill);
  }
  auto [eps, shift] = net.forward(rand({1, 3, 2, 4, 4}, gen), timesteps({7}), rand({1, 16}, gen));
  ag::backward(ag::add(ag::sum(shift), ag::sum(eps)));
  for (const auto& [name, p] : net.named_parameters()) {
    if (ShiftUNet::is_frozen_key(name)) {
      EXPECT_FALSE(p.grad().defined()) << name;
    }
  }
  EXPECT_GT(max_abs(net.state_dict().at("label_emb.weight").grad()), 0.0);
  EXPECT_GT(max_abs(net.state_dict().at("shift_middle_block.0.in_layers.2.weight").grad()), 0.0);
}

TEST(ShiftUNet, TrainShiftKeepsTheFrozenPartInEvalMode) {
  Generator gen(0);
  ShiftUNet net(shift_unet_options("tiny"), gen);
  net.train_shift(true);
  for (const auto& [name, child] : net.named_children())
    EXPECT_EQ(child->is_training(), !ShiftUNet::is_frozen_key(name + ".")) << name;
}

TEST_F(UNetLoad, MissingFileIsAnError) {
  Generator gen(0);
  ShiftUNet net(shift_unet_options("tiny"), gen);
  ldae::testing::expect_error([&] { load_frozen_unet(net, path("absent.safetensors"), "ema."); },
                        {"load_frozen_unet", "absent.safetensors"});
}

TEST_F(UNetLoad, MissingKeyIsAnError) {
  Generator gen(0);
  UNet unet(unet_options("tiny"), gen);
  auto state = stage2_state(unet);
  state.erase("ema.middle_block.1.qkv.weight");
  write_safetensors(path("stage2.safetensors"), state);
  ShiftUNet net(shift_unet_options("tiny"), gen);
  ldae::testing::expect_error([&] { load_frozen_unet(net, path("stage2.safetensors"), "ema."); },
                        {"missing key ema.middle_block.1.qkv.weight"});
  // A wrong prefix finds no key at all.
  ldae::testing::expect_error([&] { load_frozen_unet(net, path("stage2.safetensors"), "ema_unet."); },
                        {"missing key ema_unet.time_embed.0.weight"});
}

TEST_F(UNetLoad, ShapeMismatchIsAnErrorAndLoadsNothing) {
  Generator gen(0);
  UNet unet(unet_options("tiny"), gen);
  auto state = stage2_state(unet);
  state["ema.out.2.weight"] = Tensor::zeros({3, 8, 1, 1, 1});
  write_safetensors(path("stage2.safetensors"), state);
  ShiftUNet net(shift_unet_options("tiny"), gen);
  const std::vector<double> before = net.state_dict().at("time_embed.0.weight").to_vector();
  ldae::testing::expect_error([&] { load_frozen_unet(net, path("stage2.safetensors"), "ema."); },
                        {"shape mismatch ema.out.2.weight", "(3, 8, 3, 3, 3)", "(3, 8, 1, 1, 1)"});
  EXPECT_EQ(net.state_dict().at("time_embed.0.weight").to_vector(), before);
}

TEST_F(UNetLoad, LoadCopiesTheFrozenWeights) {
  Generator gen(0);
  UNet unet(unet_options("tiny"), gen);
  Generator fill(9);
  for (auto& [name, p] : unet.named_parameters()) nn::init::uniform_(p, -1.0, 1.0, fill);
  write_safetensors(path("stage2.safetensors"), stage2_state(unet));
  Generator other(123);
  ShiftUNet net(shift_unet_options("tiny"), other);
  const std::vector<double> shift_before = net.state_dict().at("shift_out.0.weight").to_vector();
  load_frozen_unet(net, path("stage2.safetensors"), "ema.");
  const auto loaded = net.state_dict();
  for (const std::string key : {"out.2.weight", "middle_block.1.qkv.weight", "time_embed.0.bias"})
    EXPECT_EQ(loaded.at(key).to_vector(), unet.state_dict().at(key).to_vector()) << key;
  EXPECT_EQ(loaded.at("shift_out.0.weight").to_vector(), shift_before);  // shift branch untouched
  EXPECT_FALSE(loaded.at("out.2.weight").requires_grad());             // still frozen
  // The eps path now equals the UNet's.
  net.eval();
  unet.eval();
  NoGrad no_grad;  // values only
  Tensor x = rand({1, 3, 4, 6, 4}, gen);
  Tensor t = timesteps({42});
  auto [eps, shift] = net.forward(x, t, rand({1, 16}, gen));
  EXPECT_LT(max_abs(sub(eps, unet.forward(x, t))), 1e-6);
}
