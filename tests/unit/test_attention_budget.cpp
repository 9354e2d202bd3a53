// The attention budget (tensor/kernels.h): attention over more weights than the budget runs in
// chunks of query rows, gives the same values and gradients as the whole-matrix path, and
// never holds the whole (Lq, Lk) weight matrix, forward or backward.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "tensor/cost_counter.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace ldae;

namespace {

// Sets the budget for one test and restores the default afterwards.
class AttentionBudget : public ::testing::Test {
 protected:
  void SetUp() override { saved_ = attention_budget_bytes(); }
  void TearDown() override { set_attention_budget_bytes(saved_); }
  size_t saved_ = 0;
};

double max_abs_diff(const Tensor& a, const Tensor& b) {
  EXPECT_EQ(a.shape(), b.shape());
  const Tensor ac = a.contiguous(), bc = b.contiguous();
  double m = 0;
  for (int64_t i = 0; i < a.numel(); ++i) m = std::max(m, std::abs(ac.data<double>()[i] - bc.data<double>()[i]));
  return m;
}

struct Result {
  Tensor y, gq, gk, gv;
};

// y = attention(q, k, v) and the gradients of sum(y * gy), float64.
Result run(size_t budget) {
  set_attention_budget_bytes(budget);
  Generator gen(7);
  Tensor q = randn({2, 3, 37, 8}, gen, DType::F64), k = randn({2, 3, 29, 8}, gen, DType::F64),
         v = randn({2, 3, 29, 5}, gen, DType::F64);
  const Tensor gy = randn({2, 3, 37, 5}, gen, DType::F64);
  for (Tensor* t : {&q, &k, &v}) t->set_requires_grad(true);
  const Tensor y = ag::scaled_dot_product_attention(q, k, v);
  ag::backward(y, gy);
  return {y.detach(), q.grad(), k.grad(), v.grad()};
}

}  // namespace

TEST_F(AttentionBudget, ChunkSizeFollowsTheBudget) {
  Generator gen(0);
  const Tensor q = rand({2, 3, 100, 8}, gen), k = rand({2, 3, 50, 8}, gen), v = rand({2, 3, 50, 8}, gen);
  const size_t row = 2 * 3 * 50 * 4;  // bytes of one query row's weights, all batches
  set_attention_budget_bytes(100 * row);
  EXPECT_EQ(attention_query_chunk(q, k, v), 100);  // fits: one chunk
  set_attention_budget_bytes(99 * row);
  EXPECT_EQ(attention_query_chunk(q, k, v), 99);
  set_attention_budget_bytes(7 * row + 3);
  EXPECT_EQ(attention_query_chunk(q, k, v), 7);
  set_attention_budget_bytes(1);
  EXPECT_EQ(attention_query_chunk(q, k, v), 1);  // at least one row
}

TEST_F(AttentionBudget, ChunkedEqualsWholeMatrix) {
  const Result whole = run(size_t{1} << 30);
  for (size_t rows : {1, 5, 36}) {
    const Result chunked = run(rows * 2 * 3 * 29 * 8);
    EXPECT_LT(max_abs_diff(chunked.y, whole.y), 1e-13) << rows;
    EXPECT_LT(max_abs_diff(chunked.gq, whole.gq), 1e-13) << rows;
    EXPECT_LT(max_abs_diff(chunked.gk, whole.gk), 1e-13) << rows;
    EXPECT_LT(max_abs_diff(chunked.gv, whole.gv), 1e-13) << rows;
  }
}

TEST_F(AttentionBudget, ChunkedIsBitReproducible) {
  const Result a = run(3 * 2 * 3 * 29 * 8), b = run(3 * 2 * 3 * 29 * 8);
  EXPECT_EQ(max_abs_diff(a.y, b.y), 0.0);
  EXPECT_EQ(max_abs_diff(a.gk, b.gk), 0.0);
}

// 2048 tokens, one head: the weight matrix is 16 MiB. With a 2 MiB budget the forward holds
// one 2 MiB chunk at a time and the backward at most three (P, gP, gS), plus the small
// (tokens, d) tensors: far below the whole matrix.
TEST_F(AttentionBudget, LongSequencesStayWithinTheBudget) {
  Generator gen(1);
  const int64_t tokens = 2048, d = 16;
  Tensor q = randn({1, tokens, d}, gen), k = randn({1, tokens, d}, gen), v = randn({1, tokens, d}, gen);
  for (Tensor* t : {&q, &k, &v}) t->set_requires_grad(true);
  const double matrix = static_cast<double>(tokens) * tokens * 4;
  set_attention_budget_bytes(2u << 20);
  CountCosts counting;
  const Tensor y = ag::scaled_dot_product_attention(q, k, v);
  ag::backward(y, Tensor::ones(y.shape()));
  EXPECT_LT(counting.counts().peak_live_bytes, 3.0 * (2u << 20) + 1e6);
  EXPECT_LT(counting.counts().peak_live_bytes, 0.5 * matrix);
  EXPECT_TRUE(q.grad().defined() && k.grad().defined() && v.grad().defined());
}
