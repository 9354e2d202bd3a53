// Float64 gradient check of the 2.5D perceptual loss (ldae/lpips.h) with respect to the
// reconstruction x. The whole gradient is also compared with PyTorch's in
// tests/unit/test_lpips.cpp; this check covers the subset selection (ratio < 1), with every
// perturbed entry on a scored slice.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <vector>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "common/test_helpers.h"
#include "ldae/lpips.h"

namespace ldae {
namespace {

TEST(LpipsGrad, PerceptualLoss25dOnScoredSlices) {
  const int64_t d = 17, h = 18, w = 17;
  const double ratio = 0.12;  // 2 of the 17 or 18 slices per axis
  const uint64_t seed = 99;   // the same permutation at every call
  Generator wgen(3);
  nets::Lpips lpips(wgen);
  lpips.to(DType::F64);
  Generator gen(4);
  const Tensor base = rand({1, 1, d, h, w}, gen, DType::F64);
  const Tensor y = rand({1, 1, d, h, w}, gen, DType::F64);
  // The slices the loss will score (one sample: row = slice index), drawn as the loss draws
  // them: D, then H, then W.
  Generator replay(seed);
  const int64_t z0 = nets::random_permutation(d, replay)[0];
  const int64_t y0 = std::min(nets::random_permutation(h, replay)[0], h - 3);
  const int64_t x0 = std::min(nets::random_permutation(w, replay)[0], w - 3);
  // The checked input: a 1 x 3 x 3 patch on the scored D slice z0, added to the fixed volume.
  const Tensor patch = testing::leaf({1, 1, 1, 3, 3}, gen, -0.2, 0.2);
  const auto f = [&](const std::vector<Tensor>& in) {
    const Tensor x =
        ag::add(base, ag::pad(in[0], {x0, w - x0 - 3, y0, h - y0 - 3, z0, d - z0 - 1}));
    Generator pick(seed);
    return nets::perceptual_loss_25d(x, y, lpips, ratio, pick);
  };
  const auto r = ag::gradcheck(f, {patch});
  EXPECT_TRUE(r.ok) << r.message;
  // The patch does reach the loss (a zero gradient would pass the check vacuously).
  Tensor p = patch.detach().clone();
  p.set_requires_grad(true);
  ag::backward(f({p}));
  double largest = 0.0;
  for (double v : p.grad().to_vector()) largest = std::max(largest, std::abs(v));
  EXPECT_GT(largest, 1e-8);
}

}  // namespace
}  // namespace ldae
