// nn::Module and the layers: dotted names, counting, freezing, train/eval, state dicts
// and their errors, dtype conversion, PyTorch-like initialisation, dropout, shapes and
// the zero initialisations of the reference blocks.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "tensor/cuda/runtime.h"
#include "nn/attention.h"
#include "nn/blocks.h"
#include "nn/container.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/init.h"
#include "nn/linear.h"
#include "nn/norm.h"
#include "nn/resample.h"

namespace ldae {
namespace {

using testing::expect_error;

// A two-level tree: fc (Linear 3->4), blocks.0 (Linear 4->2), blocks.1 (GroupNorm).
class Tiny : public nn::Module {
 public:
  explicit Tiny(Generator& gen) {
    fc = register_module("fc", std::make_shared<nn::Linear>(3, 4, gen));
    auto blocks = register_module("blocks", std::make_shared<nn::ModuleList>());
    head = blocks->push_back(std::make_shared<nn::Linear>(4, 2, gen));
    norm = blocks->push_back(std::make_shared<nn::GroupNorm>(1, 2));
    scale = register_parameter("scale", Tensor::ones({2}));
    register_buffer("steps", Tensor::zeros({1}));
  }
  Tensor forward(const Tensor& x) const {
    return ag::mul(norm->forward(head->forward(fc->forward(x))), scale);
  }
  std::shared_ptr<nn::Linear> fc, head;
  std::shared_ptr<nn::GroupNorm> norm;
  Tensor scale;
};

std::vector<std::string> names_of(const nn::NamedTensors& list) {
  std::vector<std::string> out;
  for (const auto& [n, _] : list) out.push_back(n);
  return out;
}

TEST(NnModule, DottedNamesAndCounts) {
  Generator gen(1);
  Tiny m(gen);
  const std::vector<std::string> expected = {"scale",          "fc.weight",      "fc.bias",
                                             "blocks.0.weight", "blocks.0.bias", "blocks.1.weight",
                                             "blocks.1.bias"};
  EXPECT_EQ(names_of(m.named_parameters()), expected);
  EXPECT_EQ(names_of(m.named_buffers()), std::vector<std::string>{"steps"});
  EXPECT_EQ(m.parameter_count(), 2 + 12 + 4 + 8 + 2 + 2 + 2);
  EXPECT_EQ(m.state_dict().size(), 8u);  // parameters and the buffer
  // The state dict shares the tensors (no copy).
  EXPECT_TRUE(m.state_dict().at("fc.weight").same_storage(m.fc->weight));
}

TEST(NnModule, RegistrationRejectsBadNames) {
  class Bad : public nn::Module {
   public:
    void add(const std::string& n) { register_parameter(n, Tensor::zeros({1})); }
  };
  Bad b;
  b.add("w");
  expect_error([&] { b.add("w"); }, {"Module", "registered twice"});
  expect_error([&] { b.add("a.b"); }, {"Module", "invalid name"});
}

TEST(NnModule, ReferenceBlockNamesMatchPyTorchLayout) {
  Generator gen(0);
  nn::ResBlockOptions o;
  o.channels = 4;
  o.out_channels = 6;
  o.emb_channels = 5;
  o.num_groups = 2;
  nn::ShiftResBlock block(o, gen);
  const std::vector<std::string> expected = {
      "in_layers.0.weight",  "in_layers.0.bias",      "in_layers.2.weight",   "in_layers.2.bias",
      "emb_layers.1.weight", "emb_layers.1.bias",     "emb_z_layers.1.weight", "emb_z_layers.1.bias",
      "out_layers.0.weight", "out_layers.0.bias",     "out_layers.3.weight",  "out_layers.3.bias",
      "skip_connection.weight", "skip_connection.bias"};
  EXPECT_EQ(names_of(block.named_parameters()), expected);

  nn::AttentionBlockOptions a;
  a.channels = 4;
  a.num_groups = 2;
  nn::AttentionBlock attn(a, gen);
  EXPECT_EQ(names_of(attn.named_parameters()),
            (std::vector<std::string>{"norm.weight", "norm.bias", "qkv.weight", "qkv.bias", "proj_out.weight",
                                      "proj_out.bias"}));
  EXPECT_EQ(attn.state_dict().at("qkv.weight").shape(), (Shape{12, 4, 1}));  // a Conv1d 1x1

  nn::MultiheadAttention mha(8, 2, gen);
  EXPECT_EQ(names_of(mha.named_parameters()),
            (std::vector<std::string>{"in_proj_weight", "in_proj_bias", "out_proj.weight", "out_proj.bias"}));
  nn::TimeEmbedding te(8, 32, gen);
  EXPECT_EQ(names_of(te.named_parameters()),
            (std::vector<std::string>{"0.weight", "0.bias", "2.weight", "2.bias"}));
}

TEST(NnModule, FreezingASubtree) {
  Generator gen(2);
  Tiny m(gen);
  m.fc->set_requires_grad(false);
  EXPECT_EQ(m.trainable_parameters().size(), 5u);
  EXPECT_FALSE(m.fc->weight.requires_grad());
  Tensor x = rand({2, 3}, gen, DType::F32);
  ag::backward(ag::sum(m.forward(x)));
  EXPECT_FALSE(m.fc->weight.grad().defined());  // frozen: no gradient
  EXPECT_TRUE(m.head->weight.grad().defined());
  m.zero_grad();
  EXPECT_FALSE(m.head->weight.grad().defined());
  m.set_requires_grad(true);
  EXPECT_EQ(m.trainable_parameters().size(), 7u);
}

TEST(NnModule, TrainEvalReachesEveryChild) {
  Generator gen(3);
  nn::ResBlockOptions o;
  o.channels = 2;
  o.emb_channels = 3;
  o.num_groups = 1;
  o.dropout = 0.5;
  nn::ResBlock block(o, gen, std::make_shared<Generator>(9));
  EXPECT_TRUE(block.is_training());
  block.eval();
  EXPECT_FALSE(block.is_training());
  for (const auto& [name, child] : block.named_children()) {
    EXPECT_FALSE(child->is_training()) << name;
    for (const auto& [n2, grandchild] : child->named_children()) EXPECT_FALSE(grandchild->is_training()) << n2;
  }
  block.train();
  EXPECT_TRUE(block.named_children()[0].second->is_training());
}

TEST(NnModule, StateDictRoundTrip) {
  Generator g1(10), g2(20);
  Tiny a(g1), b(g2);
  const Tensor x = rand({2, 3}, g1, DType::F32);
  EXPECT_NE(a.forward(x).detach().to_vector(), b.forward(x).detach().to_vector());
  const nn::LoadReport rep = b.load_state_dict(a.state_dict());
  EXPECT_TRUE(rep.ok());
  EXPECT_EQ(a.forward(x).detach().to_vector(), b.forward(x).detach().to_vector());
  // Values are copied: changing a afterwards does not change b.
  {
    NoGrad ng;
    a.fc->weight.fill_(0.0);
  }
  EXPECT_NE(b.fc->weight.to_vector(), a.fc->weight.to_vector());
  // F64 values load into an F32 module (converted).
  std::map<std::string, Tensor> sd64;
  for (const auto& [k, v] : a.state_dict()) sd64[k] = v.detach().to(DType::F64);
  b.load_state_dict(sd64);
  EXPECT_EQ(b.fc->weight.dtype(), DType::F32);
  EXPECT_EQ(b.fc->weight.to_vector(), a.fc->weight.to_vector());
}

TEST(NnModule, LoadStateDictNamesEveryProblem) {
  Generator gen(4);
  Tiny m(gen);
  std::map<std::string, Tensor> sd = m.state_dict();
  sd.erase("fc.bias");                           // missing
  sd["blocks.7.weight"] = Tensor::zeros({2});    // unexpected
  sd["fc.weight"] = Tensor::zeros({3, 4});       // mismatched: module (4, 3)
  expect_error([&] { m.load_state_dict(sd); },
               {"load_state_dict", "missing key: fc.bias", "unexpected key: blocks.7.weight", "fc.weight",
                "(4, 3)", "(3, 4)"});
  // Non-strict: the report lists the same problems and the matching keys are loaded.
  sd["scale"] = Tensor::full({2}, 3.0);
  const nn::LoadReport rep = m.load_state_dict(sd, /*strict=*/false);
  EXPECT_EQ(rep.missing, std::vector<std::string>{"fc.bias"});
  EXPECT_EQ(rep.unexpected, std::vector<std::string>{"blocks.7.weight"});
  ASSERT_EQ(rep.mismatched.size(), 1u);
  EXPECT_NE(rep.mismatched[0].find("fc.weight"), std::string::npos);
  EXPECT_EQ(m.scale.to_vector(), (std::vector<double>{3.0, 3.0}));
}

TEST(NnModule, ToDtypeKeepsHandlesAndDeviceIsChecked) {
  Generator gen(5);
  Tiny m(gen);
  const std::vector<double> w = m.fc->weight.to_vector();
  m.to(DType::F64);
  EXPECT_EQ(m.fc->weight.dtype(), DType::F64);  // the layer's own handle sees the change
  EXPECT_EQ(m.named_parameters()[1].second.dtype(), DType::F64);
  EXPECT_TRUE(m.fc->weight.requires_grad());
  EXPECT_EQ(m.named_buffers()[0].second.dtype(), DType::F64);
  EXPECT_EQ(m.fc->weight.to_vector(), w);  // F32 -> F64 is exact
  const Tensor y = m.forward(rand({2, 3}, gen, DType::F64));
  EXPECT_EQ(y.dtype(), DType::F64);
  m.to(cpu_device());
  if (!cuda_available())  // the message names the reason (e.g. "CUDA backend is not built")
    expect_error([&] { m.to(Device{DeviceType::CUDA, 0}); }, {"Module.to", "cuda:0", cuda_unavailable_reason()});
}

// ---- Initialisation -------------------------------------------------------------------

// Every value within [-bound, bound], and the sample mean and variance close to those
// of U(-bound, bound) (variance bound^2 / 3), within 4-5 standard errors.
void expect_uniform(const Tensor& t, double bound, const std::string& what) {
  const std::vector<double> v = t.to_vector();
  double mean = 0, sq = 0, mx = 0;
  for (double x : v) {
    mean += x;
    sq += x * x;
    mx = std::max(mx, std::fabs(x));
  }
  mean /= v.size();
  const double var = sq / v.size() - mean * mean;
  EXPECT_LE(mx, bound * (1 + 1e-6)) << what;
  EXPECT_GE(mx, 0.9 * bound) << what;  // the range is used
  EXPECT_NEAR(mean, 0.0, 4 * bound / std::sqrt(3.0 * v.size())) << what;
  // The sample variance of n uniforms has a relative standard deviation sqrt(0.8 / n).
  EXPECT_NEAR(var, bound * bound / 3.0, 5 * std::sqrt(0.8 / v.size()) * bound * bound / 3.0) << what;
}

TEST(NnInit, MatchesPyTorchDefaults) {
  Generator gen(6);
  nn::Linear lin(50, 200, gen);
  expect_uniform(lin.weight, 1.0 / std::sqrt(50.0), "Linear weight");
  expect_uniform(lin.bias, 1.0 / std::sqrt(50.0), "Linear bias");

  nn::ConvOptions o;
  o.kernel_size = {3};
  o.groups = 2;
  nn::Conv3d conv(8, 16, o, gen);  // fan_in = 8/2 * 27 = 108
  EXPECT_EQ(conv.weight.shape(), (Shape{16, 4, 3, 3, 3}));
  EXPECT_EQ(nn::init::fan_in(conv.weight.shape()), 108);
  expect_uniform(conv.weight, 1.0 / std::sqrt(108.0), "Conv3d weight");

  nn::MultiheadAttention mha(32, 4, gen);  // in_proj (96, 32): xavier bound sqrt(6 / 128)
  expect_uniform(mha.in_proj_weight, std::sqrt(6.0 / 128.0), "in_proj_weight");
  for (double b : mha.in_proj_bias.to_vector()) EXPECT_EQ(b, 0.0);
  for (double b : mha.state_dict().at("out_proj.bias").to_vector()) EXPECT_EQ(b, 0.0);

  nn::GroupNorm gn(2, 4);
  nn::LayerNorm ln({3, 2});
  EXPECT_EQ(gn.weight.to_vector(), std::vector<double>(4, 1.0));
  EXPECT_EQ(gn.bias.to_vector(), std::vector<double>(4, 0.0));
  EXPECT_EQ(ln.weight.shape(), (Shape{3, 2}));
  EXPECT_EQ(ln.bias.to_vector(), std::vector<double>(6, 0.0));
}

TEST(NnInit, SeedReproducesAModel) {
  Generator a(42), b(42), c(43);
  nn::Linear la(5, 4, a), lb(5, 4, b), lc(5, 4, c);
  EXPECT_EQ(la.weight.to_vector(), lb.weight.to_vector());
  EXPECT_EQ(la.bias.to_vector(), lb.bias.to_vector());
  EXPECT_NE(la.weight.to_vector(), lc.weight.to_vector());
  EXPECT_EQ(a.offset, b.offset);  // the generator advanced by the numbers drawn
  EXPECT_EQ(a.offset, 20u + 4u);
}

TEST(NnInit, ReferenceZeroInitialisations) {
  Generator gen(7);
  nn::ResBlockOptions o;
  o.channels = 4;
  o.emb_channels = 3;
  o.num_groups = 2;
  nn::ResBlock block(o, gen);
  for (double v : block.state_dict().at("out_layers.3.weight").to_vector()) ASSERT_EQ(v, 0.0);
  for (double v : block.state_dict().at("out_layers.3.bias").to_vector()) ASSERT_EQ(v, 0.0);
  // A fresh block is the identity (same channels, no resampling): out = x.
  const Tensor x = randn({2, 4, 2, 3, 2}, gen);
  const Tensor emb = randn({2, 3}, gen);
  EXPECT_EQ(block.forward(x, emb).detach().to_vector(), x.to_vector());

  nn::AttentionBlockOptions a;
  a.channels = 4;
  a.num_groups = 2;
  nn::AttentionBlock attn(a, gen);
  EXPECT_EQ(attn.forward(x).detach().to_vector(), x.to_vector());
  for (double v : attn.state_dict().at("proj_out.weight").to_vector()) ASSERT_EQ(v, 0.0);
}

// ---- Dropout ----------------------------------------------------------------------------

TEST(NnDropout, SeededMasksInvertedScalingAndEvalIdentity) {
  const double p = 0.25;
  auto g1 = std::make_shared<Generator>(11), g2 = std::make_shared<Generator>(11);
  nn::Dropout d1(p, g1), d2(p, g2);
  const Tensor x = Tensor::ones({4000});
  const std::vector<double> y1 = d1.forward(x).to_vector();
  EXPECT_EQ(y1, d2.forward(x).to_vector());         // same seed, same mask
  EXPECT_NE(y1, d1.forward(x).to_vector());         // the stream advances
  int zeros = 0;
  for (double v : y1) {
    if (v == 0.0) {
      ++zeros;
    } else {
      EXPECT_FLOAT_EQ(v, 1.0 / (1.0 - p));
    }
  }
  EXPECT_NEAR(zeros / 4000.0, p, 0.03);

  d1.eval();
  const Tensor same = d1.forward(x);
  EXPECT_TRUE(same.same_storage(x));  // identity in eval mode
  nn::Dropout off(0.0, nullptr);
  EXPECT_TRUE(off.forward(x).same_storage(x));
  expect_error([] { nn::Dropout(0.5, nullptr); }, {"Dropout", "generator"});
  expect_error([] { nn::Dropout(1.0, std::make_shared<Generator>(0)); }, {"Dropout", "[0, 1)"});
}

TEST(NnDropout, GradientIsTheMask) {
  auto gen = std::make_shared<Generator>(12);
  nn::Dropout d(0.5, gen);
  Tensor x = Tensor::full({64}, 2.0, DType::F64);
  x.set_requires_grad(true);
  const Tensor y = d.forward(x);
  ag::backward(ag::sum(y));
  const std::vector<double> yv = y.detach().to_vector(), gv = x.grad().to_vector();
  for (size_t i = 0; i < yv.size(); ++i) EXPECT_DOUBLE_EQ(gv[i], yv[i] / 2.0);
}

// ---- Shapes and errors ------------------------------------------------------------------

TEST(NnLayers, ShapesOfTheBlocks) {
  Generator gen(13);
  nn::ResBlockOptions o;
  o.channels = 4;
  o.out_channels = 6;
  o.emb_channels = 5;
  o.num_groups = 2;
  o.down = true;
  const Tensor x = randn({2, 4, 4, 6, 8}, gen), emb = randn({2, 5}, gen);
  EXPECT_EQ(nn::ResBlock(o, gen).forward(x, emb).shape(), (Shape{2, 6, 4, 3, 4}));  // (1, 2, 2) quirk
  o.resample_factors = {2, 2, 2};
  EXPECT_EQ(nn::ResBlock(o, gen).forward(x, emb).shape(), (Shape{2, 6, 2, 3, 4}));
  o.down = false;
  o.up = true;
  o.resample_factors = {};
  EXPECT_EQ(nn::ShiftResBlock(o, gen).forward(x, emb, emb).shape(), (Shape{2, 6, 4, 12, 16}));

  nn::MultiheadAttention mha(8, 2, gen);
  const Tensor q = randn({3, 1, 8}, gen), kv = randn({3, 7, 8}, gen);
  EXPECT_EQ(mha.forward(q, kv, kv).shape(), (Shape{3, 1, 8}));
  EXPECT_EQ(mha.forward(kv, kv, kv).shape(), (Shape{3, 7, 8}));

  nn::Upsample up({1.0, 2.0, 2.0});
  EXPECT_EQ(up.forward(x).shape(), (Shape{2, 4, 4, 12, 16}));
  nn::AvgPool3d pool({1, 2, 2});
  EXPECT_EQ(pool.forward(x).shape(), (Shape{2, 4, 4, 3, 4}));
  nn::AvgPool2d pool2({2});
  EXPECT_EQ(pool2.forward(randn({1, 2, 4, 6}, gen)).shape(), (Shape{1, 2, 2, 3}));
  nn::ConvOptions c1;
  c1.kernel_size = {3};
  c1.padding = {1};
  c1.stride = {2};
  nn::Conv1d conv1(2, 5, c1, gen);
  EXPECT_EQ(conv1.forward(randn({1, 2, 9}, gen)).shape(), (Shape{1, 5, 5}));
}

TEST(NnLayers, MisuseNamesTheShapes) {
  Generator gen(14);
  nn::Linear lin(4, 3, gen);
  expect_error([&] { lin.forward(Tensor::zeros({2, 5})); }, {"Linear", "(2, 5)", "in_features=4"});
  expect_error([] { nn::GroupNorm(3, 4); }, {"GroupNorm", "not divisible"});
  expect_error([&] { nn::MultiheadAttention(6, 4, gen); }, {"MultiheadAttention", "not divisible"});
  nn::ResBlockOptions o;
  o.channels = 4;
  o.emb_channels = 3;
  o.num_groups = 2;
  nn::ResBlock block(o, gen);
  expect_error([&] { block.forward(Tensor::zeros({1, 3, 2, 2, 2}), Tensor::zeros({1, 3})); },
               {"ResBlock", "(1, 3, 2, 2, 2)"});
  expect_error([&] { block.forward(Tensor::zeros({1, 4, 2, 2, 2}), Tensor::zeros({2, 3})); },
               {"ResBlock", "emb", "(2, 3)"});
  nn::Upsample up({2.0, 2.0});
  expect_error([&] { up.forward(Tensor::zeros({1, 1, 2, 2, 2})); }, {"Upsample", "2 spatial axes"});
}

// ---- Timestep embedding -----------------------------------------------------------------

TEST(NnEmbedding, SinusoidalLayoutAsTheReference) {
  // dim 4: half 2, frequencies exp(-ln(1e4) * i / 2) = 1, 0.01; first half cos, second sin.
  const Tensor t = Tensor::from_vector({0.0, 1.0, 999.0}, {3}, DType::F64);
  const Tensor e = nn::timestep_embedding(t, 4);
  ASSERT_EQ(e.shape(), (Shape{3, 4}));
  EXPECT_EQ(e.to_vector()[0], 1.0);  // cos(0)
  EXPECT_EQ(e.to_vector()[2], 0.0);  // sin(0)
  EXPECT_NEAR(e.at({1, 0}), std::cos(1.0), 1e-15);
  EXPECT_NEAR(e.at({1, 1}), std::cos(0.01), 1e-15);
  EXPECT_NEAR(e.at({1, 2}), std::sin(1.0), 1e-15);
  EXPECT_NEAR(e.at({2, 3}), std::sin(9.99), 1e-13);
  // Odd dims get a zero column at the end.
  const Tensor odd = nn::timestep_embedding(t, 5);
  EXPECT_EQ(odd.shape(), (Shape{3, 5}));
  EXPECT_EQ(odd.at({2, 4}), 0.0);
  // A 256-wide embedding (the reference's base): frequency 127 is exp(-ln(1e4) * 127 / 128).
  const Tensor wide = nn::timestep_embedding(Tensor::from_vector({500.0}, {1}, DType::F64), 256);
  EXPECT_NEAR(wide.at({0, 127}), std::cos(500.0 * std::exp(-std::log(1e4) * 127.0 / 128.0)), 1e-12);
  expect_error([] { nn::timestep_embedding(Tensor::zeros({2, 1}), 4); }, {"timestep_embedding", "(2, 1)"});
}

}  // namespace
}  // namespace ldae
