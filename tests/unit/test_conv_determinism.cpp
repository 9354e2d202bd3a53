// Bit-reproducibility of the CPU convolution kernels (tensor/cpu/conv.h): with the same inputs
// and the same OpenMP thread count, every kernel (forward, input gradient, weight gradient, bias
// gradient) must give bit-identical results on every call, on all four code paths (stride 1: the
// direct kernels; kernel a multiple of the stride: the polyphase path; other strides with
// dilation 1: the phase-split path; a stride and a dilation: im2col + GEMM), 2D and 3D, with
// groups. The kernels also promise
// (conv.h) that the result does not depend on the thread count; the second test checks that.
//
// The shapes are small, but the two GEMM cases give that path's weight gradient several position
// chunks per sample (12 and 4 tasks), so that a partition or a summation order that depended on
// timing shows up as differing bits (the per-thread accumulators that this replaced failed such
// cases within 20 calls at 2, 3 and 7 threads).
#include <gtest/gtest.h>
#include <omp.h>

#include <cstdint>
#include <cstring>
#include <random>
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

const std::vector<Case>& cases() {
  static const std::vector<Case> all = {
      // name, N, Cin, Cout, groups, in (D, H, W), kernel, stride, padding, dilation
      // GEMM path (stride 2 and dilation 2): 2 x 2 chunks of output positions for the weight
      // gradient in float, 2 x 4 in double; in 2D, 4. (16^3, not 24^3: at 24^3 the GEMM path's
      // im2col took 42 s of this test under the sanitizers.)
      {"3d_gemm_stride2_dil2",
       2,
       32,
       2,
       1,
       {16, 16, 16},
       {3, 3, 3},
       {2, 2, 2},
       {2, 2, 2},
       {2, 2, 2}},
      {"2d_gemm_stride2_dil2", 2, 8, 6, 1, {1, 96, 90}, {1, 3, 3}, {1, 2, 2}, {0, 2, 2}, {1, 2, 2}},
      // Phase-split path (kernel 3 stride 2): the phases summed in a fixed order.
      {"3d_stride2", 2, 32, 2, 1, {24, 24, 24}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"3d_stride2_groups2", 2, 16, 8, 2, {16, 16, 16}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"3d_depthwise_stride2", 1, 4, 4, 4, {8, 10, 12}, {3, 3, 3}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"2d_stride2", 2, 8, 6, 1, {1, 96, 90}, {1, 3, 3}, {1, 2, 2}, {0, 1, 1}, {1, 1, 1}},
      // Polyphase path: the discriminator's 4x4x4 stride-2 padding-1 conv, and a 2D one with
      // groups and mixed strides.
      // (Cout 16: the direct weight gradient's tiling along output channels; 12^3 keeps it to a few
      // seconds under the sanitizers.)
      {"3d_poly_k4_s2", 2, 8, 16, 1, {12, 12, 12}, {4, 4, 4}, {2, 2, 2}, {1, 1, 1}, {1, 1, 1}},
      {"2d_poly_groups2", 2, 8, 8, 2, {1, 64, 60}, {1, 4, 2}, {1, 2, 1}, {0, 1, 1}, {1, 1, 1}},
      // Direct path: weight gradient vectorised along output channels (Cout >= 16) ...
      {"3d_stride1_cout32", 2, 2, 32, 1, {4, 6, 8}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      // ... and along W (few output channels).
      {"3d_stride1_cout2", 2, 3, 2, 1, {4, 12, 16}, {3, 3, 3}, {1, 1, 1}, {1, 1, 1}, {1, 1, 1}},
      {"2d_stride1_groups2", 2, 4, 8, 2, {1, 40, 36}, {1, 3, 3}, {1, 1, 1}, {0, 1, 1}, {1, 1, 1}},
  };
  return all;
}

std::vector<float> random_vector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& e : v) e = u(rng);
  return v;
}

// The outputs of one call of every kernel.
struct Outputs {
  std::vector<float> y, gx, gw, gb;
};

bool same_bits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

// Inputs of a case and a function that runs all kernels on them.
struct Problem {
  explicit Problem(const Case& c)
      : g(ldae::cpu::make_conv_geometry(c.N, c.Cin, c.Cout, c.groups, c.in, c.kernel, c.stride,
                                        c.padding, c.dilation)) {
    const int64_t kvol = g.kernel[0] * g.kernel[1] * g.kernel[2];
    xn = g.N * g.Cin * g.in[0] * g.in[1] * g.in[2];
    yn = g.N * g.Cout * g.out[0] * g.out[1] * g.out[2];
    wn = g.Cout * (g.Cin / g.groups) * kvol;
    x = random_vector(xn, 1);
    w = random_vector(wn, 2);
    b = random_vector(g.Cout, 3);
    gy = random_vector(yn, 4);
  }

  Outputs run() const {
    Outputs o{std::vector<float>(yn), std::vector<float>(xn), std::vector<float>(wn),
              std::vector<float>(g.Cout)};
    ldae::cpu::conv_forward<float>(g, x.data(), w.data(), b.data(), o.y.data());
    ldae::cpu::conv_backward_input<float>(g, gy.data(), w.data(), o.gx.data());
    ldae::cpu::conv_backward_weight<float>(g, gy.data(), x.data(), o.gw.data(), o.gb.data());
    return o;
  }

  ConvGeometry g;
  int64_t xn, yn, wn;
  std::vector<float> x, w, b, gy;
};

// Sets the OpenMP thread count for the scope, restores the previous one at the end.
struct ThreadCount {
  explicit ThreadCount(int n) : saved(omp_get_max_threads()) { omp_set_num_threads(n); }
  ~ThreadCount() { omp_set_num_threads(saved); }
  int saved;
};

constexpr int kThreadCounts[] = {1, 2, 3, 7};
constexpr int kCalls = 20;

class ConvDeterminism : public ::testing::TestWithParam<Case> {};

TEST_P(ConvDeterminism, RepeatedCallsGiveIdenticalBitsPerThreadCount) {
  const Problem p(GetParam());
  for (int threads : kThreadCounts) {
    const ThreadCount tc(threads);
    const Outputs first = p.run();
    int differ_y = 0, differ_gx = 0, differ_gw = 0, differ_gb = 0;
    for (int call = 1; call < kCalls; ++call) {
      const Outputs o = p.run();
      differ_y += !same_bits(o.y, first.y);
      differ_gx += !same_bits(o.gx, first.gx);
      differ_gw += !same_bits(o.gw, first.gw);
      differ_gb += !same_bits(o.gb, first.gb);
    }
    EXPECT_EQ(differ_y, 0) << threads << " threads: forward differed in some of " << kCalls;
    EXPECT_EQ(differ_gx, 0) << threads << " threads: input gradient differed";
    EXPECT_EQ(differ_gw, 0) << threads << " threads: weight gradient differed";
    EXPECT_EQ(differ_gb, 0) << threads << " threads: bias gradient differed";
  }
}

TEST_P(ConvDeterminism, ResultsDoNotDependOnTheThreadCount) {
  const Problem p(GetParam());
  Outputs one;
  {
    const ThreadCount tc(1);
    one = p.run();
  }
  for (int threads : kThreadCounts) {
    const ThreadCount tc(threads);
    const Outputs o = p.run();
    EXPECT_TRUE(same_bits(o.y, one.y)) << "forward, " << threads << " threads vs 1";
    EXPECT_TRUE(same_bits(o.gx, one.gx)) << "input gradient, " << threads << " threads vs 1";
    EXPECT_TRUE(same_bits(o.gw, one.gw)) << "weight gradient, " << threads << " threads vs 1";
    EXPECT_TRUE(same_bits(o.gb, one.gb)) << "bias gradient, " << threads << " threads vs 1";
  }
}

INSTANTIATE_TEST_SUITE_P(Cases, ConvDeterminism, ::testing::ValuesIn(cases()),
                         [](const ::testing::TestParamInfo<Case>& info) {
                           return info.param.name;
                         });

}  // namespace
