// Tutorial chapter 3 program: train a DDPM noise predictor on a toy 3D point cloud and
// sample from it with DDIM.
//
//   data      points on a ring: (cos u, sin u, 0) + N(0, 0.03^2) noise, u ~ U(0, 2 pi)
//   model     eps_theta(x_t, t) = MLP([x_t, sinusoidal embedding of t]), 3+32 -> 128 -> 128 -> 3
//   training  t ~ U{0..999}, eps ~ N(0, I), loss = |eps - eps_theta(x_t, t)|^2 (ldae-reference 4.2)
//   sampling  DDIM from N(0, I), S steps (diffusion/ddim.h)
//
// The samples should lie on the ring: radius about 1, height about 0.
//
//   ./build/tutorials/ddpm_toy
//   ./build/tutorials/ddpm_toy --steps 4000 --ddim 100
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "diffusion/ddim.h"
#include "diffusion/forward.h"
#include "diffusion/loss.h"
#include "nn/adam.h"
#include "nn/embedding.h"
#include "nn/ema.h"
#include "nn/linear.h"
#include "nn/progress.h"
#include "tensor/ops.h"
#include "tutorials/programs/cli.h"

using namespace ldae;
using namespace ldae::diffusion;

namespace {

struct Options {
  int64_t steps = 3000;  // training steps
  int64_t ddim = 50;     // sampling steps
  int64_t batch = 256;
  uint64_t seed = 0;
};

// The command line: every option, its default and its valid range.
void add_options(CLI::App& app, Options& o) {
  app.add_option("--steps", o.steps, "training steps")->check(tutorial::kPositive)->capture_default_str();
  app.add_option("--ddim", o.ddim, "DDIM sampling steps")->check(CLI::Range(1, 999))->capture_default_str();
  app.add_option("--batch", o.batch, "batch size")->check(tutorial::kPositive)->capture_default_str();
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
}
// n points on the unit ring in the z = 0 plane, with a little noise: (n, 3).
Tensor ring(int64_t n, Generator& gen) {
  const std::vector<double> u = rand({n}, gen, DType::F64, 0.0, 2 * M_PI).to_vector();
  std::vector<double> p(static_cast<size_t>(3 * n));
  for (size_t i = 0; i < u.size(); ++i) {
    p[3 * i] = std::cos(u[i]);
    p[3 * i + 1] = std::sin(u[i]);
    p[3 * i + 2] = 0.0;
  }
  return add(Tensor::from_vector(p, {n, 3}), randn({n, 3}, gen, DType::F32, 0.0, 0.03));
}

class Denoiser : public nn::Module {
 public:
  explicit Denoiser(Generator& gen) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(3 + 32, 128, gen));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(128, 128, gen));
    fc3 = register_module("fc3", std::make_shared<nn::Linear>(128, 3, gen));
  }
  // x_t: (N, 3), t: N timesteps -> eps: (N, 3)
  Tensor forward(const Tensor& x, const std::vector<int64_t>& t) const {
    std::vector<double> tv(t.begin(), t.end());
    const Tensor emb = nn::timestep_embedding(Tensor::from_vector(tv, {static_cast<int64_t>(t.size())}), 32);
    Tensor h = ag::silu(fc1->forward(ag::cat({x, emb}, 1)));
    h = ag::silu(fc2->forward(h));
    return fc3->forward(h);
  }
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;
};

// Radius in the plane and height of sampled points: mean and standard deviation.
void report(const char* what, const Tensor& pts) {
  const std::vector<double> v = pts.to_vector();
  const size_t n = v.size() / 3;
  double r = 0, r2 = 0, z = 0, z2 = 0;
  for (size_t i = 0; i < n; ++i) {
    const double ri = std::hypot(v[3 * i], v[3 * i + 1]), zi = v[3 * i + 2];
    r += ri, r2 += ri * ri, z += zi, z2 += zi * zi;
  }
  r /= n, z /= n;
  std::printf("%-22s radius %.3f +- %.3f   height %+.3f +- %.3f\n", what, r, std::sqrt(std::max(0.0, r2 / n - r * r)),
              z, std::sqrt(std::max(0.0, z2 / n - z * z)));
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{"Trains a small DDPM on points of a ring in 3D and samples it with S-step DDIM."};
  add_options(app, opt);
  if (const int code = tutorial::parse(app, argc, argv); code >= 0) return code;
  const Schedule s = Schedule::linear();
  Generator gen(opt.seed);
  Denoiser net(gen);
  nn::Adam optimizer(net.named_parameters(), nn::AdamOptions{2e-3});
  nn::Ema ema(net, nn::EmaOptions{0.995, true});

  report("data", ring(2000, gen));
  nn::Progress progress("train", opt.steps);
  for (int64_t step = 0; step < opt.steps; ++step) {
    const Tensor x0 = ring(opt.batch, gen);
    const std::vector<int64_t> t = sample_timesteps(opt.batch, s.T(), gen);
    const Tensor eps = randn(x0.shape(), gen);
    optimizer.zero_grad();
    const Tensor loss = eps_mse_loss(net.forward(q_sample(s, x0, t, eps), t), eps);
    ag::backward(loss);
    optimizer.step();
    ema.update(net);
    progress.update(step + 1, {{"loss", loss.item()}});
  }

  // Sample with the EMA weights.
  Denoiser sampler(gen);
  ema.copy_to(sampler);
  const EpsFn eps_fn = [&](const Tensor& x, int64_t t) {
    return sampler.forward(x, std::vector<int64_t>(static_cast<size_t>(x.size(0)), t));
  };
  DdimOptions o;
  o.steps = opt.ddim;
  const Tensor noise = randn({2000, 3}, gen);
  report("DDIM samples", ddim_sample(s, noise, eps_fn, o));
  o.eta = 1.0;
  report("DDIM samples, eta 1", ddim_sample(s, noise, eps_fn, o, &gen));
  report("the starting noise", noise);
  return 0;
}
