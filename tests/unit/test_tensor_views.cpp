// Views, strides, contiguity and copies.
#include <gtest/gtest.h>

#include "common/test_helpers.h"
#include "tensor/ops.h"

using namespace ldae;
using ldae::testing::expect_error;

TEST(TensorViews, ContiguousStridesAndShapeString) {
  Tensor t = Tensor::zeros({2, 3, 4});
  EXPECT_EQ(t.strides(), (Strides{12, 4, 1}));
  EXPECT_TRUE(t.is_contiguous());
  EXPECT_EQ(shape_str({2, 3, 4}), "(2, 3, 4)");
  EXPECT_EQ(shape_str({4}), "(4,)");
  EXPECT_EQ(shape_str({}), "()");
}

TEST(TensorViews, SixDimensionsWork) {
  Tensor t = Tensor::arange(2 * 3 * 2 * 2 * 2 * 3, DType::F64).reshape({2, 3, 2, 2, 2, 3});
  EXPECT_EQ(t.dim(), 6);
  EXPECT_DOUBLE_EQ(t.at({1, 2, 1, 1, 1, 2}), 143.0);
  Tensor p = t.permute({5, 4, 3, 2, 1, 0});
  EXPECT_DOUBLE_EQ(p.at({2, 1, 1, 1, 2, 1}), 143.0);
  EXPECT_DOUBLE_EQ(sum(p).item(), 143.0 * 144.0 / 2.0);
}

TEST(TensorViews, TransposeSharesStorageAndIsNotContiguous) {
  Tensor t = Tensor::arange(6).reshape({2, 3});
  Tensor tt = t.transpose(0, 1);
  EXPECT_TRUE(tt.same_storage(t));
  EXPECT_FALSE(tt.is_contiguous());
  EXPECT_EQ(tt.shape(), (Shape{3, 2}));
  EXPECT_DOUBLE_EQ(tt.at({2, 1}), 5.0);
  Tensor c = tt.contiguous();
  EXPECT_TRUE(c.is_contiguous());
  EXPECT_FALSE(c.same_storage(t));
  EXPECT_EQ(c.to_vector(), (std::vector<double>{0, 3, 1, 4, 2, 5}));
}

TEST(TensorViews, ReshapeIsAViewWhenPossibleAndACopyOtherwise) {
  Tensor t = Tensor::arange(24).reshape({2, 3, 4});
  EXPECT_TRUE(t.reshape({6, 4}).same_storage(t));
  EXPECT_TRUE(t.reshape({-1}).same_storage(t));
  EXPECT_EQ(t.reshape({4, -1}).shape(), (Shape{4, 6}));
  Tensor tt = t.transpose(1, 2);  // (2, 4, 3), not contiguous
  Tensor r = tt.reshape({2, 12});
  EXPECT_FALSE(r.same_storage(t));
  EXPECT_DOUBLE_EQ(r.at({0, 1}), 4.0);  // tt[0, 0, 1] = t[0, 1, 0]
  // Merging only the contiguous part of a permuted tensor is still a view.
  Tensor p = Tensor::arange(24).reshape({2, 3, 4}).permute({1, 0, 2});  // (3, 2, 4)
  EXPECT_TRUE(p.reshape({3, 2, 2, 2}).same_storage(p));
}

TEST(TensorViews, SliceWithStepAndNegativeStart) {
  Tensor t = Tensor::arange(10);
  EXPECT_EQ(t.slice(0, 1, 8, 3).to_vector(), (std::vector<double>{1, 4, 7}));
  EXPECT_EQ(t.slice(0, -3, 10).to_vector(), (std::vector<double>{7, 8, 9}));
  Tensor m = Tensor::arange(12).reshape({3, 4}).slice(1, 1, 3);
  EXPECT_EQ(m.shape(), (Shape{3, 2}));
  EXPECT_EQ(m.to_vector(), (std::vector<double>{1, 2, 5, 6, 9, 10}));
}

TEST(TensorViews, ExpandUsesZeroStrides) {
  Tensor t = Tensor::arange(3).reshape({3, 1});
  Tensor e = t.expand({2, 3, 4});
  EXPECT_EQ(e.strides(), (Strides{0, 1, 0}));
  EXPECT_DOUBLE_EQ(e.at({1, 2, 3}), 2.0);
  EXPECT_DOUBLE_EQ(sum(e).item(), 2 * 4 * 3.0);
}

TEST(TensorViews, UnsqueezeSqueeze) {
  Tensor t = Tensor::arange(6).reshape({2, 3});
  EXPECT_EQ(t.unsqueeze(1).shape(), (Shape{2, 1, 3}));
  EXPECT_EQ(t.unsqueeze(-1).shape(), (Shape{2, 3, 1}));
  EXPECT_EQ(t.unsqueeze(0).squeeze(0).shape(), (Shape{2, 3}));
}

TEST(TensorViews, WritesThroughAViewReachTheBase) {
  Tensor t = Tensor::zeros({2, 3});
  t.slice(1, 1, 2).fill_(7.0);
  EXPECT_EQ(t.to_vector(), (std::vector<double>{0, 7, 0, 0, 7, 0}));
  t.transpose(0, 1).slice(0, 2, 3).copy_(Tensor::from_vector({1.0, 2.0}, {2}, DType::F32));
  EXPECT_EQ(t.to_vector(), (std::vector<double>{0, 7, 1, 0, 7, 2}));
}

TEST(TensorViews, DtypeConversion) {
  Tensor t = Tensor::from_vector({1.5, -2.25}, {2}, DType::F64);
  Tensor f = t.to(DType::F32);
  EXPECT_EQ(f.dtype(), DType::F32);
  EXPECT_EQ(f.to_vector(), (std::vector<double>{1.5, -2.25}));
}

// contiguous() of a permuted view whose source and destination run along different axes takes
// the tiled transposing copy (tensor.cpp, copy_transposed) once the plane is at least a tile
// (16 x 16); small ones, odd sizes (tile edges), a batch of planes and a converting copy
// must all give the permuted values.
TEST(TensorViews, PermutedCopiesMatchTheIndexing) {
  for (const Shape& shape : std::vector<Shape>{{3, 20, 5, 7}, {2, 33, 4, 9}, {1, 4, 2, 3}, {2, 17, 17, 1}}) {
    const Tensor t = Tensor::arange(numel(shape), DType::F32).reshape(shape);  // (N, C, H, W)
    const Tensor nhwc = t.permute({0, 2, 3, 1}).contiguous();                    // (N, H, W, C)
    const Tensor back = nhwc.permute({0, 3, 1, 2}).contiguous();                 // (N, C, H, W)
    const Tensor nhwc64 = t.permute({0, 2, 3, 1}).to(DType::F64);
    ASSERT_TRUE(nhwc.is_contiguous());
    const std::vector<double> a = nhwc.to_vector(), b = back.to_vector(), c = nhwc64.to_vector();
    size_t i = 0;
    for (int64_t n = 0; n < shape[0]; ++n)
      for (int64_t h = 0; h < shape[2]; ++h)
        for (int64_t w = 0; w < shape[3]; ++w)
          for (int64_t ch = 0; ch < shape[1]; ++ch, ++i) {
            const double expected = static_cast<double>(((n * shape[1] + ch) * shape[2] + h) * shape[3] + w);
            ASSERT_EQ(a[i], expected) << shape_str(shape) << " at " << i;
            ASSERT_EQ(c[i], expected) << shape_str(shape) << " at " << i;
          }
    for (size_t j = 0; j < b.size(); ++j) ASSERT_EQ(b[j], static_cast<double>(j)) << shape_str(shape);
  }
}

TEST(TensorViews, PrintingIsReadable) {
  Tensor t = Tensor::from_vector({1.0, 2.0, 3.0, 4.0}, {2, 2}, DType::F32);
  EXPECT_EQ(t.str(), "tensor([[1.0000, 2.0000],\n        [3.0000, 4.0000]], f32, shape=(2, 2))");
  EXPECT_EQ(Tensor::scalar(0.5, DType::F64).str(), "tensor(0.5000, f64, shape=())");
  // Large tensors are summarised with "...".
  EXPECT_NE(Tensor::zeros({100, 100}).str().find("..."), std::string::npos);
}

TEST(TensorViews, MisuseThrowsWithOpAndShapes) {
  Tensor t = Tensor::zeros({2, 3});
  expect_error([&] { t.reshape({4, 2}); }, {"reshape", "(2, 3)", "(4, 2)"});
  expect_error([&] { t.permute({0, 0}); }, {"permute", "repeated"});
  expect_error([&] { t.transpose(0, 2); }, {"transpose", "axis 2"});
  expect_error([&] { t.slice(1, 2, 1); }, {"slice", "(2, 3)"});
  expect_error([&] { t.expand({4, 3}); }, {"expand", "(2, 3)", "(4, 3)"});
  expect_error([&] { t.squeeze(0); }, {"squeeze", "(2, 3)"});
  expect_error([&] { t.at({2, 0}); }, {"at", "out of range"});
  expect_error([&] { t.item(); }, {"item", "(2, 3)"});
  expect_error([&] { t.data<double>(); }, {"data", "f32"});
  expect_error([&] { Tensor u; u.shape(); }, {"undefined"});
  expect_error([&] { Tensor::from_vector({1.0, 2.0}, {3}); }, {"from_vector", "(3,)"});
}
