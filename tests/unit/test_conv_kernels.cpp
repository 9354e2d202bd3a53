// Tests of the CPU convolution kernels (tensor/cpu/conv.h) against a naive direct convolution
// written here from the definition, in float64 and float32, on tiny shapes that together cover
// stride, padding, dilation, groups, 2D and 3D, kernel 1, non-cubic shapes, N = 2, the few-input-
// channel path, and shapes large enough to need several chunks, row blocks, slabs, channel blocks
// and position blocks. Stride 1 runs the direct kernels, other strides the im2col + GEMM path.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <limits>
#include <random>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/cpu/conv.h"

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

// The naive reference, in double: one loop nest over (n, co, output position, ci, tap) that
// accumulates the forward output and both gradients at the same time.
struct Reference {
  std::vector<double> y, gx, gw, gb;
};

Reference naive(const ConvGeometry& g, const std::vector<double>& x, const std::vector<double>& w,
                const std::vector<double>& b, const std::vector<double>& gy) {
  const int64_t Cin_g = g.Cin / g.groups, Cout_g = g.Cout / g.groups;
  const int64_t D = g.in[0], H = g.in[1], W = g.in[2];
  const int64_t oD = g.out[0], oH = g.out[1], oW = g.out[2];
  const int64_t kD = g.kernel[0], kH = g.kernel[1], kW = g.kernel[2];
  Reference r;
  r.y.assign(g.N * g.Cout * oD * oH * oW, 0.0);
  r.gx.assign(x.size(), 0.0);
  r.gw.assign(w.size(), 0.0);
  r.gb.assign(g.Cout, 0.0);
  for (int64_t n = 0; n < g.N; ++n)
    for (int64_t co = 0; co < g.Cout; ++co)
      for (int64_t od = 0; od < oD; ++od)
        for (int64_t oh = 0; oh < oH; ++oh)
          for (int64_t ow = 0; ow < oW; ++ow) {
            const int64_t yi = (((n * g.Cout + co) * oD + od) * oH + oh) * oW + ow;
            double acc = b[co];
            r.gb[co] += gy[yi];
            for (int64_t ci = 0; ci < Cin_g; ++ci) {
              const int64_t c = co / Cout_g * Cin_g + ci;  // input channel of this group
              for (int64_t kd = 0; kd < kD; ++kd)
                for (int64_t kh = 0; kh < kH; ++kh)
                  for (int64_t kw = 0; kw < kW; ++kw) {
                    const int64_t id = od * g.stride[0] - g.padding[0] + kd * g.dilation[0];
                    const int64_t ih = oh * g.stride[1] - g.padding[1] + kh * g.dilation[1];
                    const int64_t iw = ow * g.stride[2] - g.padding[2] + kw * g.dilation[2];
                    if (id < 0 || id >= D || ih < 0 || ih >= H || iw < 0 || iw >= W) continue;
                    const int64_t xi = (((n * g.Cin + c) * D + id) * H + ih) * W + iw;
                    const int64_t wi = (((co * Cin_g + ci) * kD + kd) * kH + kh) * kW + kw;
                    acc += w[wi] * x[xi];
                    r.gx[xi] += w[wi] * gy[yi];
                    r.gw[wi] += x[xi] * gy[yi];
                  }
            }
            r.y[yi] = acc;
          }
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

template <typename T>
void check_case(const Case& c, bool with_bias, double tol) {
  SCOPED_TRACE(c.name + (with_bias ? " (bias)" : " (no bias)"));
  const ConvGeometry g = geometry(c);
  const int64_t kvol = g.kernel[0] * g.kernel[1] * g.kernel[2];
  const int64_t xn = g.N * g.Cin * g.in[0] * g.in[1] * g.in[2];
  const int64_t yn = g.N * g.Cout * g.out[0] * g.out[1] * g.out[2];
  const int64_t wn = g.Cout * (g.Cin / g.groups) * kvol;
  std::mt19937 rng(1234);
  // Round the inputs to T first so that the reference sees exactly what the kernel sees.
  const std::vector<double> x = cast<double>(cast<T>(random_vector(xn, rng)));
  const std::vector<double> w = cast<double>(cast<T>(random_vector(wn, rng)));
  std::vector<double> b = cast<double>(cast<T>(random_vector(g.Cout, rng)));
  const std::vector<double> gy = cast<double>(cast<T>(random_vector(yn, rng)));
  if (!with_bias) std::fill(b.begin(), b.end(), 0.0);
  const Reference ref = naive(g, x, w, b, gy);

  const std::vector<T> xt = cast<T>(x), wt = cast<T>(w), bt = cast<T>(b), gyt = cast<T>(gy);
  // Outputs start as NaN garbage: the kernels must overwrite every element.
  const T nan = std::numeric_limits<T>::quiet_NaN();
  std::vector<T> y(yn, nan), gx(xn, nan), gw(wn, nan), gb(g.Cout, nan);
  ldae::cpu::conv_forward<T>(g, xt.data(), wt.data(), with_bias ? bt.data() : nullptr, y.data());
  expect_close(y, ref.y, tol, "forward");
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

TEST_P(ConvKernels, Float64MatchesNaive) {
  check_case<double>(GetParam(), true, 1e-12);
  check_case<double>(GetParam(), false, 1e-12);
}

TEST_P(ConvKernels, Float32MatchesNaive) {
  check_case<float>(GetParam(), true, 2e-5);
  check_case<float>(GetParam(), false, 2e-5);
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

}  // namespace
