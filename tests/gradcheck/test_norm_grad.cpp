// Float64 gradient checks of group norm and layer norm: every input (x, weight, bias),
// groups = 1 / C / in between, 1 and 2 normalised axes, optional affine parameters and
// non-contiguous x.
#include <gtest/gtest.h>

#include "autograd/functions.h"
#include "common/test_helpers.h"

using namespace ldae;
using ldae::testing::leaf;
using Inputs = std::vector<Tensor>;

TEST(GradNorm, GroupNormEveryGroupCount) {
  Generator gen(11);
  // x: (N=2, C=6, 3, 2); the mean is shifted away from 0 to exercise the centring.
  Tensor x = leaf({2, 6, 3, 2}, gen, 1.0, 3.0), w = leaf({6}, gen, 0.5, 1.5), b = leaf({6}, gen);
  for (int64_t groups : {1, 2, 3, 6}) {
    SCOPED_TRACE("groups " + std::to_string(groups));
    EXPECT_GRADCHECK(
        [groups](const Inputs& in) { return ag::group_norm(in[0], groups, in[1], in[2]); },
        (Inputs{x, w, b}));
  }
}

TEST(GradNorm, GroupNorm5dAndPlainNC) {
  Generator gen(12);
  Tensor x5 = leaf({2, 4, 2, 3, 2}, gen), w = leaf({4}, gen), b = leaf({4}, gen);
  EXPECT_GRADCHECK([](const Inputs& in) { return ag::group_norm(in[0], 2, in[1], in[2], 1e-3); },
                   (Inputs{x5, w, b}));
  Tensor x2 = leaf({3, 4}, gen);  // (N, C) with no spatial axes: sets of C / groups values
  EXPECT_GRADCHECK([](const Inputs& in) { return ag::group_norm(in[0], 2, in[1], in[2]); },
                   (Inputs{x2, w, b}));
}

TEST(GradNorm, GroupNormWithoutAffine) {
  Generator gen(13);
  Tensor x = leaf({2, 4, 5}, gen), w = leaf({4}, gen), b = leaf({4}, gen);
  EXPECT_GRADCHECK([](const Inputs& in) { return ag::group_norm(in[0], 2, Tensor(), Tensor()); },
                   (Inputs{x}));
  EXPECT_GRADCHECK([](const Inputs& in) { return ag::group_norm(in[0], 2, in[1], Tensor()); },
                   (Inputs{x, w}));
  EXPECT_GRADCHECK([](const Inputs& in) { return ag::group_norm(in[0], 2, Tensor(), in[1]); },
                   (Inputs{x, b}));
}

TEST(GradNorm, GroupNormNonContiguous) {
  Generator gen(14);
  // x is read through a transposed view (2, 3, 4, 2) -> (2, 4, 3, 2); w through a stride-2 slice.
  Tensor x = leaf({2, 3, 4, 2}, gen), w = leaf({8}, gen), b = leaf({4}, gen);
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::group_norm(ag::transpose(in[0], 1, 2), 2, ag::slice(in[1], 0, 0, 8, 2), in[2]);
      },
      (Inputs{x, w, b}));
}

TEST(GradNorm, GroupNormFeedsLaterOps) {
  // The gradient reaching group_norm is itself non-contiguous (from a transpose).
  Generator gen(15);
  Tensor x = leaf({2, 4, 3}, gen), w = leaf({4}, gen), b = leaf({4}, gen);
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return ag::transpose(ag::group_norm(in[0], 4, in[1], in[2]), 1, 2); },
      (Inputs{x, w, b}));
}

TEST(GradNorm, LayerNormOneAxis) {
  Generator gen(16);
  Tensor x = leaf({3, 4, 5}, gen, -1.0, 2.0), w = leaf({5}, gen), b = leaf({5}, gen);
  EXPECT_GRADCHECK([](const Inputs& in) { return ag::layer_norm(in[0], {5}, in[1], in[2]); },
                   (Inputs{x, w, b}));
  EXPECT_GRADCHECK([](const Inputs& in) { return ag::layer_norm(in[0], {5}, Tensor(), Tensor()); },
                   (Inputs{x}));
  EXPECT_GRADCHECK([](const Inputs& in) { return ag::layer_norm(in[0], {5}, Tensor(), in[1]); },
                   (Inputs{x, b}));
}

TEST(GradNorm, LayerNormTwoAxes) {
  Generator gen(17);
  Tensor x = leaf({3, 4, 5}, gen), w = leaf({4, 5}, gen), b = leaf({4, 5}, gen);
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::layer_norm(in[0], {4, 5}, in[1], in[2], 1e-3);
      },
      (Inputs{x, w, b}));
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::layer_norm(in[0], {4, 5}, in[1], Tensor());
      },
      (Inputs{x, w}));
}

TEST(GradNorm, LayerNormNonContiguousAndManyRows) {
  Generator gen(18);
  // x (5, 3, 6) read as (3, 5, 6) through a transpose; 15 rows of 6.
  Tensor x = leaf({5, 3, 6}, gen), w = leaf({6}, gen), b = leaf({6}, gen);
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::layer_norm(ag::transpose(in[0], 0, 1), {6}, in[1], in[2]);
      },
      (Inputs{x, w, b}));
  // Rows wider than one column block of the weight-gradient kernel (256).
  Tensor xw = leaf({2, 300}, gen), ww = leaf({300}, gen), bw = leaf({300}, gen);
  EXPECT_GRADCHECK([](const Inputs& in) { return ag::layer_norm(in[0], {300}, in[1], in[2]); },
                   (Inputs{xw, ww, bw}));
}
