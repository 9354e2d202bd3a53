// Checkpoints: save/load round trip of model, optimizer, EMA, step, generators and
// metadata; every refusal (missing file, wrong keys and shapes, wrong optimizer, missing
// EMA, foreign file) with a clear message and no partial load.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "autograd/engine.h"
#include "common/test_helpers.h"
#include "common/tiny_net.h"
#include "nn/adam.h"
#include "nn/checkpoint.h"
#include "nn/sgd.h"
#include "tensor/safetensors.h"

using namespace ldae;
using namespace ldae::nn;
using ldae::testing::expect_error;
using ldae::testing::TinyNet;
namespace fs = std::filesystem;

namespace {

class Checkpoint : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("ldae_ckpt_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// A few AdamW steps so that the optimizer and the EMA hold non-trivial state.
void train_a_bit(TinyNet& net, Optimizer& opt, Ema& ema, Generator& data) {
  for (int i = 0; i < 3; ++i) {
    opt.zero_grad();
    const Tensor x = randn({4, 3}, data);
    ag::backward(ag::mean(ag::pow(net.forward(x), 2.0)));
    opt.step();
    ema.update(net);
  }
}

std::map<std::string, std::vector<double>> values(const std::map<std::string, Tensor>& state) {
  std::map<std::string, std::vector<double>> out;
  for (const auto& [k, t] : state) out[k] = t.to_vector();
  return out;
}

}  // namespace

TEST_F(Checkpoint, RoundTripRestoresEverything) {
  Generator init(1), data(2);
  auto noise = std::make_shared<Generator>(3);
  TinyNet net(init, noise);
  AdamW opt(net.named_parameters(), AdamOptions{1e-2, 0.9, 0.999, 1e-8, 0.01});
  Ema ema(net, EmaOptions{0.99, true});
  train_a_bit(net, opt, ema, data);

  TrainingState state;
  state.step = 3;
  state.generators = {{"noise", *noise}, {"data", data}};
  state.metadata = {{"preset", "tiny"}, {"note", "unit test"}};
  save_checkpoint(path("ckpt.safetensors"), net, &opt, &ema, state);

  // Fresh objects from other seeds: everything must come from the file.
  Generator init2(99);
  TinyNet net2(init2, std::make_shared<Generator>(0));
  AdamW opt2(net2.named_parameters(), AdamOptions{1e-2, 0.9, 0.999, 1e-8, 0.01});
  Ema ema2(net2, EmaOptions{0.99, true});
  const TrainingState loaded = load_checkpoint(path("ckpt.safetensors"), net2, &opt2, &ema2);

  EXPECT_EQ(values(net2.state_dict()), values(net.state_dict()));
  EXPECT_EQ(values(opt2.state_dict()), values(opt.state_dict()));
  EXPECT_EQ(values(ema2.state_dict()), values(ema.state_dict()));
  EXPECT_EQ(ema2.num_updates(), 3);
  EXPECT_EQ(loaded.step, 3);
  ASSERT_EQ(loaded.generators.size(), 2u);
  EXPECT_EQ(loaded.generators.at("noise").seed, noise->seed);
  EXPECT_EQ(loaded.generators.at("noise").offset, noise->offset);
  EXPECT_EQ(loaded.generators.at("data").offset, data.offset);
  EXPECT_EQ(loaded.metadata, state.metadata);

  // The file is a plain safetensors file with the documented keys.
  const SafetensorsFile f = read_safetensors(path("ckpt.safetensors"));
  EXPECT_TRUE(f.tensors.count("model.fc1.weight"));
  EXPECT_TRUE(f.tensors.count("model.scale"));
  EXPECT_TRUE(f.tensors.count("optim.fc2.bias.exp_avg_sq"));
  EXPECT_TRUE(f.tensors.count("optim.fc2.bias.step"));
  EXPECT_TRUE(f.tensors.count("ema.fc1.bias"));
  EXPECT_EQ(f.metadata.at("ldae.optimizer"), "AdamW");
  EXPECT_EQ(f.metadata.at("ldae.step"), "3");
  EXPECT_EQ(f.metadata.at("ldae.rng.noise.offset"), std::to_string(noise->offset));
}

TEST_F(Checkpoint, HugeGeneratorStateIsExact) {
  Generator init(1);
  TinyNet net(init, std::make_shared<Generator>(0));
  TrainingState state;
  state.generators["g"] = Generator(0xFFFFFFFFFFFFFFFFull, 0x123456789ABCDEF0ull);
  save_checkpoint(path("c.safetensors"), net, nullptr, nullptr, state);
  const TrainingState loaded = load_checkpoint(path("c.safetensors"), net, nullptr, nullptr);
  EXPECT_EQ(loaded.generators.at("g").seed, 0xFFFFFFFFFFFFFFFFull);
  EXPECT_EQ(loaded.generators.at("g").offset, 0x123456789ABCDEF0ull);
}

TEST_F(Checkpoint, RefusesAMissingFileLoudly) {
  Generator init(1);
  TinyNet net(init, std::make_shared<Generator>(0));
  expect_error([&] { load_checkpoint(path("nope.safetensors"), net, nullptr, nullptr); },
               {"load_checkpoint", "nope.safetensors", "no such file"});
  expect_error([&] { load_weights(path("nope.safetensors"), net); }, {"load_weights", "no such file"});
}

TEST_F(Checkpoint, NamesMissingUnexpectedAndMisShapedKeysAndChangesNothing) {
  Generator init(1);
  TinyNet small(init, std::make_shared<Generator>(0), 3, 8, 2);
  save_checkpoint(path("small.safetensors"), small, nullptr, nullptr, {});

  // hidden 16 instead of 8; and a model with an extra layer.
  Generator init2(2);
  TinyNet wide(init2, std::make_shared<Generator>(0), 3, 16, 2);
  const auto before = values(wide.state_dict());
  expect_error([&] { load_checkpoint(path("small.safetensors"), wide, nullptr, nullptr); },
               {"load_checkpoint", "small.safetensors",
                "model: shape mismatch: fc1.weight: module (16, 3) vs file (8, 3)",
                "model: shape mismatch: fc2.weight: module (2, 16) vs file (2, 8)"});
  EXPECT_EQ(values(wide.state_dict()), before);

  class Bigger : public TinyNet {
   public:
    Bigger(Generator& g) : TinyNet(g, std::make_shared<Generator>(0)) {
      register_parameter("extra", Tensor::zeros({4}));
    }
  };
  Bigger bigger(init2);
  expect_error([&] { load_checkpoint(path("small.safetensors"), bigger, nullptr, nullptr); },
               {"model: missing key: extra"});
  save_checkpoint(path("bigger.safetensors"), bigger, nullptr, nullptr, {});
  expect_error([&] { load_checkpoint(path("bigger.safetensors"), small, nullptr, nullptr); },
               {"model: unexpected key: extra"});
}

TEST_F(Checkpoint, RefusesWrongOptimizerOrMissingParts) {
  Generator init(1), data(2);
  TinyNet net(init, std::make_shared<Generator>(0));
  AdamW adamw(net.named_parameters(), AdamOptions{});
  Ema ema(net);
  train_a_bit(net, adamw, ema, data);
  save_checkpoint(path("adamw.safetensors"), net, &adamw, nullptr, {});

  SGD sgd(net.named_parameters(), SgdOptions{0.1, 0.9});
  expect_error([&] { load_checkpoint(path("adamw.safetensors"), net, &sgd, nullptr); },
               {"optimizer: the checkpoint holds AdamW state, not SGD"});
  expect_error([&] { load_checkpoint(path("adamw.safetensors"), net, nullptr, &ema); },
               {"ema: the checkpoint holds no EMA"});
  save_checkpoint(path("weights.safetensors"), net, nullptr, nullptr, {});
  expect_error([&] { load_checkpoint(path("weights.safetensors"), net, &adamw, nullptr); },
               {"optimizer: the checkpoint holds no optimizer state"});
  // Without an optimizer or EMA to restore, their parts are ignored (evaluation).
  EXPECT_NO_THROW(load_checkpoint(path("adamw.safetensors"), net, nullptr, nullptr));
}

TEST_F(Checkpoint, RefusesForeignAndCorruptFiles) {
  Generator init(1);
  TinyNet net(init, std::make_shared<Generator>(0));
  write_safetensors(path("plain.safetensors"), {{"fc1.weight", Tensor::zeros({8, 3})}});
  expect_error([&] { load_checkpoint(path("plain.safetensors"), net, nullptr, nullptr); },
               {"not an ldae checkpoint", "load_weights"});
  write_safetensors(path("future.safetensors"), {}, {{"ldae.format", "ldae-checkpoint-9"}});
  expect_error([&] { load_checkpoint(path("future.safetensors"), net, nullptr, nullptr); },
               {"unsupported checkpoint format"});
  save_checkpoint(path("good.safetensors"), net, nullptr, nullptr, {});
  const auto size = fs::file_size(path("good.safetensors"));
  fs::resize_file(path("good.safetensors"), size - 10);
  expect_error([&] { load_checkpoint(path("good.safetensors"), net, nullptr, nullptr); }, {"safetensors:"});
  write_safetensors(path("badrng.safetensors"), {},
                    {{"ldae.format", "ldae-checkpoint-1"}, {"ldae.step", "-4"}, {"ldae.rng.g.seed", "x"}});
  expect_error([&] { load_checkpoint(path("badrng.safetensors"), net, nullptr, nullptr); },
               {"\"ldae.step\" is missing or not a non-negative integer", "bad generator entry \"ldae.rng.g.seed\"",
                "model: missing key: fc1.weight"});
}

TEST_F(Checkpoint, RefusesReservedMetadataAndBadGeneratorNames) {
  Generator init(1);
  TinyNet net(init, std::make_shared<Generator>(0));
  TrainingState s;
  s.metadata["ldae.step"] = "7";
  expect_error([&] { save_checkpoint(path("x.safetensors"), net, nullptr, nullptr, s); },
               {"save_checkpoint", "reserved"});
  TrainingState t;
  t.generators["a.b"] = Generator(1);
  expect_error([&] { save_checkpoint(path("x.safetensors"), net, nullptr, nullptr, t); },
               {"save_checkpoint", "invalid generator name"});
  EXPECT_FALSE(fs::exists(path("x.safetensors")));
}

TEST_F(Checkpoint, LoadWeightsFromASection) {
  Generator init(1), data(2);
  TinyNet net(init, std::make_shared<Generator>(0));
  AdamW opt(net.named_parameters(), AdamOptions{0.1});
  Ema ema(net, EmaOptions{0.5, false});
  train_a_bit(net, opt, ema, data);
  save_checkpoint(path("c.safetensors"), net, &opt, &ema, {});

  Generator init2(7);
  TinyNet sampler(init2, std::make_shared<Generator>(0));
  load_weights(path("c.safetensors"), sampler, "ema");
  EXPECT_EQ(values(sampler.state_dict()), values(ema.state_dict()));
  load_weights(path("c.safetensors"), sampler, "model");
  EXPECT_EQ(values(sampler.state_dict()), values(net.state_dict()));

  // Not strict: a wider network takes what fits and reports the rest.
  TinyNet wide(init2, std::make_shared<Generator>(0), 3, 16, 2);
  const LoadReport r = load_weights(path("c.safetensors"), wide, "model", /*strict=*/false);
  EXPECT_EQ(r.mismatched.size(), 3u);  // fc1.weight, fc1.bias, fc2.weight
  EXPECT_EQ(wide.fc2->bias.to_vector(), net.fc2->bias.to_vector());
  expect_error([&] { load_weights(path("c.safetensors"), wide, "model"); },
               {"load_weights", "shape mismatch: fc1.weight: module (16, 3) vs file (8, 3)"});
  expect_error([&] { load_weights(path("c.safetensors"), wide, "decoder"); }, {"no tensors under \"decoder.\""});
}

// Two optimizers over disjoint parameters (a GAN's generator and discriminator): each is
// saved under its name and restored exactly; a missing, extra or retyped one is refused.
TEST_F(Checkpoint, NamedOptimizersRoundTrip) {
  Generator init(1), data(2);
  TinyNet net(init, std::make_shared<Generator>(3));
  NamedTensors first, second;  // fc1.* for "g", the rest for "d"
  for (const auto& [name, t] : net.named_parameters()) (name.rfind("fc1.", 0) == 0 ? first : second).push_back({name, t});
  ASSERT_FALSE(first.empty());
  ASSERT_FALSE(second.empty());
  Adam g(first, AdamOptions{1e-2});
  Adam d(second, AdamOptions{5e-3});
  for (int i = 0; i < 2; ++i) {
    g.zero_grad();
    d.zero_grad();
    ag::backward(ag::mean(ag::pow(net.forward(randn({4, 3}, data)), 2.0)));
    g.step();
    d.step();
  }
  TrainingState state;
  state.step = 2;
  save_checkpoint(path("gan.safetensors"), net, NamedOptimizers{{"g", &g}, {"d", &d}}, nullptr, state);
  const SafetensorsFile f = read_safetensors(path("gan.safetensors"));
  EXPECT_TRUE(f.tensors.count("optim.g.fc1.weight.exp_avg"));
  EXPECT_TRUE(f.tensors.count("optim.d.fc2.weight.exp_avg_sq"));
  EXPECT_EQ(f.metadata.at("ldae.optimizer.g"), "Adam");
  EXPECT_EQ(f.metadata.at("ldae.optim.d.lr"), "0.005");

  Generator init2(7);
  TinyNet net2(init2, std::make_shared<Generator>(0));
  NamedTensors first2, second2;
  for (const auto& [name, t] : net2.named_parameters())
    (name.rfind("fc1.", 0) == 0 ? first2 : second2).push_back({name, t});
  Adam g2(first2, AdamOptions{1e-2});
  Adam d2(second2, AdamOptions{5e-3});
  const TrainingState loaded =
      load_checkpoint(path("gan.safetensors"), net2, NamedMutableOptimizers{{"g", &g2}, {"d", &d2}}, nullptr);
  EXPECT_EQ(loaded.step, 2);
  EXPECT_EQ(values(net2.state_dict()), values(net.state_dict()));
  EXPECT_EQ(values(g2.state_dict()), values(g.state_dict()));
  EXPECT_EQ(values(d2.state_dict()), values(d.state_dict()));

  // Only one of the two optimizers: refused, naming the other one.
  expect_error([&] { load_checkpoint(path("gan.safetensors"), net2, NamedMutableOptimizers{{"g", &g2}}, nullptr); },
               {"does not match", "optimizer \"d\""});
  // The single-optimizer reader does not take a two-optimizer file.
  Adam all(net2.named_parameters(), AdamOptions{1e-2});
  expect_error([&] { load_checkpoint(path("gan.safetensors"), net2, &all, nullptr); }, {"holds no optimizer state"});
  // A retyped optimizer.
  SGD sgd(second2, SgdOptions{});
  expect_error([&] {
    load_checkpoint(path("gan.safetensors"), net2, NamedMutableOptimizers{{"g", &g2}, {"d", &sgd}}, nullptr);
  }, {"optimizer d: the checkpoint holds Adam state, not SGD"});
}
