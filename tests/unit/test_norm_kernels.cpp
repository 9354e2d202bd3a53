// Tests of the fast CPU group norm and layer norm kernels (tensor/cpu/norm.h) against the
// library's reference loops (tensor/cpu/norm_reference.h), and of the reference-kernel switch
// (tensor/kernels.h) for the norm ops.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "tensor/cpu/norm.h"
#include "tensor/cpu/norm_reference.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"

namespace {

using ldae::cpu::GroupNormGeometry;

template <typename T>
std::vector<T> random_vector(int64_t n, uint32_t seed, double offset = 0.0) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(-1.0, 1.0);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& e : v) e = static_cast<T>(offset + u(rng));
  return v;
}

// Every element of got within tol * max(1, max |want|) of want.
template <typename T>
void expect_close(const std::vector<T>& got, const std::vector<T>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  double scale = 1.0;
  for (T v : want) scale = std::max(scale, std::abs(static_cast<double>(v)));
  int64_t bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
    if (!(err <= tol * scale) && ++bad <= 3) {
      ADD_FAILURE() << what << ": element " << i << " got " << got[i] << " want " << want[i];
    }
  }
  EXPECT_EQ(bad, 0) << what;
}

struct GnCase {
  int64_t N, C, groups, S;
  bool affine;
  double offset;  // added to x: a mean large against the spread
};

template <typename T>
void check_group_norm(const GnCase& c, double tol) {
  SCOPED_TRACE("N=" + std::to_string(c.N) + " C=" + std::to_string(c.C) +
               " groups=" + std::to_string(c.groups) + " S=" + std::to_string(c.S) +
               (c.affine ? " affine" : ""));
  GroupNormGeometry g;
  g.N = c.N;
  g.C = c.C;
  g.groups = c.groups;
  g.S = c.S;
  const int64_t n = c.N * c.C * c.S, sets = c.N * c.groups;
  const std::vector<T> x = random_vector<T>(n, 1, c.offset), gy = random_vector<T>(n, 2);
  const std::vector<T> w = random_vector<T>(c.C, 3), b = random_vector<T>(c.C, 4);
  const T* wp = c.affine ? w.data() : nullptr;
  const T* bp = c.affine ? b.data() : nullptr;
  std::vector<T> y(n), mean(sets), rstd(sets), gx(n), gw(c.C), gb(c.C);
  std::vector<T> y_r(n), mean_r(sets), rstd_r(sets), gx_r(n), gw_r(c.C), gb_r(c.C);
  ldae::cpu::group_norm_forward<T>(g, x.data(), wp, bp, 1e-5, y.data(), mean.data(), rstd.data());
  ldae::cpu::group_norm_reference_forward<T>(g, x.data(), wp, bp, 1e-5, y_r.data(), mean_r.data(),
                                             rstd_r.data());
  expect_close(y, y_r, tol, "y");
  expect_close(mean, mean_r, tol, "mean");
  expect_close(rstd, rstd_r, tol, "rstd");
  // Both backward passes from the same (reference) statistics.
  ldae::cpu::group_norm_backward<T>(g, gy.data(), x.data(), mean_r.data(), rstd_r.data(), wp,
                                    gx.data(), gw.data(), gb.data());
  ldae::cpu::group_norm_reference_backward<T>(g, gy.data(), x.data(), mean_r.data(), rstd_r.data(),
                                              wp, gx_r.data(), gw_r.data(), gb_r.data());
  expect_close(gx, gx_r, tol, "gx");
  expect_close(gw, gw_r, tol, "gw");
  expect_close(gb, gb_r, tol, "gb");
}

const GnCase kGnCases[] = {
    {2, 6, 3, 10, true, 0.0},         {1, 4, 1, 7, false, 0.0},    {3, 8, 8, 5, true, 0.0},
    {2, 32, 4, 4 * 5 * 6, true, 3.0}, {1, 16, 2, 4096, true, 0.0}, {5, 12, 3, 1, false, 0.0},
};

TEST(NormKernels, GroupNormMatchesReference) {
  for (const GnCase& c : kGnCases) {
    check_group_norm<double>(c, 1e-12);
    check_group_norm<float>(c, 2e-5);
  }
}

TEST(NormKernels, LayerNormMatchesReference) {
  for (const int64_t L : {1, 7, 64, 1000}) {
    SCOPED_TRACE("L=" + std::to_string(L));
    const int64_t M = 6;
    const std::vector<double> x = random_vector<double>(M * L, 5, 2.0);
    const std::vector<double> gy = random_vector<double>(M * L, 6);
    const std::vector<double> w = random_vector<double>(L, 7), b = random_vector<double>(L, 8);
    std::vector<double> y(M * L), mean(M), rstd(M), gx(M * L), gw(L), gb(L);
    std::vector<double> y_r(M * L), mean_r(M), rstd_r(M), gx_r(M * L), gw_r(L), gb_r(L);
    ldae::cpu::layer_norm_forward<double>(M, L, x.data(), w.data(), b.data(), 1e-5, y.data(),
                                          mean.data(), rstd.data());
    ldae::cpu::layer_norm_reference_forward<double>(M, L, x.data(), w.data(), b.data(), 1e-5,
                                                    y_r.data(), mean_r.data(), rstd_r.data());
    expect_close(y, y_r, 1e-12, "y");
    expect_close(rstd, rstd_r, 1e-12, "rstd");
    ldae::cpu::layer_norm_backward<double>(M, L, gy.data(), x.data(), mean_r.data(), rstd_r.data(),
                                           w.data(), gx.data(), gw.data(), gb.data());
    ldae::cpu::layer_norm_reference_backward<double>(M, L, gy.data(), x.data(), mean_r.data(),
                                                     rstd_r.data(), w.data(), gx_r.data(),
                                                     gw_r.data(), gb_r.data());
    expect_close(gx, gx_r, 1e-12, "gx");
    expect_close(gw, gw_r, 1e-12, "gw");
    expect_close(gb, gb_r, 1e-12, "gb");
  }
}

// The reference itself on a hand-computed set: x = [1 2 3 4] (one group, no affine):
// mean 2.5, var 1.25, y = (x - 2.5) / sqrt(1.25 + eps).
TEST(NormKernels, ReferenceMatchesHandComputedValues) {
  GroupNormGeometry g;
  g.N = 1;
  g.C = 2;
  g.groups = 1;
  g.S = 2;
  const double x[4] = {1, 2, 3, 4};
  double y[4], mean, rstd;
  ldae::cpu::group_norm_reference_forward<double>(g, x, nullptr, nullptr, 0.0, y, &mean, &rstd);
  EXPECT_EQ(mean, 2.5);
  EXPECT_DOUBLE_EQ(rstd, 1.0 / std::sqrt(1.25));
  for (int i = 0; i < 4; ++i) EXPECT_DOUBLE_EQ(y[i], (x[i] - 2.5) / std::sqrt(1.25));
  // gy = 1 everywhere: y does not change when all x move together, so gx = 0; gb = S per channel.
  const double gy[4] = {1, 1, 1, 1};
  double gx[4], gw[2], gb[2];
  ldae::cpu::group_norm_reference_backward<double>(g, gy, x, &mean, &rstd, nullptr, gx, gw, gb);
  for (int i = 0; i < 4; ++i) EXPECT_NEAR(gx[i], 0.0, 1e-15);
  EXPECT_EQ(gb[0], 2);
  EXPECT_EQ(gb[1], 2);
}

// set_reference_kernels(true) routes group_norm / layer_norm (and their backward) through the
// reference loops: their results then equal the reference's bits (float64, where the two
// implementations' different summation orders show in the last bits).
TEST(NormKernels, SwitchRoutesTheOpsThroughTheReference) {
  const bool saved = ldae::reference_kernels();
  using ldae::DType;
  using ldae::Tensor;
  GroupNormGeometry g;
  g.N = 2;
  g.C = 8;
  g.groups = 4;
  g.S = 3 * 4 * 5;
  const int64_t n = g.N * g.C * g.S;
  const std::vector<double> x = random_vector<double>(n, 11, 1.5),
                            gy = random_vector<double>(n, 12);
  const std::vector<double> w = random_vector<double>(g.C, 13), b = random_vector<double>(g.C, 14);
  const Tensor xt = Tensor::from_vector(x, {2, 8, 3, 4, 5}, DType::F64);
  const Tensor gyt = Tensor::from_vector(gy, {2, 8, 3, 4, 5}, DType::F64);
  const Tensor wt = Tensor::from_vector(w, {8}, DType::F64);
  const Tensor bt = Tensor::from_vector(b, {8}, DType::F64);
  auto bits = [](const Tensor& t, const std::vector<double>& want) {
    return t.numel() == static_cast<int64_t>(want.size()) &&
           std::memcmp(t.contiguous().data<double>(), want.data(), want.size() * sizeof(double)) ==
               0;
  };

  // Expected bits, from the kernels directly.
  std::vector<double> y_ref(n), m_ref(8), r_ref(8), gx_ref(n), gw_ref(8), gb_ref(8);
  std::vector<double> y_fast(n), m_fast(8), r_fast(8);
  ldae::cpu::group_norm_reference_forward<double>(g, x.data(), w.data(), b.data(), 1e-5,
                                                  y_ref.data(), m_ref.data(), r_ref.data());
  ldae::cpu::group_norm_forward<double>(g, x.data(), w.data(), b.data(), 1e-5, y_fast.data(),
                                        m_fast.data(), r_fast.data());
  ldae::cpu::group_norm_reference_backward<double>(g, gy.data(), x.data(), m_ref.data(),
                                                   r_ref.data(), w.data(), gx_ref.data(),
                                                   gw_ref.data(), gb_ref.data());
  ASSERT_NE(std::memcmp(y_ref.data(), y_fast.data(), n * sizeof(double)), 0)
      << "fast and reference forward agree bit for bit: the test cannot tell them apart";

  ldae::set_reference_kernels(true);
  const ldae::NormResult r = ldae::group_norm(xt, 4, wt, bt, 1e-5);
  EXPECT_TRUE(bits(r.y, y_ref));
  EXPECT_TRUE(bits(r.mean, m_ref));
  EXPECT_TRUE(bits(r.rstd, r_ref));
  const ldae::NormGrads grads = ldae::group_norm_backward(gyt, xt, r.mean, r.rstd, 4, wt);
  EXPECT_TRUE(bits(grads.gx, gx_ref));
  EXPECT_TRUE(bits(grads.gw, gw_ref));
  EXPECT_TRUE(bits(grads.gb, gb_ref));
  // Layer norm over the last 3 axes: x seen as (M, L) = (2 * 8, 3 * 4 * 5).
  std::vector<double> yl_ref(n), ml_ref(16), rl_ref(16);
  ldae::cpu::layer_norm_reference_forward<double>(16, 60, x.data(), nullptr, nullptr, 1e-5,
                                                  yl_ref.data(), ml_ref.data(), rl_ref.data());
  const ldae::NormResult rl = ldae::layer_norm(xt, {3, 4, 5}, Tensor(), Tensor(), 1e-5);
  EXPECT_TRUE(bits(rl.y, yl_ref));

  ldae::set_reference_kernels(false);
  EXPECT_TRUE(bits(ldae::group_norm(xt, 4, wt, bt, 1e-5).y, y_fast));
  ldae::set_reference_kernels(saved);
}

}  // namespace
