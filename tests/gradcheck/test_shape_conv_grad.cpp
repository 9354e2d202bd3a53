// Float64 gradient checks of the shape ops (views, cat, pad) and of convolution with
// its stride / padding / dilation / groups variants.
#include <gtest/gtest.h>

#include "autograd/functions.h"
#include "common/test_helpers.h"

using namespace ldae;
using ldae::testing::leaf;
using Inputs = std::vector<Tensor>;

TEST(GradShape, Views) {
  Generator gen(20);
  Tensor a = leaf({2, 3, 4}, gen);
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::reshape(x[0], {4, -1}); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::permute(x[0], {2, 0, 1}); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::transpose(x[0], 0, 2); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::slice(x[0], 2, 1, 4, 2); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::expand(ag::slice(x[0], 1, 0, 1), {5, 2, 3, 4}); },
                   (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::squeeze(ag::unsqueeze(x[0], 1), 1); }, (Inputs{a}));
  // reshape of a permuted tensor (a copy inside) then contiguous.
  EXPECT_GRADCHECK([](const Inputs& x) {
    return ag::contiguous(ag::reshape(ag::permute(x[0], {1, 0, 2}), {3, 8}));
  }, (Inputs{a}));
}

TEST(GradShape, CatAndPad) {
  Generator gen(21);
  Tensor a = leaf({2, 3}, gen), b = leaf({2, 1}, gen), c = leaf({2, 2}, gen);
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::cat({x[0], x[1], x[2]}, 1); }, (Inputs{a, b, c}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::cat({x[0], x[0]}, 0); }, (Inputs{a}));
  Tensor v = leaf({1, 2, 3, 4, 3}, gen);
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::pad(x[0], {1, 1, 0, 2, 1, 0}, 0.5); }, (Inputs{v}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::pad(x[0], {-1, 1, 0, -2}); }, (Inputs{v}));
}

namespace {

void check_conv3d(const ConvParams& p, int64_t cin, int64_t cout, Shape spatial, Shape kernel,
                  bool bias) {
  Generator gen(22);
  Shape xs{2, cin};
  xs.insert(xs.end(), spatial.begin(), spatial.end());
  Shape ws{cout, cin / p.groups};
  ws.insert(ws.end(), kernel.begin(), kernel.end());
  Inputs in{leaf(xs, gen), leaf(ws, gen)};
  if (bias) in.push_back(leaf({cout}, gen));
  EXPECT_GRADCHECK([p](const Inputs& x) {
    return ag::conv3d(x[0], x[1], x.size() > 2 ? x[2] : Tensor(), p);
  }, in);
}

}  // namespace

TEST(GradConv, Conv3dVariants) {
  check_conv3d({{1, 1, 1}, {1, 1, 1}, {1, 1, 1}, 1}, 2, 3, {3, 4, 3}, {3, 3, 3}, true);
  check_conv3d({{2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 1}, 2, 2, {5, 4, 5}, {3, 3, 3}, true);
  check_conv3d({{1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 1}, 2, 2, {4, 4, 4}, {3, 3, 3}, false);
  check_conv3d({{1, 1, 1}, {2, 1, 2}, {2, 1, 2}, 1}, 1, 2, {4, 3, 4}, {3, 2, 3}, true);
  check_conv3d({{1, 2, 2}, {0, 1, 1}, {1, 1, 1}, 2}, 4, 2, {2, 4, 4}, {1, 3, 3}, true);
  check_conv3d({{1, 1, 1}, {0, 0, 0}, {1, 1, 1}, 1}, 3, 2, {2, 3, 2}, {1, 1, 1}, true);
}

TEST(GradConv, Conv2dAndNonContiguousInput) {
  Generator gen(23);
  Tensor x = leaf({2, 3, 5, 4}, gen), w = leaf({4, 3, 3, 3}, gen), b = leaf({4}, gen);
  for (const ConvParams& p : {ConvParams{{1, 1}, {1, 1}, {1, 1}, 1}, ConvParams{{2, 1}, {0, 1}, {1, 2}, 1}})
    EXPECT_GRADCHECK([p](const Inputs& v) { return ag::conv2d(v[0], v[1], v[2], p); }, (Inputs{x, w, b}));
  Tensor xt = leaf({2, 3, 4, 5}, gen);  // transposed to (2, 3, 5, 4) inside
  const ConvParams p{{1, 1}, {1, 1}, {1, 1}, 1};
  EXPECT_GRADCHECK([p](const Inputs& v) { return ag::conv2d(ag::transpose(v[0], 2, 3), v[1], v[2], p); },
                   (Inputs{xt, w, b}));
}
