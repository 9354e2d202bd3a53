// The autograd engine: accumulation, reused nodes, deep graphs, NoGrad, version
// counters and the errors that protect against silent wrong gradients.
#include <gtest/gtest.h>

#include <cmath>
#include <type_traits>
#include <utility>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "common/test_helpers.h"

using namespace ldae;
using ldae::testing::expect_error;

TEST(Autograd, SimpleChainRule) {
  Tensor x = Tensor::from_vector({2.0, -3.0}, {2}, DType::F64).set_requires_grad();
  Tensor y = ag::sum(x * x * 3.0);  // dy/dx = 6x
  ag::backward(y);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{12.0, -18.0}));
}

TEST(Autograd, GradientsAccumulateAcrossBackwardCalls) {
  Tensor x = Tensor::scalar(1.5, DType::F64).set_requires_grad();
  ag::backward(x * 2.0);
  ag::backward(x * 2.0);
  EXPECT_DOUBLE_EQ(x.grad().item(), 4.0);
  x.set_grad(Tensor());
  EXPECT_FALSE(x.grad().defined());
}

TEST(Autograd, SecondBackwardThroughAFreedGraphIsAnError) {
  Tensor x = Tensor::scalar(3.0, DType::F64).set_requires_grad();
  Tensor y = ag::mul(x, x);
  ag::backward(y);
  EXPECT_DOUBLE_EQ(x.grad().item(), 6.0);
  expect_error([&] { ag::backward(y); },
               {"backward", "second time", "'mul'", "retain_graph=true"});
  EXPECT_DOUBLE_EQ(x.grad().item(), 6.0);  // the refused pass added nothing
}

TEST(Autograd, SecondBackwardThroughANodeWithoutSavedTensorsIsAnErrorToo) {
  // add saves nothing, but a second pass would still count the same graph twice.
  Tensor x = Tensor::scalar(1.0, DType::F64).set_requires_grad();
  Tensor y = ag::sum(x + 1.0);
  ag::backward(y);
  expect_error([&] { ag::backward(y); }, {"backward", "second time", "retain_graph=true"});
  EXPECT_DOUBLE_EQ(x.grad().item(), 1.0);
}

TEST(Autograd, BackwardIntoAnotherRootSharingAFreedSubgraphIsAnError) {
  // Two losses from one hidden tensor: the first backward frees the shared part.
  Tensor x = Tensor::scalar(2.0, DType::F64).set_requires_grad();
  Tensor h = ag::exp(x);
  Tensor loss1 = h * 2.0, loss2 = h * 3.0;
  ag::backward(loss1);
  expect_error([&] { ag::backward(loss2); }, {"backward", "second time", "'exp'"});
}

TEST(Autograd, RetainGraphAllowsASecondBackwardThatAccumulates) {
  // As in PyTorch: y = x*x, backward twice with retain_graph -> grad = 2x + 2x = 4x.
  Tensor x = Tensor::scalar(3.0, DType::F64).set_requires_grad();
  Tensor y = ag::mul(x, x);
  ag::backward(y, ag::BackwardOptions{true});
  EXPECT_DOUBLE_EQ(x.grad().item(), 6.0);
  ag::backward(y, ag::BackwardOptions{true});
  EXPECT_DOUBLE_EQ(x.grad().item(), 12.0);
  ag::backward(y);  // a last pass without retain_graph frees the graph
  EXPECT_DOUBLE_EQ(x.grad().item(), 18.0);
  expect_error([&] { ag::backward(y); }, {"backward", "second time"});
}

TEST(Autograd, RetainGraphWithAnExplicitGradOutput) {
  Tensor x = Tensor::from_vector({1.0, 2.0}, {2}, DType::F64).set_requires_grad();
  Tensor y = ag::mul(x, x);
  ag::BackwardOptions keep;
  keep.retain_graph = true;
  ag::backward(y, Tensor::ones({2}, DType::F64), keep);
  ag::backward(y, Tensor::from_vector({10.0, 10.0}, {2}, DType::F64));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{22.0, 44.0}));  // 2x * (1 + 10)
}

TEST(Autograd, DiamondGraphGivesCorrectGradientsInOnePass) {
  // h = x*x is shared by two branches: y = sum(exp(h) + 3h); dy/dx = (exp(h) + 3) * 2x.
  Tensor x = Tensor::from_vector({0.5, -1.0}, {2}, DType::F64).set_requires_grad();
  Tensor h = ag::mul(x, x);
  Tensor y = ag::sum(ag::add(ag::exp(h), h * 3.0));
  ag::backward(y);
  const std::vector<double> xv{0.5, -1.0}, g = x.grad().to_vector();
  for (size_t i = 0; i < xv.size(); ++i)
    EXPECT_NEAR(g[i], (std::exp(xv[i] * xv[i]) + 3.0) * 2.0 * xv[i], 1e-12);
}

TEST(Autograd, LeafGradientsAccumulateAcrossFreshGraphs) {
  // A new forward each time builds a new graph: no retain_graph needed.
  Tensor x = Tensor::scalar(3.0, DType::F64).set_requires_grad();
  for (int i = 0; i < 3; ++i) ag::backward(ag::mul(x, x));
  EXPECT_DOUBLE_EQ(x.grad().item(), 18.0);
}

TEST(Autograd, ReusedTensorSumsBothPaths) {
  // y = a * b with b = a + 1 (a reached by two paths): dy/da = b + a.
  Tensor a = Tensor::scalar(3.0, DType::F64).set_requires_grad();
  Tensor b = a + 1.0;
  ag::backward(a * b);
  EXPECT_DOUBLE_EQ(a.grad().item(), 7.0);
}

TEST(Autograd, DeepGraphDoesNotOverflowTheStack) {
  Tensor x = Tensor::scalar(1.0, DType::F64).set_requires_grad();
  Tensor y = x;
  for (int i = 0; i < 100000; ++i) y = y + 0.0;
  ag::backward(y);
  EXPECT_DOUBLE_EQ(x.grad().item(), 1.0);
}

TEST(Autograd, OnlyLeavesThatRequireGradGetGradients) {
  Tensor w = Tensor::ones({2}, DType::F64).set_requires_grad();
  Tensor c = Tensor::ones({2}, DType::F64);  // a constant
  ag::backward(ag::sum(w * c));
  EXPECT_TRUE(w.grad().defined());
  EXPECT_FALSE(c.grad().defined());
}

TEST(Autograd, NoGradRecordsNothing) {
  Tensor w = Tensor::ones({2}).set_requires_grad();
  Tensor y;
  {
    NoGrad no_grad;
    y = ag::sum(w * 2.0);
  }
  EXPECT_FALSE(y.requires_grad());
  EXPECT_EQ(y.grad_fn(), nullptr);
  expect_error([&] { ag::backward(y); }, {"backward", "does not require grad"});
}

TEST(Autograd, InPlaceChangeOfASavedTensorIsAnError) {
  Tensor x = Tensor::from_vector({1.0, 2.0}, {2}, DType::F64).set_requires_grad();
  Tensor w = Tensor::from_vector({3.0, 4.0}, {2}, DType::F64);
  Tensor y = ag::sum(x * w);  // saves w
  w.fill_(0.0);               // modifies it before backward
  expect_error([&] { ag::backward(y); }, {"mul", "modified in place", "version 0 -> 1"});
}

// data<T>() is read-only: writing through it must not compile, so every raw write goes
// through mutable_data<T>(), which bumps the version.
static_assert(std::is_same_v<decltype(std::declval<const Tensor&>().data<float>()), const float*>);
static_assert(std::is_same_v<decltype(std::declval<const Tensor&>().device_data<double>()),
                             const double*>);
static_assert(std::is_same_v<decltype(std::declval<const Tensor&>().mutable_data<float>()), float*>);

TEST(Autograd, WriteThroughMutableDataOfASavedTensorIsAnError) {
  Tensor x = Tensor::from_vector({1.0, 2.0}, {2}, DType::F64).set_requires_grad();
  Tensor w = Tensor::from_vector({3.0, 4.0}, {2}, DType::F64);
  Tensor y = ag::sum(x * w);  // saves w
  const uint64_t before = w.storage()->version();
  w.mutable_data<double>()[0] = 10.0;  // a raw write, as a kernel would do
  EXPECT_EQ(w.storage()->version(), before + 1);
  expect_error([&] { ag::backward(y); }, {"mul", "modified in place"});
}

TEST(Autograd, WriteThroughAViewOfASavedTensorIsAnError) {
  // The version belongs to the storage, so a write through any view is seen.
  Tensor x = Tensor::from_vector({1.0, 2.0}, {2}, DType::F64).set_requires_grad();
  Tensor w = Tensor::from_vector({3.0, 4.0}, {2}, DType::F64);
  Tensor y = ag::sum(x * w);
  w.slice(0, 1, 2).mutable_data<double>()[0] = 0.0;
  expect_error([&] { ag::backward(y); }, {"mul", "modified in place"});
}

TEST(Autograd, ReadingDataLeavesTheVersionAlone) {
  Tensor x = Tensor::from_vector({1.0, 2.0}, {2}, DType::F64).set_requires_grad();
  Tensor w = Tensor::from_vector({3.0, 4.0}, {2}, DType::F64);
  Tensor y = ag::sum(x * w);
  const uint64_t before = w.storage()->version();
  EXPECT_EQ(w.data<double>()[1], 4.0);
  EXPECT_EQ(w.storage()->version(), before);
  ag::backward(y);
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{3.0, 4.0}));
}

TEST(Autograd, PlainOpsRefuseGraphTensors) {
  Tensor w = Tensor::ones({2}).set_requires_grad();
  expect_error([&] { ldae::exp(w); }, {"exp", "ag::exp"});
  expect_error([&] { w.reshape({2, 1}); }, {"reshape", "autograd graph"});
  NoGrad no_grad;  // allowed without recording
  EXPECT_EQ(ldae::exp(w).shape(), (Shape{2}));
}

TEST(Autograd, BackwardNeedsScalarOrGradOutput) {
  Tensor w = Tensor::ones({2, 2}, DType::F64).set_requires_grad();
  Tensor y = w * 2.0;
  expect_error([&] { ag::backward(y); }, {"backward", "(2, 2)"});
  expect_error([&] { ag::backward(y, Tensor::ones({3}, DType::F64)); }, {"backward", "(3,)"});
  ag::backward(y, Tensor::ones({2, 2}, DType::F64));
  EXPECT_EQ(w.grad().to_vector(), (std::vector<double>{2, 2, 2, 2}));
}

TEST(Autograd, SetRequiresGradOnlyOnLeaves) {
  Tensor w = Tensor::ones({2}).set_requires_grad();
  Tensor y = w * 2.0;
  expect_error([&] { y.set_requires_grad(); }, {"set_requires_grad", "leaf"});
}

TEST(Autograd, SharedGradientsAreIndependentCopies) {
  // add passes the same gradient to both inputs; the leaves must not share storage.
  Tensor a = Tensor::ones({2}, DType::F64).set_requires_grad();
  Tensor b = Tensor::ones({2}, DType::F64).set_requires_grad();
  ag::backward(ag::sum(a + b));
  EXPECT_FALSE(a.grad().same_storage(b.grad()));
}

TEST(Autograd, LeafGradientNeverAliasesWhatTheCallerHolds) {
  // A leaf root: its gradient is grad_output itself, which the caller still holds: a copy.
  Tensor x = Tensor::ones({3}, DType::F64).set_requires_grad();
  const Tensor gout = Tensor::from_vector({1.0, 2.0, 3.0}, {3}, DType::F64);
  ag::backward(x, gout);
  EXPECT_FALSE(x.grad().same_storage(gout));
  EXPECT_EQ(x.grad().to_vector(), (std::vector<double>{1, 2, 3}));
  // y = x * 1 passes grad_output through unchanged: still the caller's tensor, still a copy.
  Tensor w = Tensor::ones({3}, DType::F64).set_requires_grad();
  ag::backward(w * 1.0, gout);
  EXPECT_FALSE(w.grad().same_storage(gout));
  // A gradient that a backward formula computed into a fresh buffer that nothing else holds is
  // taken as it is (no copy); changing the caller's tensors afterwards leaves it alone.
  Tensor v = Tensor::ones({3}, DType::F64).set_requires_grad();
  Tensor g2 = Tensor::from_vector({1.0, 1.0, 1.0}, {3}, DType::F64);
  ag::backward(v * 2.0, g2);
  EXPECT_FALSE(v.grad().same_storage(g2));
  {
    NoGrad no_grad;
    g2.fill_(100.0);
  }
  EXPECT_EQ(v.grad().to_vector(), (std::vector<double>{2, 2, 2}));
}

TEST(Autograd, InPlaceWriteToAParameterNeedsNoGrad) {
  Tensor w = Tensor::ones({2}).set_requires_grad();
  expect_error([&] { w.fill_(0.0); }, {"fill_", "NoGrad"});
  expect_error([&] { w.copy_(Tensor::zeros({2})); }, {"copy_", "NoGrad"});
  NoGrad no_grad;
  w.fill_(3.0);
  EXPECT_EQ(w.to_vector(), (std::vector<double>{3, 3}));
}

TEST(Autograd, FullReductionsAreDeterministic) {
  // Sums over one long row are chunked and joined in a fixed order: identical bits.
  Tensor x = Tensor::from_vector(std::vector<double>(300001, 0.1), {300001}, DType::F32);
  const double first = sum(x).item();
  for (int i = 0; i < 5; ++i) EXPECT_EQ(sum(x).item(), first);
}
