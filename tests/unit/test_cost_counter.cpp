// CountCosts (tensor/cost_counter.h): the multiply-adds of conv and matmul follow their
// formulas, memory is the peak of what the scope allocated, skip_products only zeroes the
// products, and scopes refuse to nest.
#include <gtest/gtest.h>

#include "tensor/cost_counter.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace ldae;

TEST(CostCounter, MatmulCountsBatchTimesNKM) {
  Generator gen(0);
  const Tensor a = rand({3, 4, 5}, gen), b = rand({5, 6}, gen);
  CountCosts counting;
  const Tensor c = matmul(a, b);
  EXPECT_EQ(counting.counts().multiply_adds, 3.0 * 4 * 5 * 6);
  EXPECT_EQ(counting.counts().allocated_bytes, 3.0 * 4 * 6 * sizeof(float));
}

TEST(CostCounter, ConvCountsOutputsTimesFanIn) {
  Generator gen(0);
  const Tensor x = rand({2, 4, 6, 6, 6}, gen), w = rand({8, 2, 3, 3, 3}, gen);  // groups 2
  ConvParams p;
  p.stride = {2, 2, 2};
  p.padding = {1, 1, 1};
  p.groups = 2;
  CountCosts counting;
  const Tensor y = conv3d(x, w, Tensor(), p);
  ASSERT_EQ(y.shape(), (Shape{2, 8, 3, 3, 3}));
  // every output sums Cin/groups * 27 products
  EXPECT_EQ(counting.counts().multiply_adds, 2.0 * 8 * 27 * (2 * 27));
}

TEST(CostCounter, PeakCountsOnlyWhatTheScopeHolds) {
  Generator gen(0);
  const Tensor kept = rand({1000}, gen);  // allocated before the scope: not counted
  CountCosts counting;
  {
    const Tensor a = rand({256}, gen);  // 1 KiB
    const Tensor b = rand({512}, gen);  // 2 KiB, both alive: peak 3 KiB
  }
  const Tensor c = rand({128}, gen);  // 0.5 KiB after both were freed
  EXPECT_EQ(counting.counts().allocated_bytes, 3584.0);
  EXPECT_EQ(counting.counts().peak_live_bytes, 3072.0);
  EXPECT_EQ(counting.counts().live_bytes, 512.0);
}

TEST(CostCounter, SkipProductsCountsButWritesZeros) {
  Generator gen(0);
  const Tensor a = rand({4, 5}, gen, DType::F32, 1.0, 2.0), b = rand({5, 3}, gen, DType::F32, 1.0, 2.0);
  CountCosts counting(/*skip_products=*/true);
  const Tensor c = matmul(a, b);
  EXPECT_EQ(counting.counts().multiply_adds, 60.0);
  for (int64_t i = 0; i < c.numel(); ++i) EXPECT_EQ(c.data<float>()[i], 0.0f);
}

TEST(CostCounter, OutsideAScopeNothingIsSkipped) {
  Generator gen(0);
  { CountCosts counting(/*skip_products=*/true); }
  const Tensor a = Tensor::ones({2, 2}), b = Tensor::ones({2, 2});
  EXPECT_EQ(matmul(a, b).data<float>()[0], 2.0f);
}

TEST(CostCounter, ScopesDoNotNest) {
  CountCosts outer;
  EXPECT_THROW(CountCosts inner, Error);
}
