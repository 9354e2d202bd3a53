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
#include <cstring>
#include <string>
#include <vector>

#include "diffusion/ddim.h"
#include "diffusion/schedule.h"
#include "tensor/ops.h"

using namespace ldae;
using namespace ldae::diffusion;

namespace {

struct Options {
  double mu = 0.5, sigma = 0.3, eta = 0.0, clamp = 0.0;
  int64_t n = 4000;
  uint64_t seed = 0;
};

void usage(const char* argv0) {
  std::printf(
      "usage: %s [--mu M] [--sigma S] [--eta E] [--clamp V] [--n N] [--seed S]\n"
      "DDIM with the closed-form optimal noise predictor of N(mu, sigma^2) data: round-trip\n"
      "error of encode + sample and statistics of samples from noise, for several step counts.\n"
      "--clamp V > 0 clamps the predicted x0 to [-V, V] (the reference uses 1).\n",
      argv0);
}

bool parse(int argc, char** argv, Options* o) {
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--help" || arg == "-h") {
      usage(argv[0]);
      std::exit(0);
    }
    if (i + 1 >= argc) return false;
    const char* value = argv[++i];
    char* end = nullptr;
    if (arg == "--mu") o->mu = std::strtod(value, &end);
    else if (arg == "--sigma") o->sigma = std::strtod(value, &end);
    else if (arg == "--eta") o->eta = std::strtod(value, &end);
    else if (arg == "--clamp") o->clamp = std::strtod(value, &end);
    else if (arg == "--n") o->n = std::strtoll(value, &end, 10);
    else if (arg == "--seed") o->seed = std::strtoull(value, &end, 10);
    else return false;
    if (end == value || *end != '\0') return false;
  }
  return o->sigma > 0 && o->eta >= 0 && o->n > 1 && o->clamp >= 0;
}

double rms_diff(const Tensor& a, const Tensor& b) { return std::sqrt(mean(pow_scalar(sub(a, b), 2.0)).item()); }

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  if (!parse(argc, argv, &opt)) {
    usage(argv[0]);
    return 2;
  }
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
