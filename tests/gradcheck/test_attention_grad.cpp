// Float64 gradient checks of scaled_dot_product_attention (its own backward, see
// autograd/attention.cpp): q, k and v, default and explicit scale, broadcast batch axes
// (including v with more batch axes than q and k), non-contiguous inputs.
#include <gtest/gtest.h>

#include "autograd/functions.h"
#include "common/test_helpers.h"

using namespace ldae;
using ldae::testing::leaf;
using Inputs = std::vector<Tensor>;

TEST(GradAttention, QKV) {
  Generator gen(31);
  Tensor q = leaf({2, 3, 4}, gen), k = leaf({2, 5, 4}, gen), v = leaf({2, 5, 3}, gen);
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return ag::scaled_dot_product_attention(in[0], in[1], in[2]); },
      (Inputs{q, k, v}));
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return ag::scaled_dot_product_attention(in[0], in[1], in[2], 0.7); },
      (Inputs{q, k, v}));
}

TEST(GradAttention, BroadcastBatch) {
  Generator gen(32);
  // q (2, 2, 3, 4) against k, v shared over the leading batch axis.
  Tensor q = leaf({2, 2, 3, 4}, gen), k = leaf({2, 5, 4}, gen), v = leaf({1, 5, 3}, gen);
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return ag::scaled_dot_product_attention(in[0], in[1], in[2]); },
      (Inputs{q, k, v}));
  // v brings a batch axis that q and k lack.
  Tensor q2 = leaf({2, 3, 4}, gen), k2 = leaf({2, 5, 4}, gen), v2 = leaf({3, 2, 5, 2}, gen);
  EXPECT_GRADCHECK(
      [](const Inputs& in) { return ag::scaled_dot_product_attention(in[0], in[1], in[2]); },
      (Inputs{q2, k2, v2}));
}

TEST(GradAttention, NonContiguous) {
  Generator gen(33);
  // q and v are given as (..., d, L) and transposed; k is a strided slice.
  Tensor q = leaf({2, 4, 3}, gen), k = leaf({2, 10, 4}, gen), v = leaf({2, 3, 5}, gen);
  EXPECT_GRADCHECK(
      [](const Inputs& in) {
        return ag::scaled_dot_product_attention(
            ag::transpose(in[0], 1, 2), ag::slice(in[1], 1, 0, 10, 2), ag::transpose(in[2], 1, 2));
      },
      (Inputs{q, k, v}));
}
