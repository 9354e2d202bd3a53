// diffusion/: schedules against the reference table, the forward process, the losses,
// DDIM step maps, and the DDIM sampler and encoder checked against the closed-form
// optimal noise predictor of Gaussian data; plus DDPM training of a tiny denoiser.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <numeric>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "diffusion/ddim.h"
#include "diffusion/forward.h"
#include "diffusion/loss.h"
#include "diffusion/schedule.h"
#include "nn/adam.h"
#include "nn/conv.h"
#include "tensor/ops.h"

using namespace ldae;
using namespace ldae::diffusion;
using ldae::testing::expect_error;

namespace {

double rms(const Tensor& a, const Tensor& b) {
  const std::vector<double> x = a.to_vector(), y = b.to_vector();
  double s = 0;
  for (size_t i = 0; i < x.size(); ++i) s += (x[i] - y[i]) * (x[i] - y[i]);
  return std::sqrt(s / static_cast<double>(x.size()));
}

double mean_of(const Tensor& a) {
  const std::vector<double> v = a.to_vector();
  return std::accumulate(v.begin(), v.end(), 0.0) / static_cast<double>(v.size());
}

double std_of(const Tensor& a) {
  const std::vector<double> v = a.to_vector();
  const double m = mean_of(a);
  double s = 0;
  for (double x : v) s += (x - m) * (x - m);
  return std::sqrt(s / static_cast<double>(v.size()));
}

// Data N(mu, sigma^2 I). With x_t = sqrt(a) x0 + sqrt(1-a) eps, x_t ~ N(sqrt(a) mu,
// a sigma^2 + 1 - a), and the best (least-squares) noise predictor is
//   E[eps | x_t] = sqrt(1-a) (x_t - sqrt(a) mu) / (a sigma^2 + 1 - a).
// A DDIM with this predictor is exact up to the time discretisation.
struct GaussianData {
  double mu, sigma;
  const Schedule* s;
  Tensor eps(const Tensor& x, int64_t t) const {
    const double a = s->alpha_bar(t);
    const double c = std::sqrt(1 - a) / (a * sigma * sigma + 1 - a);
    return mul_scalar(add_scalar(x, -std::sqrt(a) * mu), c);
  }
};

}  // namespace

// ---- Schedules ------------------------------------------------------------------------------

TEST(Schedule, LinearMatchesTheReferenceTable) {
  // ldae-reference section 3: t, beta_t, alpha_bar_t, k_t, sqrt(1 - alpha_bar_t), lambda_t
  // (each to the precision the table prints).
  struct Row {
    int64_t t;
    double beta, alpha_bar, k, sqrt_1mab, lambda;
    double tol_ab, tol_k, tol_lambda;
  };
  const Row rows[] = {
      {0, 1.00e-4, 0.99990, 0, 0.0100, 0.00025, 5e-6, 5e-5, 5e-6},
      {1, 1.20e-4, 0.99978, -0.0067, 0.0148, 0.00051, 5e-6, 5e-5, 5e-6},
      {10, 2.99e-4, 0.99781, -0.0405, 0.0468, 0.0040, 5e-6, 5e-5, 5e-5},
      {100, 2.09e-3, 0.89514, -0.3177, 0.3238, 0.130, 5e-6, 5e-5, 5e-4},
      {250, 5.08e-3, 0.52142, -0.6862, 0.6918, 0.483, 5e-6, 5e-5, 5e-4},
      {500, 1.006e-2, 0.07780, -0.9547, 0.9603, 0.720, 5e-6, 5e-5, 5e-4},
      {750, 1.504e-2, 0.00330, -0.9908, 0.9983, 0.563, 5e-6, 5e-5, 5e-4},
      {999, 2.00e-2, 4.0e-5, -0.9899, 1.0000, 0.364, 5e-6, 5e-5, 5e-4},
  };
  const Schedule s = Schedule::linear();
  ASSERT_EQ(s.T(), 1000);
  for (const Row& r : rows) {
    SCOPED_TRACE("t = " + std::to_string(r.t));
    EXPECT_NEAR(s.beta(r.t), r.beta, 5e-3 * r.beta);
    EXPECT_NEAR(s.alpha_bar(r.t), r.alpha_bar, r.tol_ab);
    EXPECT_NEAR(s.pdae_shift_coef(r.t), r.k, r.tol_k);
    EXPECT_NEAR(std::sqrt(1 - s.alpha_bar(r.t)), r.sqrt_1mab, 5e-5);
    EXPECT_NEAR(s.pdae_loss_weight(r.t), r.lambda, r.tol_lambda);
  }
  // Key values: alpha_bar_999 = 4.04e-5 (sqrt 0.00635); lambda peaks at t = 475 (0.722).
  EXPECT_NEAR(s.alpha_bar(999), 4.04e-5, 5e-8);
  EXPECT_NEAR(std::sqrt(s.alpha_bar(999)), 0.00635, 5e-6);
  int64_t peak = 0;
  for (int64_t t = 1; t < 1000; ++t)
    if (s.pdae_loss_weight(t) > s.pdae_loss_weight(peak)) peak = t;
  EXPECT_EQ(peak, 475);
  EXPECT_NEAR(s.pdae_loss_weight(peak), 0.722, 5e-4);
  // lambda = (1/(1+SNR))^0.9 (SNR/(1+SNR))^0.1, the reference's other form.
  const double r = s.snr(300);
  EXPECT_NEAR(s.pdae_loss_weight(300), std::pow(1 / (1 + r), 0.9) * std::pow(r / (1 + r), 0.1), 1e-15);
  EXPECT_DOUBLE_EQ(s.alpha_bar_prev(0), 1.0);
  EXPECT_DOUBLE_EQ(s.alpha_bar_prev(5), s.alpha_bar(4));
  EXPECT_DOUBLE_EQ(s.posterior_variance(0), 0.0);
  expect_error([&] { s.beta(1000); }, {"Schedule", "timestep 1000 outside [0, 999]"});
}

TEST(Schedule, CosineIsMonotoneAndEndsNearZero) {
  const Schedule s = Schedule::cosine(1000);
  for (int64_t t = 1; t < 1000; ++t) ASSERT_LT(s.alpha_bar(t), s.alpha_bar(t - 1));
  // alpha_bar_t = f(t + 1) / f(0) with f(t) = cos((t/T + s)/(1 + s) pi/2)^2.
  const double f0 = std::pow(std::cos(0.008 / 1.008 * M_PI / 2), 2);
  const double f500 = std::pow(std::cos((0.501 + 0.008) / 1.008 * M_PI / 2), 2);
  EXPECT_NEAR(s.alpha_bar(500), f500 / f0, 1e-12);
  EXPECT_LE(s.beta(999), 0.999);
  EXPECT_LT(s.alpha_bar(999), 1e-6);
  EXPECT_EQ(Schedule::named("linear").betas(), Schedule::linear().betas());
  expect_error([] { Schedule::named("quadratic"); }, {"Schedule::named", "linear or cosine"});
  expect_error([] { Schedule(std::vector<double>{0.1, 1.5}); }, {"Schedule", "beta_1"});
}

// ---- Forward process and losses --------------------------------------------------------------

TEST(Forward, QSampleAndPredictX0AreInverse) {
  const Schedule s = Schedule::linear();
  Generator gen(3);
  const Tensor x0 = randn({3, 2, 4}, gen, DType::F64), eps = randn({3, 2, 4}, gen, DType::F64);
  const std::vector<int64_t> t = {0, 400, 999};
  const Tensor xt = q_sample(s, x0, t, eps);
  for (int64_t i = 0; i < 3; ++i) {
    const double a = s.alpha_bar(t[static_cast<size_t>(i)]);
    EXPECT_NEAR(xt.at({i, 1, 2}), std::sqrt(a) * x0.at({i, 1, 2}) + std::sqrt(1 - a) * eps.at({i, 1, 2}), 1e-14);
  }
  EXPECT_LT(rms(predict_x0(s, xt, t, eps), x0), 1e-10);
  expect_error([&] { q_sample(s, x0, {1, 2}, eps); }, {"q_sample", "one timestep per sample"});
  expect_error([&] { q_sample(s, x0, t, eps.slice(2, 0, 2)); }, {"q_sample", "differs"});
}

TEST(Forward, QSampleIsDifferentiable) {
  const Schedule s = Schedule::linear();
  Generator gen(4);
  auto f = [&](const std::vector<Tensor>& in) { return q_sample(s, in[0], {10, 700}, in[1]); };
  EXPECT_GRADCHECK(f, (std::vector<Tensor>{ldae::testing::leaf({2, 3}, gen), ldae::testing::leaf({2, 3}, gen)}));
}

TEST(Forward, TimestepsAreUniform) {
  Generator gen(5);
  const std::vector<int64_t> t = sample_timesteps(20000, 1000, gen);
  double sum = 0;
  for (int64_t v : t) {
    ASSERT_GE(v, 0);
    ASSERT_LT(v, 1000);
    sum += static_cast<double>(v);
  }
  EXPECT_NEAR(sum / 20000.0, 499.5, 5.0);  // 3 standard errors: 3 * 288.7 / sqrt(20000)
}

TEST(DiffusionLoss, PdaeLossMatchesTheFormulaAndIsZeroForTheIdealShift) {
  const Schedule s = Schedule::linear();
  Generator gen(6);
  const std::vector<int64_t> t = {30, 600};
  const Tensor eps = randn({2, 5}, gen, DType::F64), theta = randn({2, 5}, gen, DType::F64);
  const Tensor g = randn({2, 5}, gen, DType::F64);
  double want = 0;
  for (int64_t i = 0; i < 2; ++i)
    for (int64_t j = 0; j < 5; ++j) {
      const int64_t ti = t[static_cast<size_t>(i)];
      const double r = eps.at({i, j}) - (theta.at({i, j}) + s.pdae_shift_coef(ti) * g.at({i, j}));
      want += s.pdae_loss_weight(ti) * r * r / 10.0;
    }
  EXPECT_NEAR(pdae_loss(s, t, eps, theta, g).item(), want, 1e-14);
  // G = (eps - eps_theta) / k_t makes the loss vanish.
  const Tensor ideal = div(sub(eps, theta), per_sample({s.pdae_shift_coef(30), s.pdae_shift_coef(600)}, eps));
  EXPECT_NEAR(pdae_loss(s, t, eps, theta, ideal).item(), 0.0, 1e-25);
  EXPECT_NEAR(eps_mse_loss(theta, eps).item(), mean(pow_scalar(sub(theta, eps), 2)).item(), 1e-15);
  // Differentiable in the shift.
  auto f = [&](const std::vector<Tensor>& in) { return pdae_loss(s, t, eps, theta, in[0]); };
  EXPECT_GRADCHECK(f, (std::vector<Tensor>{ldae::testing::leaf({2, 5}, gen)}));
}

// ---- DDIM ---------------------------------------------------------------------------------------

TEST(Ddim, StepMapsMatchTheReference) {
  EXPECT_EQ(ddim_timesteps(1000, 10), (std::vector<int64_t>{0, 99, 199, 299, 399, 499, 599, 699, 799, 899, 999}));
  const auto d20 = ddim_timesteps(1000, 20);
  EXPECT_EQ(std::vector<int64_t>(d20.begin(), d20.begin() + 4), (std::vector<int64_t>{0, 49, 99, 149}));
  EXPECT_EQ(d20[19], 949);
  const auto d50 = ddim_timesteps(1000, 50);
  EXPECT_EQ(std::vector<int64_t>(d50.begin(), d50.begin() + 6), (std::vector<int64_t>{0, 19, 39, 59, 79, 99}));
  EXPECT_EQ(std::vector<int64_t>(d50.end() - 4, d50.end()), (std::vector<int64_t>{939, 959, 979, 999}));
  const auto d100 = ddim_timesteps(1000, 100);
  ASSERT_EQ(d100.size(), 101u);
  EXPECT_EQ(std::vector<int64_t>(d100.begin(), d100.begin() + 4), (std::vector<int64_t>{0, 9, 19, 29}));
  EXPECT_EQ(std::vector<int64_t>(d100.end() - 3, d100.end()), (std::vector<int64_t>{979, 989, 999}));
  for (int64_t i = 1; i <= 50; ++i) EXPECT_EQ(d50[static_cast<size_t>(i)], static_cast<int64_t>(std::floor(19.98 * i)));
  EXPECT_EQ(ddim_timesteps(1000, 999).back(), 999);
  expect_error([] { ddim_timesteps(1000, 1000); }, {"ddim_timesteps", "1 <= steps <= T-1 = 999"});
  expect_error([] { ddim_timesteps(1000, 0); }, {"ddim_timesteps"});
}

TEST(Ddim, InversionThenSamplingReturnsTheInputCloserWithMoreSteps) {
  const Schedule s = Schedule::linear();
  const GaussianData data{0.5, 0.3, &s};
  Generator gen(7);
  const Tensor x0 = add_scalar(mul_scalar(randn({8, 64}, gen, DType::F64), data.sigma), data.mu);
  const EpsFn eps = [&](const Tensor& x, int64_t t) { return data.eps(x, t); };
  std::vector<double> errors;
  for (int64_t S : {10, 50, 200}) {
    DdimOptions o;
    o.steps = S;
    const Tensor z = ddim_encode(s, x0, eps, o);
    const Tensor back = ddim_sample(s, z, eps, o);
    errors.push_back(rms(back, x0));
    if (S == 200) {  // the code is close to N(0, 1): the encoder undoes the data distribution
      EXPECT_NEAR(std_of(z), 1.0, 0.05);
      EXPECT_NEAR(mean_of(z), 0.0, 0.05);
    }
  }
  // Discretisation error of the probability-flow ODE: about 1/S.
  EXPECT_LT(errors[1], errors[0] / 2.5) << errors[0] << " " << errors[1];
  EXPECT_LT(errors[2], errors[1] / 2.5) << errors[1] << " " << errors[2];
  EXPECT_LT(errors[2], 0.02);
}

TEST(Ddim, SamplingFromNoiseReproducesTheDataDistribution) {
  const Schedule s = Schedule::linear();
  const GaussianData data{0.5, 0.3, &s};
  const EpsFn eps = [&](const Tensor& x, int64_t t) { return data.eps(x, t); };
  for (double eta : {0.0, 1.0}) {
    Generator gen(8);
    DdimOptions o;
    o.steps = 200;
    o.eta = eta;
    int64_t calls = 0;
    o.on_step = [&](int64_t done, int64_t total) {
      EXPECT_EQ(done, ++calls);
      EXPECT_EQ(total, 200);
    };
    const Tensor x = ddim_sample(s, randn({4000}, gen, DType::F64), eps, o, &gen);
    EXPECT_EQ(calls, 200);
    EXPECT_NEAR(mean_of(x), 0.5, 0.02) << "eta " << eta;
    EXPECT_NEAR(std_of(x), 0.3, 0.02) << "eta " << eta;
  }
  DdimOptions o;
  o.eta = 0.5;
  expect_error([&] { ddim_sample(s, Tensor::zeros({2}), eps, o); }, {"ddim_sample", "Generator"});
}

TEST(Ddim, ShiftIsAppliedWithTheChosenCoefficient) {
  // A wrong predictor (mean 0 instead of 0.5) plus the shift G = (right - wrong) / c must
  // behave exactly like the right predictor, for either coefficient c.
  const Schedule s = Schedule::linear();
  const GaussianData right{0.5, 0.3, &s}, wrong{0.0, 0.3, &s};
  Generator gen(9);
  const Tensor x0 = add_scalar(mul_scalar(randn({2, 16}, gen, DType::F64), 0.3), 0.5);
  const EpsFn plain = [&](const Tensor& x, int64_t t) { return right.eps(x, t); };
  DdimOptions o;
  o.steps = 20;
  const Tensor z_plain = ddim_encode(s, x0, plain, o);
  const Tensor x_plain = ddim_sample(s, z_plain, plain, o);
  for (ShiftCoefficient which : {ShiftCoefficient::Reference, ShiftCoefficient::Training}) {
    o.shift_coefficient = which;
    const ShiftedEpsFn shifted = [&](const Tensor& x, int64_t t) {
      const double c = which == ShiftCoefficient::Reference ? -std::sqrt(1 - s.alpha_bar(t)) : s.pdae_shift_coef(t);
      if (c == 0) return EpsAndShift{right.eps(x, t), Tensor()};  // k_0 = 0: no shift possible
      const Tensor w = wrong.eps(x, t);
      return EpsAndShift{w, mul_scalar(sub(right.eps(x, t), w), 1.0 / c)};
    };
    EXPECT_LT(rms(ddim_encode_shifted(s, x0, shifted, o), z_plain), 1e-12);
    EXPECT_LT(rms(ddim_sample_shifted(s, z_plain, shifted, o), x_plain), 1e-12);
  }
  // stop_percent = 1: sampling never applies the shift, i.e. uses the wrong predictor.
  o.shift_coefficient = ShiftCoefficient::Reference;
  o.stop_percent = 1.0;
  const ShiftedEpsFn only_wrong_plus_shift = [&](const Tensor& x, int64_t t) {
    return EpsAndShift{wrong.eps(x, t), Tensor::full(x.shape(), 100.0, DType::F64)};
  };
  const EpsFn wrong_fn = [&](const Tensor& x, int64_t t) { return wrong.eps(x, t); };
  EXPECT_EQ(ddim_sample_shifted(s, z_plain, only_wrong_plus_shift, o).to_vector(),
            ddim_sample(s, z_plain, wrong_fn, o).to_vector());
}

TEST(Ddim, X0ClampModes) {
  const Tensor x = Tensor::from_vector({-3, -0.5, 0.2, 2.5, 0.1, 0.2, 0.3, 0.4}, {2, 4}, DType::F64);
  EXPECT_EQ(clamp_x0(x, X0Clamp::off()).to_vector(), x.to_vector());
  EXPECT_EQ(clamp_x0(x, X0Clamp::at(1.0)).to_vector(), (std::vector<double>{-1, -0.5, 0.2, 1, 0.1, 0.2, 0.3, 0.4}));
  // Row 0: |x| sorted 0.2 0.5 2.5 3; the 0.5 quantile is 1.5 (interpolated); row 1 stays
  // within min_value 1.
  EXPECT_EQ(clamp_x0(x, X0Clamp::dynamic(0.5)).to_vector(),
            (std::vector<double>{-1.5, -0.5, 0.2, 1.5, 0.1, 0.2, 0.3, 0.4}));
  // With a small min_value row 1 is clamped too: its 0.5 quantile of 0.1..0.4 is 0.25.
  EXPECT_EQ(clamp_x0(x, X0Clamp::dynamic(0.5, 0.0)).to_vector()[7], 0.25);
  expect_error([&] { clamp_x0(x, X0Clamp::dynamic(0.0)); }, {"clamp_x0", "percentile"});

  // In sampling: the predicted x0 never leaves [-v, v], so the output stays within
  // v + sqrt(1 - alpha_bar_0) * |eps|.
  const Schedule s = Schedule::linear();
  const GaussianData wide{0.0, 3.0, &s};
  Generator gen(10);
  DdimOptions o;
  o.steps = 10;
  o.clamp = X0Clamp::at(1.0);
  const Tensor out = ddim_sample(s, randn({500}, gen, DType::F64),
                                 [&](const Tensor& xt, int64_t t) { return wide.eps(xt, t); }, o);
  for (double v : out.to_vector()) ASSERT_LE(std::fabs(v), 1.05);
  o.clamp = X0Clamp::off();
  const Tensor free = ddim_sample(s, randn({500}, gen, DType::F64),
                                  [&](const Tensor& xt, int64_t t) { return wide.eps(xt, t); }, o);
  EXPECT_GT(std_of(free), 1.5);
}

TEST(Ddim, RefusesABadDenoiser) {
  const Schedule s = Schedule::linear();
  DdimOptions o;
  o.steps = 5;
  expect_error([&] { ddim_sample(s, Tensor::zeros({2, 3}), [](const Tensor&, int64_t) { return Tensor::zeros({3}); }, o); },
               {"ddim_sample", "the denoiser returned (3,) for x_t (2, 3) at t = 999"});
  expect_error([&] { ddim_encode(s, Tensor::zeros({2, 3}), [](const Tensor&, int64_t) { return Tensor(); }, o); },
               {"ddim_encode", "returned nothing"});
  o.steps = 1000;
  expect_error([&] { ddim_encode(s, Tensor::zeros({2, 3}), [](const Tensor& x, int64_t) { return x; }, o); },
               {"ddim_timesteps"});
}

// ---- DDPM training of a tiny denoiser ------------------------------------------------------------

namespace {

// Toy 3D data: 1 x 4 x 4 x 4 volumes a * blob + b * ramp (a, b ~ N(0, 1)), a
// two-dimensional family in a 64-dimensional space, so a denoiser can learn a lot.
Tensor toy_volumes(int64_t n, Generator& gen) {
  std::vector<double> blob(64), ramp(64);
  for (int64_t z = 0; z < 4; ++z)
    for (int64_t y = 0; y < 4; ++y)
      for (int64_t x = 0; x < 4; ++x) {
        const double r2 = (z - 1.5) * (z - 1.5) + (y - 1.5) * (y - 1.5) + (x - 1.5) * (x - 1.5);
        blob[static_cast<size_t>(z * 16 + y * 4 + x)] = std::exp(-r2 / 2.0);
        ramp[static_cast<size_t>(z * 16 + y * 4 + x)] = (x - 1.5) / 1.5;
      }
  const Tensor coef = randn({n, 2, 1, 1, 1}, gen);
  const Tensor b = Tensor::from_vector(blob, {1, 1, 4, 4, 4}), r = Tensor::from_vector(ramp, {1, 1, 4, 4, 4});
  return add(mul(coef.slice(1, 0, 1), b), mul(coef.slice(1, 1, 2), r));
}

// conv -> SiLU -> conv -> SiLU -> conv, with the timestep as a second input channel.
class TinyDenoiser : public nn::Module {
 public:
  explicit TinyDenoiser(Generator& gen) {
    nn::ConvOptions o;
    o.kernel_size = {3};
    o.padding = {1};
    c1 = register_module("c1", std::make_shared<nn::Conv3d>(2, 8, o, gen));
    c2 = register_module("c2", std::make_shared<nn::Conv3d>(8, 8, o, gen));
    c3 = register_module("c3", std::make_shared<nn::Conv3d>(8, 1, o, gen));
  }
  // x: (N, 1, 4, 4, 4), t: N timesteps -> eps: (N, 1, 4, 4, 4)
  Tensor forward(const Tensor& x, const std::vector<int64_t>& t) const {
    std::vector<double> tt;
    for (int64_t v : t) tt.push_back(static_cast<double>(v) / 1000.0);
    const Tensor tmap = per_sample(tt, x).expand(x.shape());
    const Tensor h = ag::cat({x, tmap}, 1);
    return c3->forward(ag::silu(c2->forward(ag::silu(c1->forward(h)))));
  }
  std::shared_ptr<nn::Conv3d> c1, c2, c3;
};

}  // namespace

TEST(Ddpm, TrainingATinyDenoiserLowersTheLoss) {
  const Schedule s = Schedule::linear();
  Generator gen(11);
  TinyDenoiser net(gen);
  nn::Adam opt(net.named_parameters(), nn::AdamOptions{3e-3});

  // A fixed evaluation batch: data, timesteps and noise drawn once.
  Generator eval_gen(12);
  const Tensor ex0 = toy_volumes(64, eval_gen);
  const std::vector<int64_t> et = sample_timesteps(64, 1000, eval_gen);
  const Tensor eeps = randn(ex0.shape(), eval_gen);
  const Tensor ext = q_sample(s, ex0, et, eeps);
  auto eval_loss = [&] {
    NoGrad no_grad;
    return eps_mse_loss(net.forward(ext, et), eeps).item();
  };

  const double before = eval_loss();
  for (int step = 0; step < 150; ++step) {
    const Tensor x0 = toy_volumes(16, gen);
    const std::vector<int64_t> t = sample_timesteps(16, s.T(), gen);
    const Tensor eps = randn(x0.shape(), gen);
    opt.zero_grad();
    const Tensor loss = eps_mse_loss(net.forward(q_sample(s, x0, t, eps), t), eps);
    ag::backward(loss);
    opt.step();
  }
  const double after = eval_loss();
  // Predicting 0 scores 1; the trained denoiser must do far better than its start.
  EXPECT_LT(after, 0.5 * before) << "before " << before << " after " << after;
  EXPECT_LT(after, 0.35) << "before " << before << " after " << after;
}
