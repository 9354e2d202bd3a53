// Tutorial chapter 3 program: check a DDIM sampler and encoder without any network.
//
// For data x0 ~ N(mu, sigma^2) the best noise predictor is known in closed form:
//   x_t = sqrt(a) x0 + sqrt(1 - a) eps  is  N(sqrt(a) mu, a sigma^2 + 1 - a), so
//   E[eps | x_t] = sqrt(1 - a) (x_t - sqrt(a) mu) / (a sigma^2 + 1 - a).
// With it, DDIM is exact up to its time discretisation: encoding data and sampling it
// back must return the data, closer and closer as the number of steps S grows, and
// sampling from pure noise must give mean mu and standard deviation sigma.
//
//   ./build/tutorials/ddim_gaussian
//   ./build/tutorials/ddim_gaussian --mu 2 --sigma 0.1 --eta 1
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "diffusion/ddim.h"
#include "diffusion/schedule.h"
#include "tensor/ops.h"
#include "tutorials/programs/cli.h"

using namespace ldae;
using namespace ldae::diffusion;

namespace {

struct Options {
  double mu = 0.5, sigma = 0.3, eta = 0.0, clamp = 0.0;
  int64_t n = 4000;
  uint64_t seed = 0;
};

// The command line: every option, its default and its valid range.
void add_options(CLI::App& app, Options& o) {
  app.add_option("--mu", o.mu, "mean of the data distribution")->capture_default_str();
  app.add_option("--sigma", o.sigma, "standard deviation of the data")->check(tutorial::kPositive)->capture_default_str();
  app.add_option("--eta", o.eta, "DDIM eta (0: deterministic)")->check(tutorial::kNonNegative)->capture_default_str();
  app.add_option("--clamp", o.clamp, "V > 0 clamps the predicted x0 to [-V, V] (the reference uses 1); 0: off")
      ->check(tutorial::kNonNegative)->capture_default_str();
  app.add_option("--n", o.n, "samples")->check(CLI::Range(int64_t{2}, int64_t{1} << 30))->capture_default_str();
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
}
double rms_diff(const Tensor& a, const Tensor& b) { return std::sqrt(mean(pow_scalar(sub(a, b), 2.0)).item()); }

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{"DDIM with the closed-form optimal noise predictor of N(mu, sigma^2) data: round-trip\n"
                "error of encode + sample and statistics of samples from noise, for several step counts."};
  add_options(app, opt);
  if (const int code = tutorial::parse(app, argc, argv); code >= 0) return code;
  const Schedule s = Schedule::linear();  // T = 1000, beta 1e-4 .. 0.02
  // The optimal noise predictor for N(mu, sigma^2) data.
  const EpsFn eps = [&](const Tensor& x, int64_t t) {
    const double a = s.alpha_bar(t);
    return mul_scalar(add_scalar(x, -std::sqrt(a) * opt.mu), std::sqrt(1 - a) / (a * opt.sigma * opt.sigma + 1 - a));
  };
  Generator gen(opt.seed);
  const Tensor x0 = randn({opt.n}, gen, DType::F64, opt.mu, opt.sigma);
  const Tensor noise = randn({opt.n}, gen, DType::F64);

  std::printf("data N(%g, %g^2), %lld samples, eta %g, x0 clamp %s\n\n", opt.mu, opt.sigma,
              static_cast<long long>(opt.n), opt.eta, opt.clamp > 0 ? std::to_string(opt.clamp).c_str() : "off");
  std::printf("%6s  %14s  %12s  %12s  %12s\n", "steps", "round-trip rms", "code std", "sample mean", "sample std");
  for (int64_t steps : {5, 10, 20, 50, 100, 200, 500}) {
    DdimOptions o;
    o.steps = steps;
    if (opt.clamp > 0) o.clamp = X0Clamp::at(opt.clamp);
    const Tensor z = ddim_encode(s, x0, eps, o);        // data -> noise (deterministic)
    const Tensor back = ddim_sample(s, z, eps, o);      // noise -> data (eta 0: deterministic)
    o.eta = opt.eta;
    Generator sample_gen(opt.seed + 1);
    const Tensor fresh = ddim_sample(s, noise, eps, o, &sample_gen);  // new samples from noise
    const double m = mean(fresh).item();
    std::printf("%6lld  %14.6f  %12.4f  %12.4f  %12.4f\n", static_cast<long long>(steps), rms_diff(back, x0),
                std::sqrt(mean(pow_scalar(add_scalar(z, -mean(z).item()), 2.0)).item()), m,
                std::sqrt(mean(pow_scalar(add_scalar(fresh, -m), 2.0)).item()));
  }
  return 0;
}
