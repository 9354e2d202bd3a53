// Float64 gradient checks of the elementwise ops, with broadcasting and
// non-contiguous inputs.
#include <gtest/gtest.h>

#include "autograd/functions.h"
#include "common/test_helpers.h"

using namespace ldae;
using ldae::testing::leaf;
using Inputs = std::vector<Tensor>;

TEST(GradElementwise, BinaryOpsWithBroadcasting) {
  Generator gen(1);
  Tensor a = leaf({2, 3, 4}, gen), b = leaf({3, 1}, gen), c = leaf({4}, gen);
  Tensor pos = leaf({3, 1}, gen, 0.5, 2.0);
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::add(x[0], x[1]); }, (Inputs{a, b}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::sub(x[0], x[1]); }, (Inputs{c, a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::mul(x[0], x[1]); }, (Inputs{a, b}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::div(x[0], x[1]); }, (Inputs{a, pos}));
}

TEST(GradElementwise, NonContiguousInputs) {
  Generator gen(2);
  Tensor a = leaf({4, 3}, gen), b = leaf({3, 4}, gen);
  // x[0] is read through a transposed view, x[1] through a strided slice.
  EXPECT_GRADCHECK([](const Inputs& x) {
    return ag::mul(ag::transpose(x[0], 0, 1), ag::slice(x[1], 1, 0, 4, 1));
  }, (Inputs{a, b}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::exp(ag::slice(x[0], 0, 0, 4, 2)); }, (Inputs{a}));
}

TEST(GradElementwise, ScalarOps) {
  Generator gen(3);
  Tensor a = leaf({5}, gen), p = leaf({5}, gen, 0.5, 2.0);
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::add_scalar(x[0], 2.5); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::mul_scalar(x[0], -1.5); }, (Inputs{a}));
  for (double e : {2.0, 3.0, 0.5, -1.5})
    EXPECT_GRADCHECK([e](const Inputs& x) { return ag::pow(x[0], e); }, (Inputs{p}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::clamp(x[0], -0.3, 0.4); }, (Inputs{a}));
}

TEST(GradElementwise, UnaryOps) {
  Generator gen(4);
  Tensor a = leaf({3, 4}, gen, -2.0, 2.0), p = leaf({3, 4}, gen, 0.2, 3.0);
  // Inputs bounded away from the kinks of abs / relu / leaky_relu.
  Tensor away = add_scalar(mul_scalar(sign(a.detach()), 0.1), 0.0);
  Tensor k = add(a.detach(), away).set_requires_grad();
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::neg(x[0]); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::exp(x[0]); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::log(x[0]); }, (Inputs{p}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::sqrt(x[0]); }, (Inputs{p}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::abs(x[0]); }, (Inputs{k}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::tanh(x[0]); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::sigmoid(x[0]); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::relu(x[0]); }, (Inputs{k}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::leaky_relu(x[0], 0.2); }, (Inputs{k}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::silu(x[0]); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::gelu(x[0], "none"); }, (Inputs{a}));
  EXPECT_GRADCHECK([](const Inputs& x) { return ag::gelu(x[0], "tanh"); }, (Inputs{a}));
}

TEST(GradElementwise, Operators) {
  Generator gen(5);
  Tensor a = leaf({2, 2}, gen), b = leaf({2, 2}, gen, 0.5, 1.5);
  EXPECT_GRADCHECK([](const Inputs& x) { return (x[0] * x[1] - x[0] / x[1] + 2.0) * 3.0 - x[0]; },
                   (Inputs{a, b}));
}
