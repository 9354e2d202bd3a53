// Float64 gradient checks of reductions, matmul/linear and softmax.
#include <gtest/gtest.h>

#include "autograd/functions.h"
#include "common/test_helpers.h"

using namespace ldae;
using ldae::testing::leaf;
using Inputs = std::vector<Tensor>;

TEST(GradReduce, SumMeanLogsumexp) {
  Generator gen(10);
  Tensor a = leaf({2, 3, 4}, gen);
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::sum(x[0]); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::sum(x[0], {0, 2}); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::sum(x[0], {1}, true); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::mean(x[0]); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::mean(x[0], {-1}, true); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::logsumexp(x[0], {1}); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::logsumexp(x[0], {0, 2}, true); }, (Inputs{a}));
  // A reduction of a non-contiguous view.
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::mean(ag::permute(x[0], {2, 0, 1}), {0}); },
                   (Inputs{a}));
}

TEST(GradLinalg, MatmulBatchedAndBroadcast) {
  Generator gen(11);
  Tensor a = leaf({3, 4}, gen), b = leaf({4, 2}, gen);
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::matmul(x[0], x[1]); }, (Inputs{a, b}));
  Tensor c = leaf({2, 1, 3, 4}, gen), d = leaf({5, 4, 2}, gen);
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::matmul(x[0], x[1]); }, (Inputs{c, d}));
  // Transposed (non-contiguous) operand.
  Tensor e = leaf({2, 3}, gen);
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::matmul(ag::transpose(x[0], 0, 1), x[1]); },
                   (Inputs{e, leaf({2, 4}, gen)}));
}

TEST(GradLinalg, Linear) {
  Generator gen(12);
  Tensor x = leaf({2, 3, 5}, gen), w = leaf({4, 5}, gen), b = leaf({4}, gen);
  EXPECT_GRADCHECK([](const Inputs& v) { return ag::linear(v[0], v[1], v[2]); }, (Inputs{x, w, b}));
  EXPECT_GRADCHECK([](const Inputs& v) { return ag::linear(v[0], v[1]); }, (Inputs{x, w}));
}

TEST(GradSoftmax, SoftmaxAndLogSoftmax) {
  Generator gen(13);
  Tensor a = leaf({3, 4, 5}, gen, -3.0, 3.0);
  for (int64_t dim : {0, 1, -1}) {
    EXPECT_GRADCHECK([dim](const Inputs& x) { return ag::softmax(x[0], dim); }, (Inputs{a}));
    EXPECT_GRADCHECK([dim](const Inputs& x) { return ag::log_softmax(x[0], dim); }, (Inputs{a}));
  }
}
