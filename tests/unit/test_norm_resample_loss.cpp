// Unit tests of the normalisation, pooling/resampling, attention and loss ops: values
// computed by hand (or with PyTorch 1.13, as noted), float32 against a float64 reference
// on shapes large enough for the multi-threaded paths, and the error messages.
#include <gtest/gtest.h>

#include <cmath>
#include <vector>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "common/test_helpers.h"

using namespace ldae;
using ldae::testing::expect_error;

namespace {

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol) {
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], tol) << "at " << i;
}

double max_abs_diff(const Tensor& a, const Tensor& b) {
  const std::vector<double> va = a.to_vector(), vb = b.to_vector();
  double m = 0;
  for (size_t i = 0; i < va.size(); ++i) m = std::max(m, std::fabs(va[i] - vb[i]));
  return m;
}

}  // namespace

// ---- Group norm and layer norm ----------------------------------------------------------

TEST(GroupNorm, HandComputedValues) {
  // One sample, 2 channels of 2 values, 1 group: mean 2.5, biased var 1.25.
  const Tensor x = Tensor::from_vector({1, 2, 3, 4}, {1, 2, 2}, DType::F64);
  const Tensor w = Tensor::from_vector({2, -1}, {2}, DType::F64);
  const Tensor b = Tensor::from_vector({0.5, 1}, {2}, DType::F64);
  const NormResult r = group_norm(x, 1, w, b, 0.0);
  const double s = 1 / std::sqrt(1.25);
  EXPECT_NEAR(r.mean.item(), 2.5, 1e-15);
  EXPECT_NEAR(r.rstd.item(), s, 1e-15);
  EXPECT_EQ(r.mean.shape(), (Shape{1, 1}));
  expect_near_all(r.y.to_vector(),
                  {2 * -1.5 * s + 0.5, 2 * -0.5 * s + 0.5, -0.5 * s + 1, -1.5 * s + 1}, 1e-14);
  // 2 groups of one channel each: each channel normalised alone (var 0.25, eps 0).
  const NormResult r2 = group_norm(x, 2, Tensor(), Tensor(), 0.0);
  expect_near_all(r2.y.to_vector(), {-1, 1, -1, 1}, 1e-14);
  expect_near_all(r2.mean.to_vector(), {1.5, 3.5}, 1e-15);
}

TEST(GroupNorm, LargeMeanKeepsFloatPrecision) {
  // Values 1000 + {0, 1, 2, 3} in float32: sum(x^2) - n mean^2 would lose the variance,
  // the shifted sums keep it.
  const Tensor x = Tensor::from_vector({1000, 1001, 1002, 1003}, {1, 1, 4});
  const NormResult r = group_norm(x, 1, Tensor(), Tensor(), 0.0);
  EXPECT_NEAR(r.mean.item(), 1001.5, 1e-4);
  EXPECT_NEAR(r.rstd.item(), 1 / std::sqrt(1.25), 1e-6);
}

TEST(GroupNorm, Float32MatchesFloat64OnTheThreadedPath) {
  // (2, 8, 16, 16, 16): 2 * 8 * 4096 values, above the parallel grain.
  Generator gen(5);
  const Tensor x = randn({2, 8, 16, 16, 16}, gen, DType::F64, 3.0, 2.0);
  const Tensor w = randn({8}, gen, DType::F64), b = randn({8}, gen, DType::F64);
  const Tensor gy = randn(x.shape(), gen, DType::F64);
  const NormResult r64 = group_norm(x, 4, w, b, 1e-5);
  const NormResult r32 = group_norm(x.to(DType::F32), 4, w.to(DType::F32), b.to(DType::F32), 1e-5);
  EXPECT_LT(max_abs_diff(r32.y, r64.y), 1e-5);
  const NormGrads g64 = group_norm_backward(gy, x, r64.mean, r64.rstd, 4, w);
  const NormGrads g32 = group_norm_backward(gy.to(DType::F32), x.to(DType::F32), r32.mean, r32.rstd,
                                            4, w.to(DType::F32));
  EXPECT_LT(max_abs_diff(g32.gx, g64.gx), 1e-4);
  EXPECT_LT(max_abs_diff(g32.gw, g64.gw), 1e-2);  // sums of 16384 terms
  EXPECT_LT(max_abs_diff(g32.gb, g64.gb), 1e-2);
  // Each (n, group) of the float64 result has mean 0 and variance 1 before the affine map.
  const NormResult plain = group_norm(x, 4, Tensor(), Tensor(), 0.0);
  const Tensor groups = plain.y.reshape({2, 4, -1});
  const std::vector<double> m = mean(groups, {2}).to_vector();
  const std::vector<double> v = mean(mul(groups, groups), {2}).to_vector();
  for (size_t i = 0; i < m.size(); ++i) {
    EXPECT_NEAR(m[i], 0.0, 1e-12);
    EXPECT_NEAR(v[i], 1.0, 1e-12);
  }
}

TEST(LayerNorm, HandComputedValuesAndStatsShape) {
  const Tensor x = Tensor::from_vector({1, 2, 3, 4, 10, 10, 10, 14}, {2, 4}, DType::F64);
  const NormResult r = layer_norm(x, {4}, Tensor(), Tensor(), 0.0);
  EXPECT_EQ(r.mean.shape(), (Shape{2, 1}));
  expect_near_all(r.mean.to_vector(), {2.5, 11}, 1e-14);
  const double s = 1 / std::sqrt(1.25), s2 = 1 / std::sqrt(3.0);  // var of {10,10,10,14} = 3
  expect_near_all(r.y.to_vector(), {-1.5 * s, -0.5 * s, 0.5 * s, 1.5 * s, -s2, -s2, -s2, 3 * s2},
                  1e-14);
  // Over the last two axes of (2, 2, 2): the same numbers.
  const NormResult r2 = layer_norm(x.reshape({2, 2, 2}), {2, 2}, Tensor(), Tensor(), 0.0);
  EXPECT_EQ(r2.mean.shape(), (Shape{2, 1, 1}));
  EXPECT_LT(max_abs_diff(r2.y.reshape({2, 4}), r.y), 1e-15);
}

TEST(LayerNorm, Float32MatchesFloat64OnTheThreadedPath) {
  // 300 rows of 300: above the grain, and more than one column block for gw / gb.
  Generator gen(6);
  const Tensor x = randn({300, 300}, gen, DType::F64, -1.0, 3.0);
  const Tensor w = randn({300}, gen, DType::F64), b = randn({300}, gen, DType::F64);
  const Tensor gy = randn(x.shape(), gen, DType::F64);
  const NormResult r64 = layer_norm(x, {300}, w, b, 1e-5);
  const NormResult r32 =
      layer_norm(x.to(DType::F32), {300}, w.to(DType::F32), b.to(DType::F32), 1e-5);
  EXPECT_LT(max_abs_diff(r32.y, r64.y), 1e-5);
  const NormGrads g64 = layer_norm_backward(gy, x, r64.mean, r64.rstd, {300}, w);
  const NormGrads g32 = layer_norm_backward(gy.to(DType::F32), x.to(DType::F32), r32.mean, r32.rstd,
                                            {300}, w.to(DType::F32));
  EXPECT_LT(max_abs_diff(g32.gx, g64.gx), 1e-4);
  EXPECT_LT(max_abs_diff(g32.gw, g64.gw), 1e-3);
  EXPECT_LT(max_abs_diff(g32.gb, g64.gb), 1e-3);
}

TEST(Norm, Errors) {
  const Tensor x = Tensor::zeros({2, 6, 3});
  expect_error([&] { group_norm(x, 4, Tensor(), Tensor(), 1e-5); },
               {"group_norm", "(2, 6, 3)", "4"});
  expect_error([&] { group_norm(x, 2, Tensor::ones({5}), Tensor(), 1e-5); },
               {"group_norm", "weight", "(5,)", "(6,)"});
  expect_error([&] { group_norm(x, 2, Tensor(), Tensor::ones({6}, DType::F64), 1e-5); },
               {"group_norm", "bias", "f64"});
  expect_error([&] { group_norm(Tensor::zeros({6}), 1, Tensor(), Tensor(), 1e-5); },
               {"group_norm", "(6,)"});
  expect_error([&] { layer_norm(x, {6}, Tensor(), Tensor(), 1e-5); },
               {"layer_norm", "(6,)", "(2, 6, 3)"});
  expect_error([&] { layer_norm(x, {3}, Tensor::ones({4}), Tensor(), 1e-5); },
               {"layer_norm", "weight", "(4,)"});
  const NormResult r = group_norm(x, 2, Tensor(), Tensor(), 1e-5);
  expect_error(
      [&] {
        group_norm_backward(Tensor::zeros({2, 6}), x, r.mean, r.rstd, 2, Tensor());
      },
      {"group_norm_backward", "(2, 6)", "(2, 6, 3)"});
  // Statistics that do not fit x: each backward names what they must match.
  const Tensor stats5 = Tensor::zeros({5});
  expect_error([&] { group_norm_backward(x, x, stats5, stats5, 2, Tensor()); },
               {"group_norm_backward", "mean/rstd", "(5,)", "(2, 6, 3)", "with 2 groups"});
  expect_error([&] { layer_norm_backward(x, x, stats5, stats5, {3}, Tensor()); },
               {"layer_norm_backward", "mean/rstd", "(5,)", "normalised over (3,)"});
  expect_error([&] { batch_norm_backward(x, x, stats5, stats5, Tensor(), true); },
               {"batch_norm_backward", "mean/rstd", "(5,)", "(2, 6, 3)"});
  const Tensor mean_f64 = Tensor::zeros({2, 6, 1}, DType::F64), rstd = Tensor::zeros({2, 6, 1});
  expect_error([&] { layer_norm_backward(x, x, mean_f64, rstd, {3}, Tensor()); },
               {"layer_norm_backward", "mean/rstd", "f64"});
}

// ---- Pooling and interpolation ---------------------------------------------------------------

TEST(AvgPool3d, HandComputedValues) {
  // One 2x2x2 window over 0..7: mean 3.5.
  const Tensor x = Tensor::arange(8, DType::F64).reshape({1, 1, 2, 2, 2});
  const Tensor y = avg_pool3d(x, {2, 2, 2}, {2, 2, 2});
  EXPECT_EQ(y.shape(), (Shape{1, 1, 1, 1, 1}));
  EXPECT_DOUBLE_EQ(y.item(), 3.5);
  // Kernel (1, 2, 2): the mean of each 2x2 slice: (0+1+2+3)/4, (4+5+6+7)/4.
  expect_near_all(avg_pool3d(x, {1, 2, 2}, {1, 2, 2}).to_vector(), {1.5, 5.5}, 1e-15);
  // Output size floor((in - k) / s) + 1: in 7, k 3, s 2 -> 3; overlapping windows.
  const Tensor x7 = Tensor::arange(7, DType::F64).reshape({1, 1, 1, 1, 7});
  expect_near_all(avg_pool3d(x7, {1, 1, 3}, {1, 1, 2}).to_vector(), {1, 3, 5}, 1e-15);
  // Backward of the overlapping case: input 2 and 4 sit in two windows.
  const Tensor gx = avg_pool3d_backward(Tensor::ones({1, 1, 1, 1, 3}, DType::F64), x7.shape(),
                                        {1, 1, 3}, {1, 1, 2});
  expect_near_all(gx.to_vector(), {1. / 3, 1. / 3, 2. / 3, 1. / 3, 2. / 3, 1. / 3, 1. / 3}, 1e-15);
  // An empty stride means stride = kernel.
  EXPECT_DOUBLE_EQ(avg_pool3d(x, {2, 2, 2}, {}).item(), 3.5);
}

TEST(Interpolate, NearestMatchesPyTorch) {
  const Tensor x = Tensor::arange(10).reshape({1, 1, 10});
  // Values printed by PyTorch 1.13: F.interpolate(x, scale_factor=s, mode="nearest").
  expect_near_all(interpolate(x, {1.5}, "nearest").to_vector(),
                  {0, 0, 1, 2, 2, 3, 4, 4, 5, 6, 6, 7, 8, 8, 9}, 0);
  expect_near_all(interpolate(x, {0.6}, "nearest").to_vector(), {0, 1, 3, 5, 6, 8}, 0);
  expect_near_all(interpolate(x, {1.3}, "nearest").to_vector(),
                  {0, 0, 1, 2, 3, 3, 4, 5, 6, 6, 7, 8, 9}, 0);
  // No shortcut when the size does not change: in 3, scale 1.2 -> out 3 reading (0, 0, 1);
  // and 2.2 is not treated as 2 (PyTorch 1.13 gives (0, 0, 0, 1, 1, 2)).
  const Tensor x3 = Tensor::arange(3).reshape({1, 1, 3});
  expect_near_all(interpolate(x3, {1.2}, "nearest").to_vector(), {0, 0, 1}, 0);
  expect_near_all(interpolate(x3, {2.2}, "nearest").to_vector(), {0, 0, 0, 1, 1, 2}, 0);
  // Linear does copy when the size does not change (PyTorch's shortcut).
  expect_near_all(interpolate(x3, {1.2}, "linear").to_vector(), {0, 1, 2}, 0);
  // Scale (1, 2, 2) on a 3-D volume: each slice's pixels repeated 2x2, depth unchanged.
  const Tensor v = Tensor::arange(4).reshape({1, 1, 2, 1, 2});
  const Tensor up = interpolate(v, {1, 2, 2}, "nearest");
  EXPECT_EQ(up.shape(), (Shape{1, 1, 2, 2, 4}));
  expect_near_all(up.to_vector(), {0, 0, 1, 1, 0, 0, 1, 1, 2, 2, 3, 3, 2, 2, 3, 3}, 0);
}

TEST(Interpolate, LinearMatchesPyTorch) {
  const Tensor x = Tensor::arange(10, DType::F64).reshape({1, 1, 10});
  // PyTorch 1.13, mode="linear", align_corners=False.
  expect_near_all(interpolate(x, {2}, "linear").to_vector(),
                  {0,    0.25, 0.75, 1.25, 1.75, 2.25, 2.75, 3.25, 3.75, 4.25,
                   4.75, 5.25, 5.75, 6.25, 6.75, 7.25, 7.75, 8.25, 8.75, 9},
                  1e-12);
  expect_near_all(interpolate(x, {0.6}, "linear").to_vector(),
                  {1. / 3, 2, 11. / 3, 16. / 3, 7, 26. / 3}, 1e-12);
  // Trilinear with scale (2, 2, 2) reproduces a linear function away from the borders,
  // and the bilinear 4-D case agrees with the trilinear one on a depth-1 volume.
  const Tensor v = Tensor::arange(6, DType::F64).reshape({1, 1, 1, 2, 3});
  const Tensor tri = interpolate(v, {1, 2, 2}, "trilinear");
  const Tensor bil = interpolate(v.reshape({1, 1, 2, 3}), {2, 2}, "bilinear");
  EXPECT_EQ(bil.shape(), (Shape{1, 1, 4, 6}));
  EXPECT_LT(max_abs_diff(tri.reshape({1, 1, 4, 6}), bil), 1e-15);
  // Output (1, 1): row 1, column 1 -> source (0.25, 0.25): 0.25 * 3 + 0.25 = 1.
  EXPECT_NEAR(bil.at({0, 0, 1, 1}), 1.0, 1e-15);
}

TEST(Resample, Errors) {
  const Tensor x = Tensor::zeros({1, 2, 4, 4, 4});
  expect_error(
      [&] {
        avg_pool3d(Tensor::zeros({2, 4, 4, 4}), {2, 2, 2}, {2, 2, 2});
      },
      {"avg_pool3d", "(2, 4, 4, 4)"});
  expect_error([&] { avg_pool3d(x, {2, 2}, {2, 2, 2}); }, {"avg_pool3d", "kernel", "3 entries"});
  expect_error(
      [&] {
        avg_pool3d(x, {5, 2, 2}, {1, 1, 1});
      },
      {"avg_pool3d", "(1, 2, 4, 4, 4)", "kernel"});
  expect_error(
      [&] {
        interpolate(x, {2, 2}, "nearest");
      },
      {"interpolate", "scale", "(1, 2, 4, 4, 4)"});
  expect_error(
      [&] {
        interpolate(x, {2, 2, 2}, "bilinear");
      },
      {"interpolate", "bilinear", "trilinear"});
  expect_error([&] { interpolate(x, {2, 0, 2}, "nearest"); }, {"interpolate", "positive"});
  expect_error([&] { interpolate(x, {2, 0.1, 2}, "nearest"); }, {"interpolate", "empty"});
  expect_error(
      [&] {
        interpolate_backward(Tensor::zeros({1, 2, 8, 8, 4}), x.shape(), {2, 2, 2}, "nearest");
      },
      {"interpolate_backward", "(1, 2, 8, 8, 4)", "(1, 2, 8, 8, 8)"});
}

// ---- Attention -------------------------------------------------------------------------------

TEST(Attention, HandComputedValues) {
  // All keys equal: uniform weights, so every query gets the mean of the values.
  const Tensor q = Tensor::from_vector({1, 2, -3, 0.5}, {2, 2}, DType::F64);
  const Tensor k = Tensor::from_vector({1, 1, 1, 1, 1, 1}, {3, 2}, DType::F64);
  const Tensor v = Tensor::from_vector({1, 10, 2, 20, 6, 60}, {3, 2}, DType::F64);
  expect_near_all(scaled_dot_product_attention(q, k, v).to_vector(), {3, 30, 3, 30}, 1e-14);
  // Two keys, d = 1, scale 1: weights softmax(q k) = softmax(0, log 3) = (1/4, 3/4).
  const Tensor q1 = Tensor::from_vector({1}, {1, 1}, DType::F64);
  const Tensor k1 = Tensor::from_vector({0, std::log(3.0)}, {2, 1}, DType::F64);
  const Tensor v1 = Tensor::from_vector({4, 8}, {2, 1}, DType::F64);
  EXPECT_NEAR(scaled_dot_product_attention(q1, k1, v1, 1.0).item(), 7.0, 1e-14);
  // Default scale 1/sqrt(d) = 1/2 with d = 4: scores (0, 4 c / 2) = (0, log 3) again.
  const Tensor q4 = Tensor::from_vector({1, 1, 1, 1}, {1, 4}, DType::F64);
  const double c = std::log(3.0) / 2;
  const Tensor k4 = Tensor::from_vector({0, 0, 0, 0, c, c, c, c}, {2, 4}, DType::F64);
  EXPECT_NEAR(scaled_dot_product_attention(q4, k4, v1).item(), 7.0, 1e-14);
}

TEST(Attention, Errors) {
  const Tensor q = Tensor::zeros({2, 3, 4}), k = Tensor::zeros({2, 5, 4}),
               v = Tensor::zeros({2, 5, 3});
  expect_error(
      [&] {
        scaled_dot_product_attention(q, Tensor::zeros({2, 5, 3}), v);
      },
      {"scaled_dot_product_attention", "(2, 3, 4)", "(2, 5, 3)"});
  expect_error(
      [&] {
        scaled_dot_product_attention(q, k, Tensor::zeros({2, 4, 3}));
      },
      {"scaled_dot_product_attention", "(2, 5, 4)", "(2, 4, 3)"});
  expect_error([&] { scaled_dot_product_attention(Tensor::zeros({4}), k, v); },
               {"scaled_dot_product_attention", "(4,)"});
}

// ---- Losses ----------------------------------------------------------------------------------

TEST(Loss, HandComputedValues) {
  const Tensor x = Tensor::from_vector({1, 2, -1, 0}, {2, 2}, DType::F64);
  const Tensor t = Tensor::from_vector({0, 0, 1, 0}, {2, 2}, DType::F64);
  // (x - t)^2 = 1, 4, 4, 0.
  EXPECT_DOUBLE_EQ(mse_loss(x, t).item(), 9.0 / 4);
  EXPECT_DOUBLE_EQ(mse_loss(x, t, "sum").item(), 9.0);
  expect_near_all(mse_loss(x, t, "none").to_vector(), {1, 4, 4, 0}, 0);
  EXPECT_EQ(mse_loss(x, t, "none").shape(), (Shape{2, 2}));
  // |x - t| = 1, 2, 2, 0.
  EXPECT_DOUBLE_EQ(l1_loss(x, t).item(), 5.0 / 4);
  EXPECT_DOUBLE_EQ(l1_loss(x, t, "sum").item(), 5.0);
  // BCE with logits: at x = 0 any target costs log 2; x = 2, t = 1: log(1 + e^-2);
  // x = -1, t = 1: log(1 + e); x = 1000, t = 0: 1000 (no overflow).
  const Tensor z = Tensor::from_vector({0, 2, -1, 1000}, {4}, DType::F64);
  const Tensor zt = Tensor::from_vector({0.3, 1, 1, 0}, {4}, DType::F64);
  expect_near_all(binary_cross_entropy_with_logits(z, zt, "none").to_vector(),
                  {std::log(2.0), std::log1p(std::exp(-2.0)), std::log1p(std::exp(1.0)), 1000},
                  1e-12);
}

TEST(Loss, GradientsReachInputAndTarget) {
  Tensor x = Tensor::from_vector({1, 2, -1, 0.5}, {4}, DType::F64).set_requires_grad();
  Tensor t = Tensor::from_vector({0, 0, 1, 1}, {4}, DType::F64).set_requires_grad();
  ag::backward(ag::mse_loss(x, t));  // d/dx = 2 (x - t) / 4
  expect_near_all(x.grad().to_vector(), {0.5, 1, -1, -0.25}, 1e-15);
  expect_near_all(t.grad().to_vector(), {-0.5, -1, 1, 0.25}, 1e-15);
  x.set_grad(Tensor());
  t.set_grad(Tensor());
  ag::backward(ag::l1_loss(x, t, "sum"));  // d/dx = sign(x - t)
  expect_near_all(x.grad().to_vector(), {1, 1, -1, -1}, 0);
  expect_near_all(t.grad().to_vector(), {-1, -1, 1, 1}, 0);
  x.set_grad(Tensor());
  t.set_grad(Tensor());
  ag::backward(ag::binary_cross_entropy_with_logits(x, t, "sum"));  // d/dt = -x
  expect_near_all(t.grad().to_vector(), {-1, -2, 1, -0.5}, 1e-15);
  EXPECT_NEAR(x.grad().to_vector()[0], 1 / (1 + std::exp(-1.0)), 1e-15);  // sigmoid(1) - 0
}

TEST(Loss, Errors) {
  const Tensor a = Tensor::zeros({2, 3}), b = Tensor::zeros({3});
  expect_error([&] { mse_loss(a, a, "avg"); }, {"mse_loss", "reduction", "avg"});
  expect_error([&] { l1_loss(a, a, "Mean"); }, {"l1_loss", "reduction"});
  expect_error([&] { mse_loss(a, b); }, {"mse_loss", "(2, 3)", "(3,)"});
  expect_error([&] { l1_loss(a, Tensor::zeros({2, 1})); }, {"l1_loss", "(2, 3)", "(2, 1)"});
  expect_error([&] { binary_cross_entropy_with_logits(a, b, "sum"); },
               {"binary_cross_entropy_with_logits", "(2, 3)", "(3,)"});
  expect_error([&] { mse_loss(a, Tensor::zeros({2, 3}, DType::F64)); }, {"mse_loss", "f64"});
}
