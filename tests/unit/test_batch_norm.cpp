// Batch norm: the running-statistics update and outputs against numbers from PyTorch, the
// fast CPU kernels against the plain loops (tensor/cpu/norm_reference.h), the error cases,
// and nn::BatchNorm's train / eval behaviour and buffers. (Gradients: the op table's
// batch_norm_* cases in the gradcheck; PyTorch values of y and the gradients: the
// batch_norm reference cases in tests/reference/cases.)
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "nn/norm.h"
#include "tensor/cpu/norm.h"
#include "tensor/cpu/norm_reference.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace ldae {
namespace {

// x (3, 2, 2, 3, 2) with x[n, c, s] = (((i * 7) % 11) / 4 - 1 + c / 2) * scale + shift, i the
// flat index: exact in binary, so PyTorch saw the same values.
Tensor pattern(double scale, double shift, DType dtype) {
  const int64_t N = 3, C = 2, S = 12;
  std::vector<double> v(N * C * S);
  for (int64_t n = 0; n < N; ++n)
    for (int64_t c = 0; c < C; ++c)
      for (int64_t s = 0; s < S; ++s) {
        const int64_t i = (n * C + c) * S + s;
        v[i] = (static_cast<double>((i * 7) % 11) / 4.0 - 1.0 + 0.5 * c) * scale + shift;
      }
  return Tensor::from_vector(v, {N, C, 2, 3, 2}, dtype);
}

// The numbers below were printed by PyTorch 1.13 (CPU, /usr/bin/python3) with
//   bn = torch.nn.BatchNorm3d(2).to(dtype); bn.weight = [1.5, 0.5]; bn.bias = [0.25, -0.5]
//   bn.train(); y1 = bn(pattern(1, 0)); bn(pattern(0.5, 1)); bn.eval(); y3 = bn(pattern(1, 0))
// printing running_mean, running_var and num_batches_tracked after each training call,
// y1[0, :, 0, 0, 0] and y3[0, :, 0, 0, 0], y3[2, :, 1, 2, 1].
struct PyTorchNumbers {
  DType dtype;
  double tol;
  std::vector<double> mean1, var1, mean2, var2, y1, y3a, y3b;
};

const std::vector<PyTorchNumbers>& pytorch_numbers() {
  static const std::vector<PyTorchNumbers> numbers = {
      {DType::F64,
       1e-13,
       {0.020833333333333336, 0.07777777777777778},
       {0.9641071428571428, 0.9656349206349206},
       {0.12916666666666668, 0.2088888888888889},
       {0.8837232142857143, 0.8854801587301587},
       {-2.0458237730895514, -0.20442835542857346},
       {-1.5517258903452686, 0.053191140769972445},
       {0.8417107167554572, -0.6109924594074224}},
      {DType::F32,
       2e-6,
       {0.02083333395421505, 0.07777778059244156},
       {0.964107096195221, 0.9656348824501038},
       {0.12916666269302368, 0.20888888835906982},
       {0.8837231397628784, 0.8854801058769226},
       {-2.045823812484741, -0.20442838966846466},
       {-1.55172598361969, 0.05319114029407501},
       {0.8417107462882996, -0.610992431640625}},
  };
  return numbers;
}

void expect_near_all(const std::vector<double>& got, const std::vector<double>& want, double tol,
                     const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i)
    EXPECT_NEAR(got[i], want[i], tol * std::max(1.0, std::abs(want[i])))
        << what << " [" << i << "]";
}

TEST(BatchNorm, ModuleMatchesPyTorchRunningStatistics) {
  for (const PyTorchNumbers& p : pytorch_numbers()) {
    SCOPED_TRACE(dtype_name(p.dtype));
    nn::BatchNorm bn(2);
    bn.to(p.dtype);
    {
      NoGrad no_grad;
      bn.weight.copy_(Tensor::from_vector({1.5, 0.5}, {2}, p.dtype));
      bn.bias.copy_(Tensor::from_vector({0.25, -0.5}, {2}, p.dtype));
    }
    bn.train();
    const Tensor y1 = bn.forward(pattern(1.0, 0.0, p.dtype));
    expect_near_all(bn.running_mean.to_vector(), p.mean1, p.tol, "running_mean after 1");
    expect_near_all(bn.running_var.to_vector(), p.var1, p.tol, "running_var after 1");
    EXPECT_EQ(bn.num_batches_tracked.item(), 1.0);
    expect_near_all({y1.at({0, 0, 0, 0, 0}), y1.at({0, 1, 0, 0, 0})}, p.y1, p.tol, "train y");

    bn.forward(pattern(0.5, 1.0, p.dtype));
    expect_near_all(bn.running_mean.to_vector(), p.mean2, p.tol, "running_mean after 2");
    expect_near_all(bn.running_var.to_vector(), p.var2, p.tol, "running_var after 2");
    EXPECT_EQ(bn.num_batches_tracked.item(), 2.0);

    bn.eval();
    const Tensor y3 = bn.forward(pattern(1.0, 0.0, p.dtype));
    EXPECT_EQ(bn.num_batches_tracked.item(), 2.0);  // eval calls are not counted
    expect_near_all(bn.running_mean.to_vector(), p.mean2, p.tol, "eval leaves running_mean");
    expect_near_all({y3.at({0, 0, 0, 0, 0}), y3.at({0, 1, 0, 0, 0})}, p.y3a, p.tol, "eval y a");
    expect_near_all({y3.at({2, 0, 1, 2, 1}), y3.at({2, 1, 1, 2, 1})}, p.y3b, p.tol, "eval y b");
  }
}

TEST(BatchNorm, ModuleBuffersAndStateOrder) {
  nn::BatchNorm bn(4);
  const auto state = bn.ordered_state();
  ASSERT_EQ(state.size(), 5u);
  const std::vector<std::string> names = {"weight", "bias", "running_mean", "running_var",
                                          "num_batches_tracked"};
  for (size_t i = 0; i < names.size(); ++i) {
    EXPECT_EQ(state[i].name, names[i]);
    EXPECT_EQ(state[i].is_buffer, i >= 2) << names[i];
  }
  EXPECT_EQ(bn.running_mean.to_vector(), std::vector<double>(4, 0.0));
  EXPECT_EQ(bn.running_var.to_vector(), std::vector<double>(4, 1.0));
  EXPECT_EQ(bn.num_batches_tracked.dim(), 0);
  EXPECT_EQ(bn.num_batches_tracked.item(), 0.0);
  EXPECT_EQ(bn.parameter_count(), 8);
  bn.to(DType::F64);
  EXPECT_EQ(bn.num_batches_tracked.dtype(), DType::F64);  // buffers follow the module dtype

  nn::BatchNorm plain(3, 1e-5, 0.1, /*affine=*/false);
  EXPECT_EQ(plain.parameter_count(), 0);
  EXPECT_EQ(plain.ordered_state().size(), 3u);
}

// Train mode normalises each channel of the batch (mean 0, biased variance 1); eval mode
// with fresh buffers (mean 0, var 1) is x / sqrt(1 + eps). 2D input (N, C, H, W).
TEST(BatchNorm, ModuleTrainAndEvalOn2dInput) {
  nn::BatchNorm bn(3);
  bn.to(DType::F64);
  Generator gen(7);
  const Tensor x = add_scalar(mul_scalar(randn({4, 3, 5, 2}, gen, DType::F64), 2.0), 3.0);
  bn.eval();
  const Tensor ye = bn.forward(x);
  const std::vector<double> xv = x.to_vector(), yev = ye.to_vector();
  for (size_t i = 0; i < xv.size(); ++i) EXPECT_NEAR(yev[i], xv[i] / std::sqrt(1 + 1e-5), 1e-12);
  EXPECT_EQ(bn.num_batches_tracked.item(), 0.0);

  bn.train();
  const Tensor y = bn.forward(x);
  for (int64_t c = 0; c < 3; ++c) {
    double s = 0, q = 0;
    for (int64_t n = 0; n < 4; ++n)
      for (int64_t h = 0; h < 5; ++h)
        for (int64_t w = 0; w < 2; ++w) {
          const double v = y.at({n, c, h, w});
          s += v;
          q += v * v;
        }
    EXPECT_NEAR(s / 40, 0.0, 1e-12) << "channel " << c;
    EXPECT_NEAR(q / 40, 1.0, 1e-4) << "channel " << c;  // var / (var + eps)
  }
  EXPECT_EQ(bn.num_batches_tracked.item(), 1.0);
  // The running mean moved a tenth of the way to the batch mean (about 3).
  for (double m : bn.running_mean.to_vector()) EXPECT_GT(m, 0.2);
}

TEST(BatchNorm, Errors) {
  const Tensor rm = Tensor::zeros({2}), rv = Tensor::ones({2});
  // One value per channel in training (PyTorch's "Expected more than 1 value per channel").
  try {
    batch_norm(Tensor::ones({1, 2}), rm, rv, Tensor(), Tensor(), true);
    ADD_FAILURE() << "no error for one value per channel";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("more than 1 value per channel"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(batch_norm(Tensor::ones({1, 2, 1, 1}), Tensor(), Tensor(), Tensor(), Tensor(), true),
               Error);
  // The same input is fine in eval mode.
  EXPECT_NO_THROW(batch_norm(Tensor::ones({1, 2}), rm, rv, Tensor(), Tensor(), false));
  // Eval needs the running statistics.
  EXPECT_THROW(batch_norm(Tensor::ones({2, 2}), Tensor(), Tensor(), Tensor(), Tensor(), false),
               Error);
  // Wrong shapes of the per-channel tensors.
  EXPECT_THROW(batch_norm(Tensor::ones({2, 3}), rm, rv, Tensor(), Tensor(), true), Error);
  EXPECT_THROW(batch_norm(Tensor::ones({2, 2}), rm, rv, Tensor::ones({3}), Tensor(), true), Error);
  EXPECT_THROW(batch_norm(Tensor::ones({2}), Tensor(), Tensor(), Tensor(), Tensor(), true), Error);
  // Running statistics that require grad are refused by the differentiable op.
  Tensor rg = Tensor::zeros({2});
  rg.set_requires_grad(true);
  EXPECT_THROW(ag::batch_norm(Tensor::ones({2, 2}), rg, rv, Tensor(), Tensor(), true), Error);
  // The module checks the channel count.
  nn::BatchNorm bn(3);
  EXPECT_THROW(bn.forward(Tensor::ones({2, 4, 2})), Error);
  EXPECT_THROW(nn::BatchNorm(0), Error);
}

// Strided running statistics (a slice of a larger tensor) are updated in place too.
TEST(BatchNorm, UpdatesStridedRunningStatistics) {
  Tensor big_mean = Tensor::zeros({4}, DType::F64), big_var = Tensor::ones({4}, DType::F64);
  const Tensor rm = big_mean.slice(0, 0, 4, 2), rv = big_var.slice(0, 0, 4, 2);
  ASSERT_FALSE(rm.is_contiguous());
  const Tensor x = Tensor::from_vector({1, 10, 3, 20}, {2, 2}, DType::F64);  // channel means 2, 15
  batch_norm(x, rm, rv, Tensor(), Tensor(), true, 0.5);
  EXPECT_EQ(big_mean.to_vector(), (std::vector<double>{1.0, 0.0, 7.5, 0.0}));
  // Unbiased variances 2 and 50: 0.5 * 1 + 0.5 * v.
  EXPECT_EQ(big_var.to_vector(), (std::vector<double>{1.5, 1.0, 25.5, 1.0}));
}

// ---- Fast CPU kernels against the plain loops ----

template <typename T>
std::vector<T> random_vector(int64_t n, uint32_t seed, double lo, double hi) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(lo, hi);
  std::vector<T> v(static_cast<size_t>(n));
  for (T& e : v) e = static_cast<T>(u(rng));
  return v;
}

template <typename T>
void expect_close(const std::vector<T>& got, const std::vector<T>& want, double tol,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  int bad = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    const double err = std::abs(static_cast<double>(got[i]) - static_cast<double>(want[i]));
    if (!(err <= tol * std::max(1.0, std::abs(static_cast<double>(want[i])))) && ++bad <= 3)
      ADD_FAILURE() << what << "[" << i << "]: " << got[i] << " vs " << want[i];
  }
}

template <typename T>
void check_kernels(int64_t N, int64_t C, int64_t S, bool affine, bool training, double offset,
                   double tol) {
  SCOPED_TRACE("N=" + std::to_string(N) + " C=" + std::to_string(C) + " S=" + std::to_string(S) +
               (affine ? " affine" : "") + (training ? " training" : " eval"));
  cpu::BatchNormGeometry g{N, C, S};
  const int64_t n = N * C * S;
  const std::vector<T> x = random_vector<T>(n, 1, offset - 1, offset + 1);
  const std::vector<T> gy = random_vector<T>(n, 2, -1, 1);
  const std::vector<T> w = random_vector<T>(C, 3, 0.5, 1.5), b = random_vector<T>(C, 4, -1, 1);
  const T* wp = affine ? w.data() : nullptr;
  const T* bp = affine ? b.data() : nullptr;
  std::vector<T> rm_fast = random_vector<T>(C, 5, -1, 1), rv_fast = random_vector<T>(C, 6, 0.5, 2);
  std::vector<T> rm_ref = rm_fast, rv_ref = rv_fast;
  std::vector<T> y(n), y_ref(n), mean(C), mean_ref(C), rstd(C), rstd_ref(C);
  cpu::batch_norm_forward<T>(g, x.data(), wp, bp, rm_fast.data(), rv_fast.data(), training, 0.1,
                             1e-5, y.data(), mean.data(), rstd.data());
  cpu::batch_norm_reference_forward<T>(g, x.data(), wp, bp, rm_ref.data(), rv_ref.data(), training,
                                       0.1, 1e-5, y_ref.data(), mean_ref.data(), rstd_ref.data());
  expect_close(y, y_ref, tol, "y");
  expect_close(mean, mean_ref, tol, "mean");
  expect_close(rstd, rstd_ref, tol, "rstd");
  expect_close(rm_fast, rm_ref, tol, "running_mean");
  expect_close(rv_fast, rv_ref, tol, "running_var");

  std::vector<T> gx(n), gx_ref(n), gw(C), gw_ref(C), gb(C), gb_ref(C);
  cpu::batch_norm_backward<T>(g, gy.data(), x.data(), mean.data(), rstd.data(), wp, training,
                              gx.data(), gw.data(), gb.data());
  cpu::batch_norm_reference_backward<T>(g, gy.data(), x.data(), mean.data(), rstd.data(), wp,
                                        training, gx_ref.data(), gw_ref.data(), gb_ref.data());
  expect_close(gx, gx_ref, tol, "gx");
  expect_close(gw, gw_ref, tol, "gw");
  expect_close(gb, gb_ref, tol, "gb");
}

TEST(BatchNormKernels, FastMatchesReference) {
  for (bool training : {true, false}) {
    for (bool affine : {true, false}) {
      check_kernels<double>(3, 4, 7, affine, training, 0.0, 1e-11);
      check_kernels<double>(2, 3, 20000, affine, training, 5.0, 1e-10);  // parallel, large mean
      check_kernels<double>(5, 2, 1, affine, training, 0.0, 1e-11);      // (N, C)
      check_kernels<float>(4, 3, 9000, affine, training, 1.0, 2e-4);
    }
  }
}

}  // namespace
}  // namespace ldae
