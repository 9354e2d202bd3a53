// Float64 gradient checks of the losses, for both the input and the target, with every
// reduction and non-contiguous inputs.
#include <gtest/gtest.h>

#include "autograd/functions.h"
#include "common/test_helpers.h"

using namespace ldae;
using ldae::testing::leaf;
using Inputs = std::vector<Tensor>;

namespace {
const char* kReductions[] = {"mean", "sum", "none"};
}

TEST(GradLoss, Mse) {
  Generator gen(41);
  Tensor x = leaf({3, 4}, gen), t = leaf({3, 4}, gen);
  for (const std::string r : kReductions) {
    SCOPED_TRACE(r);
    EXPECT_GRADCHECK([r](const Inputs& in) { return ag::mse_loss(in[0], in[1], r); },
                     (Inputs{x, t}));
  }
}

TEST(GradLoss, L1AwayFromTheKink) {
  Generator gen(42);
  Tensor x = leaf({3, 4}, gen);
  // t = x + (+-0.3 .. 0.8): |x - t| stays away from 0, where l1 is not differentiable.
  Tensor off = rand({3, 4}, gen, DType::F64, 0.3, 0.8);
  Tensor sgn = sign(rand({3, 4}, gen, DType::F64, -1.0, 1.0));
  Tensor t = add(x.detach(), mul(off, sgn)).set_requires_grad();
  for (const std::string r : kReductions) {
    SCOPED_TRACE(r);
    EXPECT_GRADCHECK([r](const Inputs& in) { return ag::l1_loss(in[0], in[1], r); },
                     (Inputs{x, t}));
  }
}

TEST(GradLoss, BceWithLogits) {
  Generator gen(43);
  Tensor x = leaf({2, 5}, gen, -4.0, 4.0), t = leaf({2, 5}, gen, 0.0, 1.0);
  for (const std::string r : kReductions) {
    SCOPED_TRACE(r);
    EXPECT_GRADCHECK(
        [r](const Inputs& in) { return ag::binary_cross_entropy_with_logits(in[0], in[1], r); },
        (Inputs{x, t}));
  }
}

TEST(GradLoss, NonContiguousInputs) {
  Generator gen(44);
  Tensor x = leaf({4, 3}, gen), t = leaf({3, 8}, gen), p = leaf({3, 4}, gen, 0.0, 1.0);
  // input read through a transpose, target through a stride-2 slice.
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::mse_loss(ag::transpose(in[0], 0, 1), ag::slice(in[1], 1, 0, 8, 2));
      },
      (Inputs{x, t}));
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::binary_cross_entropy_with_logits(ag::transpose(in[0], 0, 1), in[1], "sum");
      },
      (Inputs{x, p}));
}
