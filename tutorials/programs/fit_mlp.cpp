// Tutorial chapter 1 program: fit a two-layer perceptron to a noisy 1-d function by
// plain gradient descent, using only tensors and autograd (no nn/ layer yet).
//
//   y = sin(3x) + noise,  model: y_hat = W2 tanh(W1 x + b1) + b2
//
// Run: ./build/tutorials/fit_mlp [--steps N] [--hidden H] [--lr LR] [--seed S]
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "tensor/random.h"
#include "tutorials/programs/cli.h"

using namespace ldae;

namespace {

struct Options {
  int steps = 2000;
  int hidden = 32;
  double lr = 0.2;
  uint64_t seed = 0;
};

// The command line: every option, its default and its valid range.
void add_options(CLI::App& app, Options& o) {
  app.add_option("--steps", o.steps, "gradient-descent steps")->check(tutorial::kPositive)->capture_default_str();
  app.add_option("--hidden", o.hidden, "hidden units")->check(tutorial::kPositive)->capture_default_str();
  app.add_option("--lr", o.lr, "learning rate")->check(tutorial::kPositive)->capture_default_str();
  app.add_option("--seed", o.seed, "random seed (data, noise and initialisation)")->capture_default_str();
}
}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{"Fits y = sin(3x) + noise on 256 points in [-1, 1] with a tanh MLP by gradient descent,\n"
                "printing the mean squared error every 10% of the steps."};
  add_options(app, opt);
  if (const int code = tutorial::parse(app, argc, argv); code >= 0) return code;
  Generator gen(opt.seed);

  // Data: x (256, 1) evenly spaced in [-1, 1], y = sin(3x) + 0.05 noise.
  const int64_t n = 256;
  std::vector<double> xs(n), ys(n);
  for (int64_t i = 0; i < n; ++i) {
    xs[i] = -1.0 + 2.0 * static_cast<double>(i) / (n - 1);
    ys[i] = std::sin(3.0 * xs[i]);
  }
  Tensor x = Tensor::from_vector(xs, {n, 1});
  Tensor y = add(Tensor::from_vector(ys, {n, 1}), randn({n, 1}, gen, DType::F32, 0.0, 0.05));

  // Parameters: leaves that require grad. Scaled normal initialisation.
  const int64_t h = opt.hidden;
  Tensor w1 = randn({h, 1}, gen, DType::F32, 0.0, 1.0).set_requires_grad();
  Tensor b1 = Tensor::zeros({h}).set_requires_grad();
  Tensor w2 = randn({1, h}, gen, DType::F32, 0.0, 1.0 / std::sqrt(static_cast<double>(h))).set_requires_grad();
  Tensor b2 = Tensor::zeros({1}).set_requires_grad();
  Tensor params[] = {w1, b1, w2, b2};

  for (int step = 1; step <= opt.steps; ++step) {
    // Forward: records the graph because the parameters require grad.
    Tensor hidden = ag::tanh(ag::linear(x, w1, b1));      // (n, h)
    Tensor prediction = ag::linear(hidden, w2, b2);       // (n, 1)
    Tensor loss = ag::mean(ag::pow(prediction - y, 2.0));  // scalar

    // Backward: fills w1.grad(), b1.grad(), ...
    for (Tensor& p : params) p.set_grad(Tensor());
    ag::backward(loss);

    // Update: p <- p - lr * grad, outside the graph.
    {
      NoGrad no_grad;
      for (Tensor& p : params) p.copy_(add_scaled(p, p.grad(), -opt.lr));
    }
    if (step == 1 || step % std::max(1, opt.steps / 10) == 0)
      std::printf("step %5d/%d  mse %.5f\n", step, opt.steps, loss.item());
  }
  return 0;
}
