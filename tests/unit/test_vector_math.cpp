// exp_float and normal_cdf_float (tensor/cpu/vector_math.h): their accuracy contracts on dense
// grids of floats, their edges (overflow, underflow, NaN), and the float sigmoid, SiLU and GELU
// functors (tensor/math.h) that use them, against the same functors in double.
#include <gtest/gtest.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>

#include "tensor/cpu/vector_math.h"
#include "tensor/math.h"

namespace {

using ldae::cpu::exp_float;
using ldae::cpu::normal_cdf_float;

// |got - exact| in units of the float spacing at the correctly rounded exact value.
double ulp_error(float got, double exact) {
  const float rounded = static_cast<float>(exact);
  const double ulp = static_cast<double>(std::nextafter(rounded, std::numeric_limits<float>::infinity())) - rounded;
  return std::fabs(static_cast<double>(got) - exact) / ulp;
}

// The largest error(x) over every 389th float bit pattern x in [lo, hi] (NaN skipped), where it
// was, and how many values were checked.
struct GridWorst {
  double error = 0;
  float at = 0;
  int64_t checked = 0;
};
template <typename Error>
GridWorst worst_over_float_grid(float lo, float hi, Error error) {
  GridWorst w;
  for (uint64_t b = 0; b <= 0xFFFFFFFFu; b += 389) {
    const uint32_t bits = static_cast<uint32_t>(b);
    float x;
    std::memcpy(&x, &bits, sizeof x);
    if (!(x >= lo && x <= hi)) continue;  // also skips NaN
    const double e = error(x);
    if (e > w.error) w.error = e, w.at = x;
    ++w.checked;
  }
  return w;
}

TEST(VectorMath, ExpWithinTwoUlpOnTheWholeNormalRange) {
  // Every 389th float bit pattern with e^x a normal float (about 2.9 million values of each sign).
  const GridWorst w = worst_over_float_grid(
      -87.33f, 88.72f, [](float x) { return ulp_error(exp_float(x), std::exp(static_cast<double>(x))); });
  EXPECT_GT(w.checked, 5'000'000);
  EXPECT_LE(w.error, 2.0) << "at x = " << w.at;
}

TEST(VectorMath, ExpEdges) {
  EXPECT_EQ(exp_float(0.0f), 1.0f);
  EXPECT_EQ(exp_float(-0.0f), 1.0f);
  EXPECT_EQ(exp_float(89.0f), std::numeric_limits<float>::infinity());
  EXPECT_EQ(exp_float(std::numeric_limits<float>::infinity()), std::numeric_limits<float>::infinity());
  EXPECT_EQ(exp_float(-88.0f), 0.0f);  // e^-88 = 6e-39 is subnormal: flushed to 0
  EXPECT_EQ(exp_float(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_TRUE(std::isnan(exp_float(std::numeric_limits<float>::quiet_NaN())));
  // The largest and smallest arguments inside the range stay finite and normal.
  EXPECT_TRUE(std::isfinite(exp_float(88.72f)));
  EXPECT_GE(exp_float(-87.33f), std::numeric_limits<float>::min());
}

TEST(VectorMath, FloatSigmoidAndSiluMatchDouble) {
  // The float functors (which use exp_float) against the double ones (std::exp) on [-100, 100].
  const ldae::math::Sigmoid sigmoid;
  const ldae::math::Silu silu;
  const ldae::math::SiluGrad silu_grad;
  for (int i = -100000; i <= 100000; ++i) {
    const double x = i * 1e-3;
    const float xf = static_cast<float>(x);
    const double s = sigmoid(static_cast<double>(xf));
    ASSERT_NEAR(sigmoid(xf), s, 4e-7 * s + 1e-30) << "x = " << x;
    ASSERT_NEAR(silu(xf), silu(static_cast<double>(xf)), 8e-7 * std::fabs(silu(static_cast<double>(xf))) + 1e-30)
        << "x = " << x;
    // float's own rounding of s near 1 is amplified by x in x (1 - s): 1e-6 per unit of |x|.
    ASSERT_NEAR(silu_grad(xf, 1.0f), silu_grad(static_cast<double>(xf), 1.0), 1e-6 * (1 + std::fabs(x))) << "x = " << x;
  }
  EXPECT_EQ(sigmoid(-100.0f), 0.0f);  // 1 / (1 + inf)
  EXPECT_EQ(sigmoid(100.0f), 1.0f);
  EXPECT_EQ(silu(0.0f), 0.0f);
}

// Phi(x) in double: erfc keeps the lower tail accurate.
double normal_cdf(double x) { return 0.5 * std::erfc(-x / std::sqrt(2.0)); }

TEST(VectorMath, NormalCdfWithinOneMillionthRelative) {
  // Every 389th float bit pattern in [-12.9, 20] (Phi >= 1e-37), about 5.6 million values.
  const GridWorst w = worst_over_float_grid(-12.9f, 20.0f, [](float x) {
    const double exact = normal_cdf(x);
    return std::fabs(normal_cdf_float(x) - exact) / exact;
  });
  EXPECT_GT(w.checked, 5'000'000);
  EXPECT_LE(w.error, 1e-6) << "at x = " << w.at;
}

TEST(VectorMath, NormalCdfEdges) {
  EXPECT_NEAR(normal_cdf_float(0.0f), 0.5f, 1e-7f);
  EXPECT_EQ(normal_cdf_float(std::numeric_limits<float>::infinity()), 1.0f);
  EXPECT_EQ(normal_cdf_float(-std::numeric_limits<float>::infinity()), 0.0f);
  EXPECT_EQ(normal_cdf_float(-14.0f), 0.0f);  // Phi(-14) = 8e-45: below the contract's range
  EXPECT_TRUE(std::isnan(normal_cdf_float(std::numeric_limits<float>::quiet_NaN())));
}

TEST(VectorMath, FloatGeluMatchesDouble) {
  const ldae::math::GeluErf gelu;
  const ldae::math::GeluErfGrad gelu_grad;
  for (int i = -200000; i <= 200000; ++i) {
    const float xf = static_cast<float>(i * 1e-4);
    const double x = xf;
    const double y = gelu(x);  // std::erf in double
    // Relative to the value, plus the absolute error of double's 1 + erf(x / sqrt 2) itself
    // for negative x (erf's rounding near -1 is about 1e-16, times |x|).
    ASSERT_NEAR(gelu(xf), y, 2e-6 * std::fabs(y) + 1e-15 * std::fabs(x)) << "x = " << x;
    ASSERT_NEAR(gelu_grad(xf, 1.0f), gelu_grad(x, 1.0), 2e-6 * (1 + std::fabs(x))) << "x = " << x;
  }
  EXPECT_EQ(gelu(0.0f), 0.0f);
  EXPECT_EQ(gelu(-20.0f), -0.0f);
  EXPECT_EQ(gelu(20.0f), 20.0f);
}

}  // namespace
