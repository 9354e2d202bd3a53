// Optimizers (SGD, Adam, AdamW) step by step against PyTorch 1.13, their state as named
// tensors, gradient-norm clipping and learning-rate schedules.
#include <gtest/gtest.h>

#include <cmath>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "nn/adam.h"
#include "nn/clip_grad.h"
#include "nn/lr_schedule.h"
#include "nn/sgd.h"
#include "tensor/ops.h"

using namespace ldae;
using namespace ldae::nn;
using ldae::testing::expect_error;

namespace {

// ---- Reference values --------------------------------------------------------------
// The numbers below were produced by this script with PyTorch 1.13 (/usr/bin/python3):
//
//   import torch
//   p0 = [0.5, -1.25, 2.0, 0.125, -0.75]
//   c = [1.0, 0.5, 2.0, 0.25, 3.0]
//   d = [0.1, -0.2, 0.3, 0.4, -0.5]
//   configs = {
//    "sgd":          lambda ps: torch.optim.SGD(ps, lr=0.1),
//    "sgd_momentum": lambda ps: torch.optim.SGD(ps, lr=0.1, momentum=0.9, dampening=0.1,
//                                               weight_decay=0.01),
//    "sgd_nesterov": lambda ps: torch.optim.SGD(ps, lr=0.05, momentum=0.9, nesterov=True,
//                                               weight_decay=0.01),
//    "adam":         lambda ps: torch.optim.Adam(ps, lr=0.01),
//    "adam_l2":      lambda ps: torch.optim.Adam(ps, lr=0.01, weight_decay=0.1),
//    "adamw":        lambda ps: torch.optim.AdamW(ps, lr=0.01, betas=(0.8, 0.99), eps=1e-6,
//                                                 weight_decay=0.1),
//   }
//   for dtype in (torch.float64, torch.float32):
//     for name, make in configs.items():
//       p = torch.tensor(p0, dtype=dtype, requires_grad=True)
//       C = torch.tensor(c, dtype=dtype); D = torch.tensor(d, dtype=dtype)
//       opt = make([p])
//       for step in range(4):
//         with torch.no_grad():
//           p.grad = 2 * C * p + D          # the gradient of sum(c p^2 + d p)
//         opt.step()
//         print(name, step + 1, [repr(float(v)) for v in p.detach().tolist()])
//       print(opt.state[p])                 # momentum_buffer / exp_avg / exp_avg_sq
//
// Each row is p after steps 1..4.

const std::vector<double> kP0 = {0.5, -1.25, 2.0, 0.125, -0.75};
const std::vector<double> kC = {1.0, 0.5, 2.0, 0.25, 3.0};
const std::vector<double> kD = {0.1, -0.2, 0.3, 0.4, -0.5};

using Rows = std::vector<std::vector<double>>;

struct Case {
  std::string name;
  std::function<std::unique_ptr<Optimizer>(NamedTensors)> make;
  Rows f64;                                         // p after steps 1..4, float64
  std::vector<double> f32_final;                    // p after step 4, float32
  std::map<std::string, std::vector<double>> state; // float64 state after step 4
};

std::vector<Case> cases() {
  std::vector<Case> c;
  c.push_back({"sgd",
               [](NamedTensors p) { return std::make_unique<SGD>(std::move(p), SgdOptions{0.1}); },
               {{0.38999999999999996, -1.105, 1.17, 0.07875, -0.24999999999999997},
                {0.302, -0.9745, 0.6719999999999999, 0.034812499999999996, -0.04999999999999998},
                {0.2316, -0.85705, 0.3732, -0.00692812500000001, 0.030000000000000006},
                {0.17528, -0.7513449999999999, 0.19391999999999998, -0.04658171875000001, 0.062}},
               {0.17527998983860016, -0.7513449788093567, 0.19391997158527374, -0.04658172279596329,
                0.06199999898672104},
               {}});
  c.push_back({"sgd_momentum",
               [](NamedTensors p) {
                 SgdOptions o;
                 o.lr = 0.1, o.momentum = 0.9, o.dampening = 0.1, o.weight_decay = 0.01;
                 return std::make_unique<SGD>(std::move(p), o);
               },
               {{0.3895, -1.10375, 1.168, 0.078625, -0.24924999999999994},
                {0.21058945, -0.853794125, -0.029331200000000134, -0.002721387499999999, 0.3812443250000001},
                {0.0024743234950000076, -0.5332239515374999, -1.1233436499200002, -0.11180822456375,
                 0.7874741621075001},
                {-0.1942768954797455, -0.17824073822649117, -1.7295401315918724, -0.24085438041364887,
                 0.7721362412203032}},
               {-0.1942768543958664, -0.17824071645736694, -1.7295401096343994, -0.2408543825149536,
                0.7721361517906189},
               {{"momentum_buffer",
                 {1.967512189747455, -3.5498321331100873, 6.061964816718721, 1.2904615584989887,
                  0.15337920887196824}}}});
  c.push_back({"sgd_nesterov",
               [](NamedTensors p) {
                 SgdOptions o;
                 o.lr = 0.05, o.momentum = 0.9, o.nesterov = true, o.weight_decay = 0.01;
                 return std::make_unique<SGD>(std::move(p), o);
               },
               {{0.395025, -1.1110625, 1.2095999999999998, 0.08094375, -0.27428749999999996},
                {0.26534247625, -0.9262248031250001, 0.3833428799999997, 0.020240150312499993,
                 0.13262069812500007},
                {0.12869107028506252, -0.7114973967026563, -0.30305067813600023, -0.053516065626390635,
                 0.37393723446803134},
                {0.00013147202249855612, -0.4820714730109583, -0.751183501926491, -0.1368392951421217,
                 0.4384899209651433}},
               {0.0001314889086643234, -0.48207151889801025, -0.7511835098266602, -0.13683928549289703,
                0.4384898841381073},
               {{"momentum_buffer",
                 {2.458358793309226, -4.077673447960308, 10.975432994594637, 1.4375086486489783,
                  -3.376018343439007}}}});
  c.push_back({"adam",
               [](NamedTensors p) { return std::make_unique<Adam>(std::move(p), AdamOptions{0.01}); },
               {{0.4900000000909091, -1.2400000000689655, 1.9900000000120481, 0.11500000021621622,
                 -0.74000000002},
                {0.48000520351114206, -1.2300018638475136, 1.9800012884049565, 0.10500298130553039,
                 -0.7300033289282464},
                {0.4700192011399544, -1.2200068465999891, 1.9700047292307286, 0.09501096759606514,
                 -0.7200122531569029},
                {0.46004566687270254, -1.210016209597689, 1.960011187918725, 0.08502600559702417,
                 -0.7100290683125687}},
               {0.4600456655025482, -1.2100162506103516, 1.9600112438201904, 0.08502601087093353,
                -0.710029125213623},
               {{"exp_avg",
                 {0.3670747768747237, -0.4930458524118612, 2.831932355521979, 0.15624943254730886,
                  -1.6858491495251144}},
                {"exp_avg_sq",
                 {0.0045746203147314455, 0.008224933548863332, 0.2711883753515325, 0.0008269670191330586,
                  0.09630378125527822}},
                {"step", {4}}}});
  c.push_back({"adam_l2",
               [](NamedTensors p) {
                 AdamOptions o;
                 o.lr = 0.01, o.weight_decay = 0.1;
                 return std::make_unique<Adam>(std::move(p), o);
               },
               {{0.49000000008695654, -1.240000000063492, 1.9900000000117648, 0.11500000021052631,
                 -0.7400000000197045},
                {0.48000522818754054, -1.230001888357958, 1.9800012895697638, 0.10500351578224447,
                 -0.7300033347281139},
                {0.47001929285119787, -1.2200069368952415, 1.97000473351509, 0.0950129433617199,
                 -0.7200122746027238},
                {0.4600458865359213, -1.210016423947069, 1.9600111980730486, 0.08503071290172379,
                 -0.7100291194199397}},
               {0.4600459039211273, -1.2100164890289307, 1.9600112438201904, 0.08503071963787079,
                -0.710029125213623},
               {{"exp_avg",
                 {0.38370903964098796, -0.5354724500115715, 2.9001514165963362, 0.15998746646417594,
                  -1.7110808182831316}},
                {"exp_avg_sq",
                 {0.004998747182138402, 0.009701587987806399, 0.28441151422631866, 0.0008674827803481932,
                  0.09920865079506322}}}});
  c.push_back({"adamw",
               [](NamedTensors p) {
                 AdamOptions o;
                 o.lr = 0.01, o.beta1 = 0.8, o.beta2 = 0.99, o.eps = 1e-6, o.weight_decay = 0.1;
                 return std::make_unique<AdamW>(std::move(p), o);
               },
               {{0.4895000090909008, -1.238750006896547, 1.9880000012048191, 0.11487502162157487,
                 -0.7392500019999996},
                {0.47902120664615927, -1.2275154711214762, 1.976015120933943, 0.10476615781737723,
                 -0.7285178517785721},
                {0.4685708368543584, -1.2162991713199076, 1.9640474069020515, 0.09467739560068446,
                 -0.7178082947733491},
                {0.4581561482560772, -1.20510383946118, 1.9520988663645114, 0.08461267370226876,
                 -0.7071260337615733}},
               {0.45815619826316833, -1.205103874206543, 1.952099084854126, 0.08461268246173859,
                -0.7071260809898376},
               {{"exp_avg",
                 {0.6274671231957849, -0.8443023105261755, 4.850063603536232, 0.2677610335692394,
                  -2.884491092971447}},
                {"exp_avg_sq",
                 {0.04499056494741027, 0.08092187957125874, 2.6674127323644536, 0.008153538962789959,
                  0.9472810041419264}}}});
  return c;
}

// Sets p.grad = 2 c p + d (the gradient of sum(c p^2 + d p)), with PyTorch's order of
// float operations: ((2 * c) * p) + d.
void set_quadratic_grad(const Tensor& p) {
  NoGrad no_grad;
  const Tensor c = Tensor::from_vector(kC, {5}, p.dtype());
  const Tensor d = Tensor::from_vector(kD, {5}, p.dtype());
  p.set_grad(add(mul(mul_scalar(c, 2.0), p), d));
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double rtol,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], rtol * std::max(1.0, std::fabs(want[i]))) << what << " [" << i << "]";
}

}  // namespace

TEST(Optim, MatchesPyTorchFloat64StepByStep) {
  for (const Case& c : cases()) {
    Tensor p = Tensor::from_vector(kP0, {5}, DType::F64).set_requires_grad(true);
    auto opt = c.make({{"p", p}});
    for (int step = 0; step < 4; ++step) {
      set_quadratic_grad(p);
      opt->step();
      expect_near_all(p.to_vector(), c.f64[step], 1e-13, c.name + " step " + std::to_string(step + 1));
    }
    const auto state = opt->state_dict();
    for (const auto& [slot, want] : c.state) {
      ASSERT_TRUE(state.count("p." + slot)) << c.name << " lacks state p." << slot;
      expect_near_all(state.at("p." + slot).to_vector(), want, 1e-13, c.name + " state " + slot);
    }
    EXPECT_EQ(state.at("p.step").item(), 4.0) << c.name;
  }
}

TEST(Optim, MatchesPyTorchFloat32) {
  for (const Case& c : cases()) {
    Tensor p = Tensor::from_vector(kP0, {5}, DType::F32).set_requires_grad(true);
    auto opt = c.make({{"p", p}});
    for (int step = 0; step < 4; ++step) {
      set_quadratic_grad(p);
      opt->step();
    }
    // float32 differs from PyTorch only by rounding (fused multiply-adds in its kernels).
    expect_near_all(p.to_vector(), c.f32_final, 1e-6, c.name + " float32");
  }
}

TEST(Optim, LrFactorActsAsASmallerLearningRateForItsParameters) {
  // Two parameters in one optimizer, "encoder.p" at a quarter of the learning rate: each
  // must follow, bit for bit, its own optimizer at lr / 4 and lr (PyTorch's parameter groups).
  for (const Case& c : cases()) {
    Tensor slow = Tensor::from_vector(kP0, {5}, DType::F64).set_requires_grad(true);
    Tensor fast = Tensor::from_vector(kP0, {5}, DType::F64).set_requires_grad(true);
    auto both = c.make({{"encoder.p", slow}, {"shift.p", fast}});
    EXPECT_EQ(both->set_lr_factor("encoder.", 0.25), 1) << c.name;
    Tensor slow_alone = Tensor::from_vector(kP0, {5}, DType::F64).set_requires_grad(true);
    Tensor fast_alone = Tensor::from_vector(kP0, {5}, DType::F64).set_requires_grad(true);
    auto slow_opt = c.make({{"p", slow_alone}});
    slow_opt->set_lr(slow_opt->lr() * 0.25);
    auto fast_opt = c.make({{"p", fast_alone}});
    for (int step = 0; step < 4; ++step) {
      for (const Tensor& p : {slow, fast, slow_alone, fast_alone}) set_quadratic_grad(p);
      both->step();
      slow_opt->step();
      fast_opt->step();
    }
    EXPECT_EQ(slow.to_vector(), slow_alone.to_vector()) << c.name;
    EXPECT_EQ(fast.to_vector(), fast_alone.to_vector()) << c.name;
    EXPECT_NE(slow.to_vector(), fast.to_vector()) << c.name;
    EXPECT_EQ(both->lr(), fast_opt->lr()) << c.name << ": the factor leaves lr() alone";
  }
  Tensor p = Tensor::from_vector(kP0, {5}).set_requires_grad(true);
  SGD opt({{"encoder.p", p}}, SgdOptions{0.1});
  expect_error([&] { opt.set_lr_factor("shift.", 0.5); }, {"no parameter name starts with \"shift.\""});
  expect_error([&] { opt.set_lr_factor("encoder.", -1.0); }, {"invalid factor"});
  expect_error([&] { opt.set_lr_factor("encoder.", std::nan("")); }, {"invalid factor"});
  // Factor 0 freezes: the gradient is there, the parameter does not move.
  opt.set_lr_factor("encoder.", 0.0);
  set_quadratic_grad(p);
  opt.step();
  EXPECT_EQ(p.to_vector(), Tensor::from_vector(kP0, {5}).to_vector());
}

TEST(Optim, SkipsParametersWithoutGradient) {
  Tensor a = Tensor::from_vector({1.0, 2.0}, {2}).set_requires_grad(true);
  Tensor b = Tensor::from_vector({3.0, 4.0}, {2}).set_requires_grad(true);
  AdamW opt({{"a", a}, {"b", b}}, AdamOptions{0.1, 0.9, 0.999, 1e-8, 0.5});
  a.set_grad(Tensor::ones({2}));
  opt.step();
  EXPECT_EQ(b.to_vector(), (std::vector<double>{3.0, 4.0}));  // no grad: untouched, no decay
  EXPECT_NE(a.to_vector(), (std::vector<double>{1.0, 2.0}));
  const auto state = opt.state_dict();
  EXPECT_TRUE(state.count("a.exp_avg"));
  EXPECT_FALSE(state.count("b.exp_avg"));
  EXPECT_FALSE(state.count("b.step"));
}

TEST(Optim, StepRecordsNoGraphAndZeroGradClears) {
  Tensor p = Tensor::from_vector(kP0, {5}).set_requires_grad(true);
  SGD opt({{"p", p}}, SgdOptions{0.1, 0.9});
  set_quadratic_grad(p);
  opt.step();
  EXPECT_TRUE(p.is_leaf());
  EXPECT_TRUE(p.requires_grad());
  opt.zero_grad();
  EXPECT_FALSE(p.grad().defined());
}

TEST(Optim, StateDictRoundTripContinuesIdentically) {
  // Two optimizers on equal parameters: one runs 5 steps; the other runs 2, its state
  // is copied into a third, fresh optimizer which runs the last 3. Results must be equal.
  auto make_param = [] { return Tensor::from_vector(kP0, {5}).set_requires_grad(true); };
  AdamOptions o;
  o.lr = 0.05, o.weight_decay = 0.01;
  Tensor p1 = make_param();
  AdamW full({{"w", p1}}, o);
  for (int i = 0; i < 5; ++i) set_quadratic_grad(p1), full.step();

  Tensor p2 = make_param();
  std::map<std::string, Tensor> saved;
  {
    AdamW first({{"w", p2}}, o);
    for (int i = 0; i < 2; ++i) set_quadratic_grad(p2), first.step();
    for (const auto& [k, t] : first.state_dict()) saved[k] = t.clone();
  }
  AdamW second({{"w", p2}}, o);
  second.load_state_dict(saved);
  for (int i = 0; i < 3; ++i) set_quadratic_grad(p2), second.step();
  EXPECT_EQ(p1.to_vector(), p2.to_vector());
  EXPECT_EQ(full.state_dict().at("w.exp_avg_sq").to_vector(), second.state_dict().at("w.exp_avg_sq").to_vector());
}

TEST(Optim, LoadStateDictNamesEveryProblem) {
  Tensor p = Tensor::zeros({2, 3}).set_requires_grad(true);
  Adam opt({{"layer.weight", p}}, AdamOptions{});
  std::map<std::string, Tensor> bad = {
      {"layer.weight.step", Tensor::scalar(3, DType::F64)},
      {"layer.weight.exp_avg", Tensor::zeros({3, 2})},
      {"layer.bias.exp_avg", Tensor::zeros({3})},
      {"layer.weight.momentum_buffer", Tensor::zeros({2, 3})},
  };
  expect_error([&] { opt.load_state_dict(bad); },
               {"Adam.load_state_dict", "shape mismatch: layer.weight.exp_avg: parameter (2, 3) vs state (3, 2)",
                "unexpected key: layer.bias.exp_avg", "unexpected key: layer.weight.momentum_buffer",
                "missing key: layer.weight.exp_avg_sq"});
  // Nothing was loaded: the optimizer still has no state.
  EXPECT_TRUE(opt.state_dict().empty());
  expect_error([&] { opt.load_state_dict({{"layer.weight.step", Tensor::scalar(1.5, DType::F64)},
                                          {"layer.weight.exp_avg", Tensor::zeros({2, 3})},
                                          {"layer.weight.exp_avg_sq", Tensor::zeros({2, 3})}}); },
               {"bad step: layer.weight.step"});
}

TEST(Optim, RejectsBadConfiguration) {
  Tensor p = Tensor::zeros({2}).set_requires_grad(true);
  expect_error([&] { SGD({{"p", p}}, SgdOptions{-1.0}); }, {"Optimizer", "negative learning rate"});
  expect_error([&] { SGD({{"p", p}}, SgdOptions{0.1, 0.0, 0.0, 0.0, true}); }, {"SGD", "Nesterov"});
  expect_error([&] { Adam({{"p", p}}, AdamOptions{0.1, 1.0}); }, {"Adam", "beta1"});
  expect_error([&] { Adam({{"p", p}, {"p", p}}, AdamOptions{}); }, {"Optimizer", "listed twice"});
  expect_error([&] { Adam({{"p", Tensor::zeros({1, 2}).expand({3, 2})}}, AdamOptions{}); }, {"Optimizer", "not contiguous"});
}

TEST(Optim, NameParametersAndTrainableFilter) {
  const NamedTensors named = name_parameters({Tensor::zeros({1}), Tensor::zeros({2})});
  ASSERT_EQ(named.size(), 2u);
  EXPECT_EQ(named[0].first, "0");
  EXPECT_EQ(named[1].first, "1");
}

// ---- Gradient clipping ---------------------------------------------------------------

TEST(ClipGrad, ScalesLikePyTorch) {
  // torch.nn.utils.clip_grad_norm_ on grads [3, 4] and [12] with max_norm 6.5 returns 13
  // and scales by 6.5 / (13 + 1e-6).
  Tensor a = Tensor::zeros({2}, DType::F64).set_requires_grad(true);
  Tensor b = Tensor::zeros({1}, DType::F64).set_requires_grad(true);
  Tensor c = Tensor::zeros({1}, DType::F64).set_requires_grad(true);  // no grad: skipped
  a.set_grad(Tensor::from_vector({3, 4}, {2}, DType::F64));
  b.set_grad(Tensor::from_vector({12}, {1}, DType::F64));
  const double norm = clip_grad_norm({a, b, c}, 6.5);
  EXPECT_DOUBLE_EQ(norm, 13.0);
  const double coef = 6.5 / (13.0 + 1e-6);
  EXPECT_DOUBLE_EQ(a.grad().to_vector()[0], 3 * coef);
  EXPECT_DOUBLE_EQ(a.grad().to_vector()[1], 4 * coef);
  EXPECT_DOUBLE_EQ(b.grad().to_vector()[0], 12 * coef);
  EXPECT_NEAR(grad_norm({a, b}), 6.5, 1e-6);
  EXPECT_FALSE(c.grad().defined());
}

TEST(ClipGrad, LeavesSmallAndNonFiniteGradientsAlone) {
  Tensor a = Tensor::zeros({2}).set_requires_grad(true);
  a.set_grad(Tensor::from_vector({0.3, 0.4}, {2}));
  EXPECT_NEAR(clip_grad_norm({a}, 1.0), 0.5, 1e-7);
  EXPECT_EQ(a.grad().to_vector(), Tensor::from_vector({0.3, 0.4}, {2}).to_vector());
  a.set_grad(Tensor::from_vector({NAN, 1.0}, {2}));
  EXPECT_TRUE(std::isnan(clip_grad_norm({a}, 1.0)));
  EXPECT_EQ(a.grad().to_vector()[1], 1.0);
  expect_error([&] { clip_grad_norm({a}, 0.0); }, {"clip_grad_norm", "positive"});
}

// ---- Learning-rate schedules -----------------------------------------------------------

TEST(LrSchedule, WarmupThenConstantOrCosine) {
  LrSchedule s;
  s.base_lr = 1.0;
  s.warmup_steps = 4;
  EXPECT_DOUBLE_EQ(s.at(0), 0.25);
  EXPECT_DOUBLE_EQ(s.at(3), 1.0);
  EXPECT_DOUBLE_EQ(s.at(100), 1.0);
  s.decay = LrDecay::Cosine;
  s.total_steps = 14;
  s.min_lr = 0.1;
  EXPECT_DOUBLE_EQ(s.at(4), 1.0);
  EXPECT_NEAR(s.at(9), 0.55, 1e-15);  // half way: (1 + 0.1) / 2
  EXPECT_DOUBLE_EQ(s.at(14), 0.1);
  EXPECT_DOUBLE_EQ(s.at(50), 0.1);
  s.total_steps = 4;
  expect_error([&] { s.at(5); }, {"LrSchedule", "total_steps"});
  EXPECT_EQ(parse_lr_decay("cosine"), LrDecay::Cosine);
  expect_error([] { parse_lr_decay("step"); }, {"parse_lr_decay", "constant or cosine"});
}

TEST(LrSchedule, DrivesTheOptimizer) {
  Tensor p = Tensor::zeros({1}).set_requires_grad(true);
  SGD opt({{"p", p}}, SgdOptions{1.0});
  LrSchedule s;
  s.base_lr = 0.5;
  s.warmup_steps = 2;
  opt.set_lr(s.at(0));
  p.set_grad(Tensor::ones({1}));
  opt.step();
  EXPECT_FLOAT_EQ(static_cast<float>(p.item()), -0.25f);
  expect_error([&] { opt.set_lr(-1); }, {"SGD.set_lr"});
}
