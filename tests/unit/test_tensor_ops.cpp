// Broadcasting, reductions, matmul, softmax, cat/pad, and their error messages.
#include <gtest/gtest.h>

#include <omp.h>

#include <cmath>
#include <vector>

#include "common/test_helpers.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace ldae;
using ldae::testing::expect_error;

TEST(Broadcast, Shapes) {
  EXPECT_EQ(broadcast_shapes({2, 1, 4}, {3, 1}, "t"), (Shape{2, 3, 4}));
  EXPECT_EQ(broadcast_shapes({}, {3}, "t"), (Shape{3}));
  expect_error([] { broadcast_shapes({2, 3}, {4}, "add"); }, {"add", "(2, 3)", "(4,)"});
}

TEST(Broadcast, BinaryOpsBroadcastBothWays) {
  Tensor a = Tensor::arange(3, DType::F64).reshape({3, 1});  // column 0 1 2
  Tensor b = Tensor::arange(4, DType::F64);                  // row 0 1 2 3
  Tensor c = add(a, b);
  ASSERT_EQ(c.shape(), (Shape{3, 4}));
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_DOUBLE_EQ(c.at({i, j}), i + j);
  EXPECT_DOUBLE_EQ(mul(a, b).at({2, 3}), 6.0);
  EXPECT_DOUBLE_EQ(sub(a, b).at({0, 3}), -3.0);
  EXPECT_DOUBLE_EQ(div(b, add_scalar(a, 1.0)).at({1, 3}), 1.5);
}

TEST(Broadcast, NonContiguousInputs) {
  Tensor a = Tensor::arange(6, DType::F64).reshape({2, 3}).transpose(0, 1);  // (3, 2)
  Tensor b = Tensor::ones({3, 2}, DType::F64);
  EXPECT_EQ(add(a, b).to_vector(), (std::vector<double>{1, 4, 2, 5, 3, 6}));
}

TEST(Broadcast, LargeTensorsUseTheParallelPath) {
  Tensor a = Tensor::full({64, 1, 1000}, 2.0);
  Tensor b = Tensor::full({1, 50, 1000}, 3.0);
  Tensor c = mul(a, b);
  EXPECT_DOUBLE_EQ(sum(c).item(), 6.0 * 64 * 50 * 1000);
}

TEST(Broadcast, DtypeAndShapeErrors) {
  Tensor f = Tensor::zeros({2}, DType::F32), d = Tensor::zeros({2}, DType::F64);
  expect_error([&] { add(f, d); }, {"add", "f32", "f64"});
  expect_error([&] { mul(Tensor::zeros({2, 3}), Tensor::zeros({3, 2})); }, {"mul", "(2, 3)", "(3, 2)"});
}

TEST(Elementwise, UnaryValues) {
  Tensor x = Tensor::from_vector({-1.0, 0.5, 2.0}, {3}, DType::F64);
  EXPECT_DOUBLE_EQ(relu(x).at({0}), 0.0);
  EXPECT_DOUBLE_EQ(abs(x).at({0}), 1.0);
  EXPECT_NEAR(sigmoid(x).at({2}), 1.0 / (1.0 + std::exp(-2.0)), 1e-15);
  EXPECT_NEAR(silu(x).at({1}), 0.5 / (1.0 + std::exp(-0.5)), 1e-15);
  EXPECT_NEAR(gelu(x).at({2}), 2.0 * 0.5 * (1 + std::erf(2.0 / std::sqrt(2.0))), 1e-15);
  EXPECT_NEAR(leaky_relu(x, 0.2).at({0}), -0.2, 1e-15);
  EXPECT_NEAR(pow_scalar(x, 3.0).at({2}), 8.0, 1e-12);
  // sigmoid must not overflow for large negative inputs
  EXPECT_DOUBLE_EQ(sigmoid(Tensor::scalar(-1000.0, DType::F64)).item(), 0.0);
  expect_error([&] { gelu(x, "fast"); }, {"gelu", "fast"});
}

TEST(Reduce, SumMeanOverAxes) {
  Tensor t = Tensor::arange(24, DType::F64).reshape({2, 3, 4});
  EXPECT_DOUBLE_EQ(sum(t).item(), 276.0);
  Tensor s = sum(t, {0, 2});
  EXPECT_EQ(s.shape(), (Shape{3}));
  EXPECT_EQ(s.to_vector(), (std::vector<double>{60, 92, 124}));
  EXPECT_EQ(sum(t, {1}, true).shape(), (Shape{2, 1, 4}));
  EXPECT_DOUBLE_EQ(mean(t, {-1}).at({1, 2}), 21.5);
  EXPECT_DOUBLE_EQ(amax(t, {0, 1}).at({3}), 23.0);
  expect_error([&] { sum(t, {3}); }, {"sum", "axis 3"});
  expect_error([&] { sum(t, {1, 1}); }, {"sum", "repeated"});
}

// A contiguous tensor whose kept axes sit between reduced ones is summed where it lies
// (tensor/reduce.cpp, sum_kept_block); a non-contiguous view of the same values still takes the
// transposed copy and rows. Both must give the same bits: each output adds the same numbers in
// the same order. Float32 (the training's dtype) and float64; small and parallel sizes.
TEST(Reduce, SumAroundKeptAxesMatchesTheRowPlanBitForBit) {
  struct Case {
    Shape shape;
    std::vector<int64_t> dims;
  };
  const std::vector<Case> cases = {
      {{5, 7, 3}, {0, 2}},                // (A, K, B)
      {{40, 33}, {0}},                     // a Linear's bias gradient: rows (A) x features (K)
      {{3, 2, 37, 4, 5}, {0, 1, 3, 4}},    // (N, G, C, H, W) -> C
      {{4, 48, 16, 20}, {0, 2, 3}},        // a conv bias gradient, large enough to run in parallel
      {{6, 3, 17}, {0}},                   // B = 17 elements after the kept ones, none reduced
  };
  Generator gen(7);
  for (DType dtype : {DType::F32, DType::F64}) {
    for (const Case& c : cases) {
      const Tensor x = randn(c.shape, gen, dtype);
      // The same values in a non-contiguous layout: reversed axes, then permuted back.
      std::vector<int64_t> reverse(c.shape.size());
      for (size_t i = 0; i < reverse.size(); ++i) reverse[i] = static_cast<int64_t>(reverse.size() - 1 - i);
      const Tensor strided = x.permute(reverse).contiguous().permute(reverse);
      ASSERT_TRUE(x.is_contiguous());
      ASSERT_FALSE(strided.is_contiguous());
      for (bool keepdim : {false, true}) {
        const Tensor fast = sum(x, c.dims, keepdim), rows = sum(strided, c.dims, keepdim);
        ASSERT_EQ(fast.shape(), rows.shape()) << shape_str(c.shape);
        EXPECT_EQ(fast.to_vector(), rows.to_vector()) << "sum of " << shape_str(c.shape);
        EXPECT_EQ(mean(x, c.dims, keepdim).to_vector(), mean(strided, c.dims, keepdim).to_vector())
            << "mean of " << shape_str(c.shape);
      }
    }
  }
  // Against a hand sum: x (2, 3, 2) = 0..11 summed over axes 0 and 2 keeps the middle axis.
  const Tensor t = Tensor::arange(12, DType::F32).reshape({2, 3, 2});
  EXPECT_EQ(sum(t, {0, 2}).to_vector(), (std::vector<double>{0 + 1 + 6 + 7, 2 + 3 + 8 + 9, 4 + 5 + 10 + 11}));
}

TEST(Reduce, LogSumExpIsStable) {
  Tensor t = Tensor::from_vector({1000.0, 1000.0}, {2}, DType::F64);
  EXPECT_NEAR(logsumexp(t, {0}).item(), 1000.0 + std::log(2.0), 1e-12);
}

TEST(Reduce, SumToUndoesBroadcasting) {
  Tensor g = Tensor::ones({2, 3, 4}, DType::F64);
  EXPECT_EQ(sum_to(g, {3, 1}).to_vector(), (std::vector<double>{8, 8, 8}));
  EXPECT_EQ(sum_to(g, {4}).shape(), (Shape{4}));
  EXPECT_DOUBLE_EQ(sum_to(g, {}).item(), 24.0);
}

TEST(Matmul, BatchedWithBroadcast) {
  Tensor a = Tensor::arange(2 * 1 * 2 * 3, DType::F64).reshape({2, 1, 2, 3});
  Tensor b = Tensor::ones({4, 3, 5}, DType::F64);
  Tensor c = matmul(a, b);
  ASSERT_EQ(c.shape(), (Shape{2, 4, 2, 5}));
  EXPECT_DOUBLE_EQ(c.at({1, 3, 1, 4}), 9 + 10 + 11);
  expect_error([&] { matmul(Tensor::zeros({2, 3}), Tensor::zeros({2, 3})); },
               {"matmul", "(2, 3) @ (2, 3)"});
  expect_error([&] { matmul(Tensor::zeros({3}), Tensor::zeros({3, 2})); }, {"matmul", "(3,)"});
}

TEST(Matmul, TransposedOperand) {
  Tensor a = Tensor::arange(6, DType::F64).reshape({3, 2}).transpose(0, 1);  // (2, 3)
  Tensor c = matmul(a, Tensor::ones({3, 1}, DType::F64));
  EXPECT_EQ(c.to_vector(), (std::vector<double>{0 + 2 + 4, 1 + 3 + 5}));
}

// Products large enough to be cut into blocks of rows (tensor/matmul.cpp: 203 x 97 x 61 is
// about 1.2 M multiply-adds, so blocks of 48 rows and a last one of 11), batched with a
// broadcast right operand. Small integer entries make every sum exact, so each block must land
// exactly where the plain triple loop puts it, at every thread count.
TEST(Matmul, LargeProductsCutIntoRowBlocksMatchTheLoops) {
  const int64_t batches = 3, n = 203, k = 97, m = 61;
  std::vector<double> av(batches * n * k), bv(k * m);
  for (size_t i = 0; i < av.size(); ++i) av[i] = static_cast<double>(i * 7 % 11) - 5;
  for (size_t i = 0; i < bv.size(); ++i) bv[i] = static_cast<double>(i * 5 % 7) - 3;
  const Tensor a = Tensor::from_vector(av, {batches, n, k}, DType::F64);
  const Tensor b = Tensor::from_vector(bv, {k, m}, DType::F64);  // shared by the 3 products
  std::vector<double> expected(batches * n * m, 0.0);
  for (int64_t p = 0; p < batches; ++p)
    for (int64_t i = 0; i < n; ++i)
      for (int64_t j = 0; j < m; ++j)
        for (int64_t q = 0; q < k; ++q)
          expected[(p * n + i) * m + j] += av[(p * n + i) * k + q] * bv[q * m + j];
  const int saved = omp_get_max_threads();
  for (int threads : {1, 2, 3}) {
    omp_set_num_threads(threads);
    EXPECT_EQ(matmul(a, b).to_vector(), expected) << threads << " threads";
    EXPECT_EQ(matmul(a.to(DType::F32), b.to(DType::F32)).to(DType::F64).to_vector(), expected)
        << "float32, " << threads << " threads";
  }
  omp_set_num_threads(saved);
}

TEST(Softmax, RowsSumToOneAndAreStable) {
  Tensor t = Tensor::from_vector({1.0, 2.0, 3.0, 1000.0, 1000.0, 1000.0}, {2, 3}, DType::F64);
  Tensor s = softmax(t, -1);
  EXPECT_NEAR(s.at({0, 0}) + s.at({0, 1}) + s.at({0, 2}), 1.0, 1e-15);
  EXPECT_NEAR(s.at({1, 1}), 1.0 / 3.0, 1e-15);
  Tensor ls = log_softmax(t, 0);
  EXPECT_NEAR(ls.at({0, 0}), 1.0 - 1000.0, 1e-12);
  expect_error([&] { softmax(t, 2); }, {"softmax", "axis 2"});
}

TEST(Join, CatAndPad) {
  Tensor a = Tensor::ones({2, 2}, DType::F64), b = Tensor::zeros({2, 1}, DType::F64);
  Tensor c = cat({a, b}, 1);
  EXPECT_EQ(c.to_vector(), (std::vector<double>{1, 1, 0, 1, 1, 0}));
  expect_error([&] { cat({a, Tensor::zeros({3, 1}, DType::F64)}, 1); }, {"cat", "(2, 2)", "(3, 1)"});
  Tensor p = pad(a, {1, 0, 0, 1}, 5.0);  // last axis: 1 before; first axis: 1 after
  ASSERT_EQ(p.shape(), (Shape{3, 3}));
  EXPECT_EQ(p.to_vector(), (std::vector<double>{5, 1, 1, 5, 1, 1, 5, 5, 5}));
  Tensor crop = pad(p, {-1, 0, 0, -1});
  EXPECT_EQ(crop.to_vector(), a.to_vector());
  expect_error([&] { pad(a, {1}); }, {"pad", "even"});
}
