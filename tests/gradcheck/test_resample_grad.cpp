// Float64 gradient checks of avg_pool3d and interpolate: pooling with kernel 2 stride 2,
// kernel (1, 2, 2), overlapping windows; nearest and (tri/bi)linear with per-axis scales
// (integer and not), inputs with 1, 2 and 3 spatial axes, non-contiguous inputs.
#include <gtest/gtest.h>

#include "autograd/functions.h"
#include "common/test_helpers.h"

using namespace ldae;
using ldae::testing::leaf;
using Inputs = std::vector<Tensor>;

TEST(GradResample, AvgPool3d) {
  Generator gen(21);
  Tensor x = leaf({2, 2, 4, 4, 4}, gen), odd = leaf({1, 2, 5, 4, 5}, gen);
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::avg_pool3d(in[0], {2, 2, 2}, {2, 2, 2});
      },
      (Inputs{x}));
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::avg_pool3d(in[0], {1, 2, 2}, {1, 2, 2});
      },
      (Inputs{x}));
  // Overlapping windows (stride < kernel) and inputs the windows do not tile exactly.
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::avg_pool3d(in[0], {3, 2, 2}, {1, 1, 2});
      },
      (Inputs{odd}));
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::avg_pool3d(in[0], {2, 3, 2}, {2, 1, 3});
      },
      (Inputs{odd}));
}

TEST(GradResample, AvgPool3dNonContiguous) {
  Generator gen(22);
  Tensor x = leaf({2, 4, 2, 4, 4}, gen);  // read as (2, 2, 4, 4, 4) through a transpose
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::avg_pool3d(ag::transpose(in[0], 1, 2), {2, 2, 2}, {2, 2, 2});
      },
      (Inputs{x}));
}

TEST(GradResample, NearestAndTrilinear3d) {
  Generator gen(23);
  Tensor x = leaf({1, 2, 2, 3, 2}, gen);
  for (const std::string mode : {"nearest", "trilinear"}) {
    SCOPED_TRACE(mode);
    EXPECT_GRADCHECK(
        [mode](const Inputs& in) {
          return ag::interpolate(in[0], {2, 2, 2}, mode);
        },
        (Inputs{x}));
    EXPECT_GRADCHECK(
        [mode](const Inputs& in) {
          return ag::interpolate(in[0], {1, 2, 2}, mode);
        },
        (Inputs{x}));
    // Non-integer factors, up and down.
    EXPECT_GRADCHECK(
        [mode](const Inputs& in) {
          return ag::interpolate(in[0], {1.5, 0.7, 2.5}, mode);
        },
        (Inputs{x}));
  }
}

TEST(GradResample, BilinearAndLinear) {
  Generator gen(24);
  Tensor x4 = leaf({2, 2, 3, 4}, gen), x3 = leaf({2, 3, 5}, gen);
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::interpolate(in[0], {2, 1.5}, "bilinear");
      },
      (Inputs{x4}));
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::interpolate(in[0], {2, 2}, "nearest");
      },
      (Inputs{x4}));
  EXPECT_GRADCHECK([](const Inputs& in) { return ag::interpolate(in[0], {0.6}, "linear"); },
                   (Inputs{x3}));
  EXPECT_GRADCHECK([](const Inputs& in) { return ag::interpolate(in[0], {1.7}, "nearest"); },
                   (Inputs{x3}));
}

TEST(GradResample, InterpolateNonContiguous) {
  Generator gen(25);
  Tensor x = leaf({1, 3, 2, 2, 3}, gen);  // read as (1, 2, 3, 2, 3)
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::interpolate(ag::transpose(in[0], 1, 2), {2, 1, 2}, "trilinear");
      },
      (Inputs{x}));
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::interpolate(ag::slice(in[0], 4, 0, 3, 2), {2, 2, 2}, "nearest");
      },
      (Inputs{x}));
}
