// ldae/lpips.h: LPIPS (SqueezeNet) and the 2.5D perceptual loss against the float64 PyTorch
// twin (tests/reference/generate_lpips_cases.py, closed-form weights), the loss's
// reproducibility, weight loading and bad inputs. The float64 gradcheck of the loss is in
// tests/gradcheck/test_lpips_grad.cpp.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "autograd/no_grad.h"
#include "common/sines_volumes.h"
#include "common/test_helpers.h"
#include "ldae/lpips.h"
#include "tensor/safetensors.h"

namespace ldae {
namespace {

using nets::Lpips;

const std::string kCaseDir = std::string(LDAE_SOURCE_DIR) + "/tests/reference/lpips";

// The closed-form weights of tests/reference/lpips_torch.py (formula_state_dict): the t-th
// parameter in sorted key order (scaling_layer buffers excluded), entry j.
void set_formula_weights(Lpips& lpips) {
  NoGrad no_grad;
  int t = 0;
  for (const auto& [key, tensor] : lpips.state_dict()) {
    if (key.rfind("scaling_layer.", 0) == 0) continue;
    const Shape& s = tensor.shape();
    std::vector<double> v(static_cast<size_t>(tensor.numel()));
    for (size_t j = 0; j < v.size(); ++j) {
      const double sn = std::sin(2.399963 * static_cast<double>(j) + 0.7853 * t + 0.5);
      if (key.rfind("lin", 0) == 0)
        v[j] = (0.5 + 0.5 * sn) / static_cast<double>(s[1]);
      else if (s.size() == 4)
        v[j] = std::sqrt(3.0 / static_cast<double>(s[1] * s[2] * s[3])) * sn;
      else
        v[j] = 0.125 * sn;
    }
    Tensor target = tensor;  // a handle: copy_ writes into the module's tensor
    target.copy_(Tensor::from_vector(v, s, DType::F64));
    ++t;
  }
}

Lpips formula_lpips() {
  Generator gen(0);
  Lpips lpips(gen);
  lpips.to(DType::F64);
  set_formula_weights(lpips);
  return lpips;
}

// |a - b| <= 1e-10 * max(1e-3, max |b|) elementwise (the values are ~1e-3, so an absolute 1e-10
// would be loose).
void expect_close(const Tensor& got, const Tensor& want, const std::string& what) {
  ASSERT_EQ(got.shape(), want.shape()) << what;
  const std::vector<double> g = got.to_vector(), w = want.to_vector();
  double scale = 1e-3;
  for (double v : w) scale = std::max(scale, std::abs(v));
  double worst = 0.0;
  for (size_t i = 0; i < g.size(); ++i) worst = std::max(worst, std::abs(g[i] - w[i]));
  EXPECT_LE(worst, 1e-10 * scale) << what << ": largest difference " << worst << " (scale " << scale
                                  << ")";
}

std::vector<SafetensorsFile> cases(const std::string& op) {
  std::vector<SafetensorsFile> out;
  for (const auto& e : std::filesystem::directory_iterator(kCaseDir))
    if (e.path().extension() == ".safetensors") {
      SafetensorsFile f = read_safetensors(e.path().string());
      if (f.metadata.at("op") == op) out.push_back(std::move(f));
    }
  return out;
}

TEST(Lpips, KeysAndShapesMatchThePyTorchTwin) {
  const Lpips lpips = formula_lpips();
  const auto files = cases("lpips");
  ASSERT_FALSE(files.empty());
  const auto want = nlohmann::json::parse(files[0].metadata.at("state_dict"));
  const auto sd = lpips.state_dict();
  EXPECT_EQ(sd.size(), want.size());
  for (const auto& [key, shape] : want.items()) {
    ASSERT_TRUE(sd.count(key)) << "missing " << key;
    EXPECT_EQ(sd.at(key).shape(), shape.get<std::vector<int64_t>>()) << key;
  }
  EXPECT_TRUE(sd.count("net.slice2.3.squeeze.weight"));
  EXPECT_TRUE(sd.count("lin6.model.1.weight"));
  EXPECT_EQ(sd.size(), 2u + 2u + 8u * 6u + 7u);  // scaling, conv0, 8 fires, 7 lins
}

TEST(Lpips, ForwardAndGradientsMatchPyTorch) {
  const Lpips lpips = formula_lpips();
  const auto files = cases("lpips");
  ASSERT_EQ(files.size(), 2u);
  for (const SafetensorsFile& f : files) {
    SCOPED_TRACE(f.metadata.at("name"));
    Tensor x = f.tensors.at("in0").clone(), y = f.tensors.at("in1").clone();
    x.set_requires_grad(true);
    y.set_requires_grad(true);
    const Tensor out = lpips.forward(x, y);
    expect_close(out, f.tensors.at("out"), "out");
    ag::backward(ag::sum(out));
    expect_close(x.grad(), f.tensors.at("gin0"), "gin0");
    expect_close(y.grad(), f.tensors.at("gin1"), "gin1");
  }
}

TEST(Lpips, PerceptualLoss25dWithEverySliceMatchesPyTorch) {
  const Lpips lpips = formula_lpips();
  const auto files = cases("perceptual_loss_25d");
  ASSERT_EQ(files.size(), 1u);
  const SafetensorsFile& f = files[0];
  const auto shape = nlohmann::json::parse(f.metadata.at("shape")).get<std::vector<int64_t>>();
  auto [x, y] = testing::sines_volumes(shape[0], shape[2], shape[3], shape[4]);
  x.set_requires_grad(true);
  Generator gen(11);
  const Tensor loss = nets::perceptual_loss_25d(x, y, lpips, 1.0, gen);
  expect_close(loss, f.tensors.at("out"), "out");
  ag::backward(loss);
  expect_close(x.grad(), f.tensors.at("gin0"), "gin0");
  EXPECT_EQ(gen.offset, static_cast<uint64_t>(shape[2] + shape[3] + shape[4]));
}

TEST(Lpips, IdenticalImagesAreAtDistanceZero) {
  Generator gen(2);
  const Lpips lpips(gen);
  const Tensor x = rand({2, 1, 20, 21}, gen);
  const Tensor d = lpips.forward(x, x);
  for (double v : d.to_vector()) EXPECT_EQ(v, 0.0);
  const Tensor y = rand({2, 1, 20, 21}, gen);
  for (double v : lpips.forward(x, y).to_vector()) EXPECT_GT(v, 0.0);
}

TEST(Lpips, SliceSubsetIsReproducibleFromTheGenerator) {
  Generator wgen(5);
  const Lpips lpips(wgen);
  Generator gen(6);
  const Tensor x = rand({2, 1, 17, 19, 18}, gen);
  const Tensor y = rand({2, 1, 17, 19, 18}, gen);
  Generator g1(7), g2(7), g3(8);
  const double a = nets::perceptual_loss_25d(x, y, lpips, 0.1, g1).item();
  const double b = nets::perceptual_loss_25d(x, y, lpips, 0.1, g2).item();
  const double c = nets::perceptual_loss_25d(x, y, lpips, 0.1, g3).item();
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  EXPECT_EQ(g1.offset, 2u * (17 + 19 + 18));
  // A second call continues the stream: another subset.
  const double d = nets::perceptual_loss_25d(x, y, lpips, 0.1, g1).item();
  EXPECT_NE(a, d);
  // The loss is the sum of three mean LPIPS values over the chosen slices: with ratio 1, the
  // D axis alone is the mean over every (sample, z) slice.
  Generator g4(9);
  const double all = nets::perceptual_loss_25d(x, y, lpips, 1.0, g4).item();
  double sum = 0.0;
  for (int axis = 2; axis < 5; ++axis) {
    std::vector<int64_t> others;
    for (int a2 = 2; a2 < 5; ++a2)
      if (a2 != axis) others.push_back(a2);
    const Tensor xs = x.permute({0, axis, 1, others[0], others[1]})
                          .contiguous()
                          .reshape({-1, 1, x.size(others[0]), x.size(others[1])});
    const Tensor ys = y.permute({0, axis, 1, others[0], others[1]})
                          .contiguous()
                          .reshape({-1, 1, x.size(others[0]), x.size(others[1])});
    sum += mean(lpips.forward(xs, ys)).item();
  }
  EXPECT_NEAR(all, sum, 1e-6 * sum);
}

TEST(Lpips, RandomPermutation) {
  Generator gen(1);
  std::vector<int64_t> p = nets::random_permutation(50, gen);
  EXPECT_EQ(gen.offset, 50u);
  std::vector<int64_t> sorted = p;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < 50; ++i) EXPECT_EQ(sorted[static_cast<size_t>(i)], i);
  bool moved = false;
  for (int64_t i = 0; i < 50; ++i) moved = moved || p[static_cast<size_t>(i)] != i;
  EXPECT_TRUE(moved);
}

TEST(Lpips, LoadsItsOwnWeightsStrictlyAndRefusesBadFiles) {
  using testing::expect_error;
  const Lpips a = formula_lpips();
  const std::string dir = ::testing::TempDir();
  const std::string good = dir + "/lpips_good_" + std::to_string(::getpid()) + ".safetensors";
  const std::string bad = dir + "/lpips_bad_" + std::to_string(::getpid()) + ".safetensors";
  write_safetensors(good, a.state_dict());
  Generator gen(12);
  Lpips b(gen);
  b.to(DType::F64);
  nets::load_lpips_weights(b, good);
  Generator g(13);
  const Tensor x = rand({1, 1, 18, 18}, g, DType::F64), y = rand({1, 1, 18, 18}, g, DType::F64);
  EXPECT_EQ(a.forward(x, y).item(), b.forward(x, y).item());

  auto sd = a.state_dict();
  sd.erase("net.slice3.7.expand3x3.bias");
  sd["lins.0.model.1.weight"] = a.state_dict().at("lin0.model.1.weight");
  write_safetensors(bad, sd);
  expect_error([&] { nets::load_lpips_weights(b, bad); },
               {"load_lpips_weights", bad, "net.slice3.7.expand3x3.bias", "lins.0.model.1.weight"});
  auto neg = a.state_dict();
  neg["lin2.model.1.weight"] = mul_scalar(neg.at("lin2.model.1.weight"), -1.0);
  write_safetensors(bad, neg);
  expect_error([&] { nets::load_lpips_weights(b, bad); },
               {"load_lpips_weights", "lin2.model.1.weight", "negative"});
  expect_error([&] { nets::load_lpips_weights(b, dir + "/no_such_lpips.safetensors"); },
               {"no_such_lpips"});
  std::remove(good.c_str());
  std::remove(bad.c_str());
}

TEST(Lpips, BadInputsAreRefused) {
  using testing::expect_error;
  Generator gen(14);
  const Lpips lpips(gen);
  const Tensor v = rand({1, 1, 17, 17, 17}, gen);
  expect_error(
      [&] {
        nets::perceptual_loss_25d(v, rand({1, 1, 17, 17, 18}, gen), lpips, 0.5, gen);
      },
      {"perceptual_loss_25d", "shapes differ"});
  expect_error([&] { nets::perceptual_loss_25d(v, v, lpips, 0.0, gen); },
               {"perceptual_loss_25d", "ratio"});
  expect_error([&] { nets::perceptual_loss_25d(v, v, lpips, 0.05, gen); },
               {"perceptual_loss_25d", "selects no slice"});
  const Tensor small = rand({1, 1, 17, 16, 17}, gen);
  expect_error([&] { nets::perceptual_loss_25d(small, small, lpips, 0.5, gen); },
               {"perceptual_loss_25d", ">= 17"});
  const Tensor two = rand({1, 2, 17, 17, 17}, gen);
  expect_error([&] { nets::perceptual_loss_25d(two, two, lpips, 0.5, gen); },
               {"perceptual_loss_25d", "1 or 3"});
  const Tensor img = rand({1, 1, 16, 20}, gen);
  expect_error([&] { lpips.forward(img, img); }, {"Lpips", "17 x 17"});
  const Tensor d = rand({1, 1, 20, 20}, gen, DType::F64);
  expect_error([&] { lpips.forward(d, d); }, {"Lpips", "dtype"});
}

}  // namespace
}  // namespace ldae
