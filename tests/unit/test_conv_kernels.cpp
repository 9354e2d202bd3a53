// Tests of the fast CPU convolution kernels (tensor/cpu/conv.h) against the library's reference
// loops (tensor/cpu/conv_reference.h, run in float64), in float64 and float32, on tiny shapes that
// together cover
// stride, padding, dilation, groups, 2D and 3D, kernel 1, non-cubic shapes, N = 2, the few-input-
// channel path, and shapes large enough to need several chunks, row blocks, slabs, channel blocks
// and position blocks. Stride 1 runs the direct kernels; other strides with a kernel that is a
// multiple of the stride on every axis (dilation 1) the polyphase path (the direct kernels on the
// phases of the input), the other strided cases with dilation 1 the phase-split path (one direct
// conv per phase), the rest (a stride and a dilation) the im2col + GEMM path.
// ConvKernelsDispatch.StridedPaths checks which geometries take which path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/cpu/conv.h"
#include "tensor/cpu/conv_common.h"  // the paths' eligibility (internal), for the dispatch test
#include "tensor/cpu/conv_reference.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"

namespace {

using ldae::cpu::ConvGeometry;

struct Case {
  std::string name;
  int64_t N, Cin, Cout, groups;
  int64_t in[3], kernel[3], stride[3], padding[3], dilation[3];
};

ConvGeometry geometry(const Case& c) {
  return ldae::cpu::make_conv_geometry(c.N, c.Cin, c.Cout, c.groups, c.in, c.kernel, c.stride,
                                       c.padding, c.dilation);
}

// The reference results, in double: the library's plain loops (tensor/cpu/conv_reference.cpp).
struct Reference {
  std::vector<double> y, gx, gw, gb;
};

Reference reference(const ConvGeometry& g, const std::vector<double>& x,
                    const std::vector<double>& w, const std::vector<double>& b,
                    const std::vector<double>& gy) {
  Reference r;
  r.y.assign(gy.size(), 0.0);
  r.gx.assign(x.size(), 0.0);
  r.gw.assign(w.size(), 0.0);
  r.gb.assign(g.Cout, 0.0);
  ldae::cpu::conv_reference_forward<double>(g, x.data(), w.data(), b.data(), r.y.data());
  ldae::cpu::conv_reference_backward_input<double>(g, gy.data(), w.data(), r.gx.data());
  ldae::cpu::conv_reference_backward_weight<double>(g, gy.data(), x.data(), r.gw.data(),
                                                    r.gb.data());
  return r;
}

std::vector<double> random_vector(int64_t n, std::mt19937& rng) {
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<double> v(static_cast<size_t>(n));
  for (double& e : v) e = u(rng);
  return v;
}

template <typename To, typename From>
std::vector<To> cast(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

// Every element of got must match want within tol * max(1, max |want|).
template <typename T>
void expect_close(const std::vector<T>& got, const std::vector<double>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1.0;
  for (double v : want) scale = std::max(scale, std::abs(v));
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - want[i]);
    if (!(err <= tol * scale)) {  // also catches NaN
      if (++bad <= 3) {
        ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
      }
    }
  }
  EXPECT_EQ(bad, 0) << what << ": " << bad << " of " << got.size() << " elements differ";
}

// Runs the three kernels on case c, with and without bias, and checks them against the reference
// (computed once, with the bias: without it, y is the same sum minus the bias and the gradients
// are the same).
template <typename T>
void check_case(const Case& c, double tol) {
  SCOPED_TRACE(c.name);
  const ConvGeometry g = geometry(c);
  const int64_t kvol = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t xn = g.N * g.Cin * g.in[0] * g.in[1] * g.in[2];
  const int64_t P = g.out[0] * g.out[1] * g.out[2];
  const int64_t yn = g.N * g.Cout * P;
  const int64_t wn = g.Cout * (g.Cin / g.groups) * kvol;
  std::mt19937 rng(1234);
  // Round the inputs to T first so that the reference sees exactly what the kernel sees.
  const std::vector<double> x = cast<double>(cast<T>(random_vector(xn, rng)));
  const std::vector<double> w = cast<double>(cast<T>(random_vector(wn, rng)));
  const std::vector<double> b = cast<double>(cast<T>(random_vector(g.Cout, rng)));
  const std::vector<double> gy = cast<double>(cast<T>(random_vector(yn, rng)));
  const Reference ref = reference(g, x, w, b, gy);
  std::vector<double> y_no_bias = ref.y;
  for (int64_t i = 0; i < yn; ++i) y_no_bias[i] -= b[i / P % g.Cout];

  const std::vector<T> xt = cast<T>(x), wt = cast<T>(w), bt = cast<T>(b), gyt = cast<T>(gy);
  for (const bool with_bias : {true, false}) {
    SCOPED_TRACE(with_bias ? "bias" : "no bias");
    // Outputs start as NaN garbage: the kernels must overwrite every element.
    const T nan = std::numeric_limits<T>::quiet_NaN();
    std::vector<T> y(yn, nan), gx(xn, nan), gw(wn, nan), gb(g.Cout, nan);
    ldae::cpu::conv_forward<T>(g, xt.data(), wt.data(), with_bias ? bt.data() : nullptr, y.data());
    expect_close(y, with_bias ? ref.y : y_no_bias, tol, "forward");
    ldae::cpu::conv_backward_input<T>(g, gyt.data(), wt.data(), gx.data());
    expect_close(gx, ref.gx, tol, "backward_input");
    ldae::cpu::conv_backward_weight<T>(g, gyt.data(), xt.data(), gw.data(),
                                       with_bias ? gb.data() : nullptr);
    expect_close(gw, ref.gw, tol, "backward_weight");
    if (with_bias) {
      expect_close(gb, ref.gb, tol, "backward_bias");
    } else {
      for (T v : gb) EXPECT_TRUE(std::isnan(v)) << "gb must be left alone when nullptr";
    }
  }
}

// The table of cases. 2D convolutions use D = 1 with kernel 1, stride 1, padding 0 on that axis.
const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      // name, N, Cin, Cout, groups, in (D, H, W), kernel, stride, padding, dilation
      {"3d_k3_p1", 2, 3, 4, 1, {5, 6, 7}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      {"3d_k3_nopad", 1, 2, 3, 1, {5, 4, 6}, {3, 3, 3}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}},
      {"3d_stride2", 2, 3, 2, 1, {7, 6, 5}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"3d_stride3_odd", 1, 2, 2, 1, {8, 7, 9}, {3, 2, 3}, {3, 2, 3}, {1, 0, 2}, {1, 1, 1}},
      {"3d_dilation2", 2, 2, 3, 1, {6, 7, 8}, {3, 3, 3}, {1, 1, 1}, {2, 2, 2}, {2, 2, 2}},
      {"3d_groups2", 2, 4, 6, 2, {4, 5, 6}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      {"3d_depthwise", 1, 3, 3, 3, {4, 5, 4}, {3, 3, 3}, {1, 2, 1}, {1, 1, 1}, {1, 1, 1}},
      {"3d_kernel1", 2, 5, 3, 1, {3, 4, 5}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}},
      {"3d_kernel1_stride2", 1, 4, 6, 1, {5, 6, 7}, {1, 1, 1}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}},
      {"3d_mixed_axes", 2, 3, 4, 1, {6, 5, 9}, {3, 2, 1}, {1, 2, 3}, {1, 0, 0}, {1, 1, 1}},
      {"3d_mixed_dil_pad", 1, 2, 2, 1, {7, 8, 9}, {2, 3, 3}, {2, 1, 2}, {2, 3, 1}, {3, 1, 2}},
      {"3d_big_padding", 1, 2, 2, 1, {3, 3, 3}, {3, 3, 3}, {1, 1, 1}, {3, 3, 3}, {1, 1, 1}},
      {"3d_width1", 2, 2, 3, 1, {4, 5, 1}, {3, 3, 1}, {1, 1, 1}, {1, 1, 0}, {1, 1, 1}},
      {"3d_cin1", 2, 1, 8, 1, {6, 7, 9}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      {"3d_cin1_stride2", 1, 1, 4, 1, {7, 6, 9}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"3d_cin2_cout1", 1, 2, 1, 1, {5, 6, 7}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      {"2d_k3_p1", 2, 3, 4, 1, {1, 8, 9}, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, {1, 1, 1}},
      {"2d_stride2_groups3", 2, 6, 3, 3, {1, 9, 8}, {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, {1, 1, 1}},
      {"2d_rect_kernel", 1, 2, 5, 1, {1, 7, 10}, {1, 2, 4}, {1, 1, 2}, {0, 1, 2}, {1, 2, 1}},
      {"2d_kernel1", 2, 4, 4, 1, {1, 5, 6}, {1, 1, 1}, {1, 1, 1}, {0, 0, 0}, {1, 1, 1}},
      {"2d_cin1", 2, 1, 5, 1, {1, 11, 13}, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, {1, 1, 1}},
      {"1d_along_w", 1, 2, 3, 1, {1, 1, 20}, {1, 1, 3}, {1, 1, 1}, {0, 0, 1}, {1, 1, 1}},
      // Polyphase path (kernel a multiple of the stride, dilation 1): the discriminator's 4x4x4
      // stride-2 padding-1 conv, odd sizes, kernel = stride, mixed strides, stride 3, groups,
      // depthwise, 2D, padding larger than 1, and enough channels for the direct kernels' tiled
      // weight gradient (Cout >= 16, S * Cin_g * kvol = 8 * 16 * 8 taps).
      {"poly_3d_k4_s2_p1", 1, 3, 4, 1, {8, 8, 8}, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"poly_3d_k4_s2_p1_odd", 2, 2, 3, 1, {7, 9, 5}, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      // 7 and 9 are odd: the last input plane / column is read by no output (zero gradient).
      {"poly_3d_k2_s2_p0", 1, 3, 5, 1, {6, 7, 9}, {2, 2, 2}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}},
      {"poly_3d_mixed_s122", 2, 3, 4, 1, {5, 8, 9}, {3, 4, 4}, {1, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"poly_3d_k3_s3", 1, 2, 3, 1, {9, 10, 11}, {3, 3, 3}, {3, 3, 3}, {0, 1, 1}, {1, 1, 1}},
      {"poly_3d_groups2", 2, 4, 6, 2, {6, 7, 8}, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"poly_3d_depthwise", 1, 3, 3, 3, {6, 5, 7}, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"poly_3d_big_padding", 1, 2, 3, 1, {4, 5, 3}, {4, 4, 4}, {2, 2, 2}, {3, 2, 3}, {1, 1, 1}},
      {"poly_3d_cout32", 2, 16, 32, 1, {10, 9, 12}, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"poly_2d_k4_s2_p1", 2, 3, 4, 1, {1, 9, 10}, {1, 4, 4}, {1, 2, 2}, {0, 1, 1}, {1, 1, 1}},
      {"poly_2d_groups2_s3", 1, 4, 2, 2, {1, 11, 13}, {1, 6, 3}, {1, 3, 3}, {0, 2, 0}, {1, 1, 1}},
      // Phase-split path (a stride, dilation 1, a kernel that is not a multiple of the stride on
      // some axis): kernel 3 stride 2 with padding 1, the autoencoder's padding-0 downsampling on
      // odd sizes, the UNet's (1, 2, 2) with enough channels for the tiled weight gradient, a
      // kernel a multiple of the stride on two axes but not on the third, kernel 2 stride 3 (one
      // phase per axis has no tap: its inputs get a zero gradient), groups, depthwise, 2D.
      {"split_3d_k3_s2_p1", 2, 3, 4, 1, {7, 8, 6}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"split_3d_k3_s2_p0_odd", 1, 4, 5, 1, {9, 7, 11}, {3, 3, 3}, {2, 2, 2}, {0, 0, 0}, {1, 1, 1}},
      {"split_3d_s122_cout32", 1, 16, 32, 1, {5, 8, 7}, {3, 3, 3}, {1, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"split_3d_k434_s2", 1, 2, 3, 1, {7, 8, 6}, {4, 3, 4}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"split_3d_k2_s3", 1, 3, 4, 1, {8, 10, 9}, {2, 2, 2}, {3, 3, 3}, {1, 0, 1}, {1, 1, 1}},
      {"split_3d_groups2", 2, 4, 6, 2, {6, 7, 5}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"split_3d_depthwise", 1, 3, 3, 3, {7, 6, 8}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"split_2d_k5_s2_p2", 2, 3, 4, 1, {1, 11, 9}, {1, 5, 5}, {1, 2, 2}, {0, 2, 2}, {1, 1, 1}},
      // A stride and a dilation, so the GEMM path: dilation 2 with kernel 4 stride 2 and with
      // kernel 3 stride 2 on enough channels (Kg = 200 * 27) for several im2col row blocks.
      {"gemm_3d_k4_s2_dil2", 1, 2, 3, 1, {9, 8, 10}, {4, 4, 4}, {2, 2, 2}, {1, 2, 3}, {2, 2, 2}},
      {"gemm_3d_many_row_blocks_dil2",
       1,
       200,
       2,
       1,
       {5, 6, 7},
       {3, 3, 3},
       {2, 2, 2},
       {2, 2, 2},
       {2, 2, 2}},
      // Larger: several position chunks per volume and several slabs in backward_input.
      {"3d_many_chunks", 2, 16, 8, 1, {12, 16, 16}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      {"2d_many_chunks", 1, 8, 8, 2, {1, 70, 66}, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, {1, 1, 1}},
      // Kg = 200 * 27 rows do not fit one im2col block (float or double): several row blocks.
      {"3d_many_row_blocks", 1, 200, 2, 1, {3, 4, 5}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      {"3d_many_row_blocks_stride2",
       1,
       200,
       2,
       1,
       {3, 4, 5},
       {3, 3, 3},
       {2, 2, 2},
       {1, 1, 1},
       {1, 1, 1}},
      // The packed weights of all input channels exceed their budget: several channel blocks
      // (forward and input gradient accumulate into their output).
      {"3d_many_channel_blocks",
       1,
       160,
       64,
       1,
       {3, 4, 5},
       {3, 3, 3},
       {1, 1, 1},
       {1, 1, 1},
       {1, 1, 1}},
      // At least 16 output channels and 64 taps: the weight gradient vectorises along output
      // channels (2 or 4 vectors, padded channels, groups), else along W.
      {"3d_cout32", 2, 3, 32, 1, {4, 5, 6}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      {"3d_cout40_groups2", 1, 6, 40, 2, {3, 5, 7}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      // Several position blocks of the weight gradient (planes in 3D, rows in 2D; float64).
      {"3d_cout64_position_blocks",
       1,
       3,
       64,
       1,
       {6, 40, 40},
       {3, 3, 3},
       {1, 1, 1},
       {1, 1, 1},
       {1, 1, 1}},
      {"2d_cout64_position_blocks",
       1,
       8,
       64,
       1,
       {1, 100, 100},
       {1, 3, 3},
       {1, 1, 1},
       {0, 1, 1},
       {1, 1, 1}},
      // A plane of gy exceeds the weight gradient's gy window: several position blocks of rows.
      {"2d_many_position_blocks",
       1,
       1,
       64,
       1,
       {1, 150, 128},
       {1, 3, 3},
       {1, 1, 1},
       {0, 1, 1},
       {1, 1, 1}},
  };
  return all;
}

class ConvKernels : public ::testing::TestWithParam<Case> {};

TEST_P(ConvKernels, Float64MatchesReference) {
  check_case<double>(GetParam(), 1e-12);
}

TEST_P(ConvKernels, Float32MatchesReference) {
  check_case<float>(GetParam(), 2e-5);
}

INSTANTIATE_TEST_SUITE_P(Cases, ConvKernels, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

TEST(ConvGeometry, OutputSizesFollowPyTorch) {
  const int64_t in[3] = {16, 15, 9}, k[3] = {3, 4, 1}, s[3] = {2, 3, 1}, p[3] = {1, 2, 0},
                d[3] = {2, 1, 1};
  const ConvGeometry g = ldae::cpu::make_conv_geometry(2, 4, 6, 2, in, k, s, p, d);
  // floor((in + 2p - d(k-1) - 1) / s) + 1
  EXPECT_EQ(g.out[0], (16 + 2 - 4 - 1) / 2 + 1);  // 7
  EXPECT_EQ(g.out[1], (15 + 4 - 3 - 1) / 3 + 1);  // 6
  EXPECT_EQ(g.out[2], 9);
  EXPECT_EQ(g.N, 2);
  EXPECT_EQ(g.Cin, 4);
  EXPECT_EQ(g.Cout, 6);
  EXPECT_EQ(g.groups, 2);
  EXPECT_EQ(g.kernel[1], 4);
  EXPECT_EQ(g.stride[0], 2);
  EXPECT_EQ(g.padding[1], 2);
  EXPECT_EQ(g.dilation[0], 2);
}

TEST(ConvGeometry, RejectsInvalidFields) {
  const int64_t in[3] = {4, 4, 4}, k[3] = {3, 3, 3}, one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
  auto make = [&](int64_t N, int64_t Cin, int64_t Cout, int64_t groups, const int64_t* i,
                  const int64_t* kk, const int64_t* s, const int64_t* p, const int64_t* d) {
    return ldae::cpu::make_conv_geometry(N, Cin, Cout, groups, i, kk, s, p, d);
  };
  EXPECT_NO_THROW(make(1, 2, 2, 1, in, k, one, zero, one));
  EXPECT_THROW(make(0, 2, 2, 1, in, k, one, zero, one), std::invalid_argument);   // N = 0
  EXPECT_THROW(make(1, 0, 2, 1, in, k, one, zero, one), std::invalid_argument);   // Cin = 0
  EXPECT_THROW(make(1, 3, 2, 2, in, k, one, zero, one), std::invalid_argument);   // 3 % 2
  EXPECT_THROW(make(1, 2, 2, 0, in, k, one, zero, one), std::invalid_argument);   // groups 0
  EXPECT_THROW(make(1, 2, 2, 1, in, k, zero, zero, one), std::invalid_argument);  // stride 0
  EXPECT_THROW(make(1, 2, 2, 1, in, k, one, zero, zero), std::invalid_argument);  // dilation 0
  const int64_t neg[3] = {0, -1, 0}, big[3] = {3, 5, 3}, tiny[3] = {4, 0, 4};
  EXPECT_THROW(make(1, 2, 2, 1, in, k, one, neg, one), std::invalid_argument);      // padding < 0
  EXPECT_THROW(make(1, 2, 2, 1, in, big, one, zero, one), std::invalid_argument);   // empty out
  EXPECT_THROW(make(1, 2, 2, 1, tiny, k, one, one, one), std::invalid_argument);    // in = 0
  EXPECT_THROW(make(1, 2, 2, 1, in, zero, one, zero, one), std::invalid_argument);  // kernel 0
  // Padding rescues a kernel larger than the input.
  EXPECT_NO_THROW(make(1, 2, 2, 1, in, big, one, one, one));
  try {
    make(1, 2, 2, 1, in, big, one, zero, one);
  } catch (const std::invalid_argument& e) {
    EXPECT_NE(std::string(e.what()).find("axis H"), std::string::npos) << e.what();
  }
}

// Which strided geometries take which path (the table above relies on it to cover all of them):
// polyphase: stride != 1 somewhere, dilation 1, kernel % stride == 0 on every axis; phase-split:
// the other strided ones with dilation 1; GEMM: the rest (a stride and a dilation).
TEST(ConvKernelsDispatch, StridedPaths) {
  using ldae::cpu::conv_detail::phase_split_eligible;
  using ldae::cpu::conv_detail::polyphase_eligible;
  int poly = 0, split = 0, gemm = 0;
  for (const Case& c : cases()) {
    const ConvGeometry g = geometry(c);
    const bool strided = c.stride[0] != 1 || c.stride[1] != 1 || c.stride[2] != 1;
    // At most one of the two strided paths takes a geometry.
    EXPECT_FALSE(polyphase_eligible(g) && phase_split_eligible(g)) << c.name;
    if (c.name.rfind("poly_", 0) == 0) {
      EXPECT_TRUE(polyphase_eligible(g)) << c.name;
      ++poly;
    } else if (c.name.rfind("split_", 0) == 0) {
      EXPECT_TRUE(phase_split_eligible(g)) << c.name;
      ++split;
    } else if (c.name.rfind("gemm_", 0) == 0) {
      EXPECT_TRUE(strided) << c.name;
      EXPECT_FALSE(polyphase_eligible(g) || phase_split_eligible(g)) << c.name;
      ++gemm;
    } else if (!strided) {
      EXPECT_FALSE(polyphase_eligible(g) || phase_split_eligible(g))
          << c.name << ": stride 1 belongs to the direct path";
    }
  }
  EXPECT_EQ(poly, 11);
  EXPECT_EQ(split, 8);
  EXPECT_EQ(gemm, 2);
  // The older strided cases: kernel 3 stride 2 and kernel 1 stride 2 are phase-split, kernel 3
  // stride 3 polyphase, the mixed stride-and-dilation ones GEMM.
  for (const Case& c : cases()) {
    const ConvGeometry g = geometry(c);
    if (c.name == "3d_stride2" || c.name == "3d_cin1_stride2" || c.name == "3d_kernel1_stride2" ||
        c.name == "2d_stride2_groups3" || c.name == "3d_many_row_blocks_stride2") {
      EXPECT_TRUE(phase_split_eligible(g)) << c.name;
    }
    if (c.name == "3d_stride3_odd") {
      EXPECT_TRUE(polyphase_eligible(g)) << c.name;
    }
    if (c.name == "3d_mixed_dil_pad" || c.name == "2d_rect_kernel") {
      EXPECT_FALSE(polyphase_eligible(g) || phase_split_eligible(g)) << c.name;
    }
  }
}

// The two register tilings of the direct path (conv_direct.cpp) add the same products in the same
// order, so, forced to one or the other, the forward pass and the input gradient give the same
// bits: on every stride-1 case of the table (odd channel counts, groups, depthwise, dilation, N =
// 2, several source-channel blocks, several position chunks).
template <typename T>
void expect_tilings_agree(const Case& c) {
  SCOPED_TRACE(c.name);
  using ldae::cpu::conv_detail::DirectTiling;
  const ConvGeometry g = geometry(c);
  const int64_t kvol = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t xn = g.N * g.Cin * g.in[0] * g.in[1] * g.in[2];
  const int64_t yn = g.N * g.Cout * g.out[0] * g.out[1] * g.out[2];
  const int64_t wn = g.Cout * (g.Cin / g.groups) * kvol;
  std::mt19937 rng(99);
  const std::vector<T> x = cast<T>(random_vector(xn, rng)), w = cast<T>(random_vector(wn, rng));
  const std::vector<T> b = cast<T>(random_vector(g.Cout, rng));
  const std::vector<T> gy = cast<T>(random_vector(yn, rng));
  std::vector<T> y_rows(yn), y_pos(yn), gx_rows(xn), gx_pos(xn);
  namespace cd = ldae::cpu::conv_detail;
  cd::direct_forward<T>(g, x.data(), w.data(), b.data(), y_rows.data(), DirectTiling::kRows);
  cd::direct_forward<T>(g, x.data(), w.data(), b.data(), y_pos.data(), DirectTiling::kPositions);
  cd::direct_backward_input<T>(g, gy.data(), w.data(), gx_rows.data(), DirectTiling::kRows);
  cd::direct_backward_input<T>(g, gy.data(), w.data(), gx_pos.data(), DirectTiling::kPositions);
  EXPECT_EQ(std::memcmp(y_rows.data(), y_pos.data(), yn * sizeof(T)), 0) << "forward";
  EXPECT_EQ(std::memcmp(gx_rows.data(), gx_pos.data(), xn * sizeof(T)), 0) << "input gradient";
}

TEST(ConvKernelsTiling, RowsAndPositionsGiveTheSameBits) {
  int checked = 0;
  for (const Case& c : cases()) {
    if (c.stride[0] != 1 || c.stride[1] != 1 || c.stride[2] != 1) continue;  // direct path only
    expect_tilings_agree<float>(c);
    expect_tilings_agree<double>(c);
    ++checked;
  }
  EXPECT_EQ(checked, 22);
}

// Which tiling the direct path picks: positions for a small volume with many channels (the
// discriminator's 128 -> 256 4x4x4 conv on 8x10x8: W = 7 outputs per row wastes a lane in 8 of
// the rows tiling), rows for a 1-channel first layer (27 taps: the positions tiling's per-output
// cost of starting and storing its tiles would dominate).
TEST(ConvKernelsTiling, ChoiceFollowsTheGeometry) {
  using ldae::cpu::conv_detail::chosen_tiling;
  using ldae::cpu::conv_detail::DirectTiling;
  const Case deep{"deep", 1, 128, 256, 1, {8, 10, 8}, {4, 4, 4}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}};
  EXPECT_EQ(chosen_tiling<float>(geometry(deep), false), DirectTiling::kPositions);
  EXPECT_EQ(chosen_tiling<float>(geometry(deep), true), DirectTiling::kPositions);
  const Case first{"first", 1, 1, 32, 1, {64, 80, 64}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}};
  EXPECT_EQ(chosen_tiling<float>(geometry(first), false), DirectTiling::kRows);
}

// The reference itself, on numbers worked out by hand: a 1D convolution along W.
TEST(ConvReference, MatchesHandComputedValues) {
  const int64_t one[3] = {1, 1, 1}, zero[3] = {0, 0, 0};
  {  // x = [1 2 3], w = [1 10], stride 1, no padding: y = [1 + 20, 2 + 30] (+ bias 0.5)
    const int64_t in[3] = {1, 1, 3}, k[3] = {1, 1, 2};
    const ConvGeometry g = ldae::cpu::make_conv_geometry(1, 1, 1, 1, in, k, one, zero, one);
    const double x[3] = {1, 2, 3}, w[2] = {1, 10}, b[1] = {0.5}, gy[2] = {1, 1};
    double y[2], gx[3], gw[2], gb[1];
    ldae::cpu::conv_reference_forward<double>(g, x, w, b, y);
    EXPECT_EQ(y[0], 21.5);
    EXPECT_EQ(y[1], 32.5);
    // gx[i] = sum of the w taps that read x[i]: x[0] only through w[0], x[1] through both, ...
    ldae::cpu::conv_reference_backward_input<double>(g, gy, w, gx);
    EXPECT_EQ(gx[0], 1);
    EXPECT_EQ(gx[1], 11);
    EXPECT_EQ(gx[2], 10);
    // gw[k] = sum over outputs of the x that tap k read; gb = sum of gy.
    ldae::cpu::conv_reference_backward_weight<double>(g, gy, x, gw, gb);
    EXPECT_EQ(gw[0], 1 + 2);
    EXPECT_EQ(gw[1], 2 + 3);
    EXPECT_EQ(gb[0], 2);
  }
  {  // x = [1 2 3 4], w = [1 10 100], stride 2, padding 1: outputs read x[-1..1] and x[1..3].
    const int64_t in[3] = {1, 1, 4}, k[3] = {1, 1, 3}, s[3] = {1, 1, 2}, p[3] = {0, 0, 1};
    const ConvGeometry g = ldae::cpu::make_conv_geometry(1, 1, 1, 1, in, k, s, p, one);
    ASSERT_EQ(g.out[2], 2);
    const double x[4] = {1, 2, 3, 4}, w[3] = {1, 10, 100};
    double y[2];
    ldae::cpu::conv_reference_forward<double>(g, x, w, nullptr, y);
    EXPECT_EQ(y[0], 0 * 1 + 1 * 10 + 2 * 100);
    EXPECT_EQ(y[1], 2 * 1 + 3 * 10 + 4 * 100);
  }
}

// set_reference_kernels(true) routes the public conv ops (tensor/ops.h) through the reference
// loops: their results then equal the reference's bits, and the fast kernels' bits when off.
TEST(ConvReference, SwitchRoutesTheOpsThroughTheReference) {
  const bool saved = ldae::reference_kernels();
  // A stride-2 3D case with groups (x: (2, 4, 6, 7, 8), w: (6, 2, 3, 3, 3)).
  const Case c{"switch", 2, 4, 6, 2, {6, 7, 8}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}};
  const ConvGeometry g = geometry(c);
  std::mt19937 rng(7);
  const int64_t xn = g.N * g.Cin * g.in[0] * g.in[1] * g.in[2];
  const int64_t yn = g.N * g.Cout * g.out[0] * g.out[1] * g.out[2];
  const int64_t wn = g.Cout * (g.Cin / g.groups) * 27;
  const std::vector<float> x = cast<float>(random_vector(xn, rng));
  const std::vector<float> w = cast<float>(random_vector(wn, rng));
  const std::vector<float> b = cast<float>(random_vector(g.Cout, rng));
  const std::vector<float> gy = cast<float>(random_vector(yn, rng));
  using ldae::Tensor;
  auto tensor = [](const std::vector<float>& v, const ldae::Shape& shape) {
    return Tensor::from_vector(cast<double>(v), shape);  // float32, exactly these values
  };
  const Tensor xt = tensor(x, {2, 4, 6, 7, 8}), wt = tensor(w, {6, 2, 3, 3, 3}),
               bt = tensor(b, {6}), gyt = tensor(gy, {2, 6, g.out[0], g.out[1], g.out[2]});
  const ldae::ConvParams params{{2, 2, 2}, {1, 1, 1}, {1, 1, 1}, 2};

  // The expected bits, straight from the kernels.
  std::vector<float> y_ref(yn), gx_ref(xn), gw_ref(wn), gb_ref(g.Cout);
  std::vector<float> y_fast(yn), gx_fast(xn), gw_fast(wn), gb_fast(g.Cout);
  ldae::cpu::conv_reference_forward<float>(g, x.data(), w.data(), b.data(), y_ref.data());
  ldae::cpu::conv_reference_backward_input<float>(g, gy.data(), w.data(), gx_ref.data());
  ldae::cpu::conv_reference_backward_weight<float>(g, gy.data(), x.data(), gw_ref.data(),
                                                   gb_ref.data());
  ldae::cpu::conv_forward<float>(g, x.data(), w.data(), b.data(), y_fast.data());
  ldae::cpu::conv_backward_input<float>(g, gy.data(), w.data(), gx_fast.data());
  ldae::cpu::conv_backward_weight<float>(g, gy.data(), x.data(), gw_fast.data(), gb_fast.data());
  auto bits = [](const Tensor& t, const std::vector<float>& want) {
    return t.numel() == static_cast<int64_t>(want.size()) &&
           std::memcmp(t.contiguous().data<float>(), want.data(), want.size() * sizeof(float)) == 0;
  };
  auto same = [](const std::vector<float>& a, const std::vector<float>& b) {
    return std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
  };
  // Precondition: the two implementations round differently somewhere on this case, so equal
  // bits below show which one ran.
  ASSERT_FALSE(same(y_ref, y_fast) && same(gx_ref, gx_fast) && same(gw_ref, gw_fast) &&
               same(gb_ref, gb_fast))
      << "fast and reference kernels agree bit for bit here: the test cannot tell them apart";

  for (const bool on : {true, false}) {
    SCOPED_TRACE(on ? "reference kernels on" : "reference kernels off");
    ldae::set_reference_kernels(on);
    EXPECT_EQ(ldae::reference_kernels(), on);
    const Tensor y = ldae::conv3d(xt, wt, bt, params);
    const ldae::ConvGrads grads = ldae::conv_backward(gyt, xt, wt, params, true, true, true);
    EXPECT_TRUE(bits(y, on ? y_ref : y_fast)) << "forward";
    EXPECT_TRUE(bits(grads.gx, on ? gx_ref : gx_fast)) << "input gradient";
    EXPECT_TRUE(bits(grads.gw, on ? gw_ref : gw_fast)) << "weight gradient";
    EXPECT_TRUE(bits(grads.gb, on ? gb_ref : gb_fast)) << "bias gradient";
  }
  ldae::set_reference_kernels(saved);
}

}  // namespace
