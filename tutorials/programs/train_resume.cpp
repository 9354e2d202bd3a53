// Tutorial chapter 2 program: a complete training loop with the nn/ building blocks,
// checkpoints every K steps, and exact resume.
//
//   model     3 -> 32 -> 32 -> 1 MLP with SiLU and dropout (nn::Linear, nn::Dropout)
//   task      regress y = tanh(x0) + x1 * x2 from random batches
//   training  AdamW, gradient clipping, linear warm-up + cosine LR, EMA of the weights,
//             a progress line and a CSV log of loss and lr
//
// Run it once uninterrupted, then "crash" it with --stop-after and continue with
// --resume: the final fingerprint (a hash of every weight's bytes) is the same.
//
//   ./build/tutorials/train_resume --ckpt /tmp/a.safetensors --log /tmp/a.csv
//   ./build/tutorials/train_resume --ckpt /tmp/b.safetensors --log /tmp/b.csv --stop-after 450
//   ./build/tutorials/train_resume --ckpt /tmp/b.safetensors --log /tmp/b.csv --resume
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "nn/adam.h"
#include "nn/checkpoint.h"
#include "nn/clip_grad.h"
#include "nn/csv_log.h"
#include "nn/dropout.h"
#include "nn/ema.h"
#include "nn/linear.h"
#include "nn/lr_schedule.h"
#include "nn/progress.h"
#include "tensor/ops.h"
#include "tutorials/programs/cli.h"

using namespace ldae;

namespace {

struct Options {
  int64_t steps = 1000;
  int64_t every = 100;      // checkpoint every this many steps
  int64_t stop_after = 0;   // > 0: exit after this many steps, as if the process was killed
  bool resume = false;
  std::string ckpt = "train_resume.safetensors";
  std::string log = "train_resume.csv";
  uint64_t seed = 0;
};

// The command line: every option, its default and its valid range.
void add_options(CLI::App& app, Options& o) {
  app.add_option("--steps", o.steps, "training steps")->check(tutorial::kPositive)->capture_default_str();
  app.add_option("--every", o.every, "write a checkpoint every K steps")->check(tutorial::kPositive)->capture_default_str();
  app.add_option("--stop-after", o.stop_after, "M > 0: quit after M steps (a simulated crash)")
      ->check(tutorial::kNonNegative)->capture_default_str();
  app.add_flag("--resume", o.resume, "continue from the checkpoint");
  app.add_option("--ckpt", o.ckpt, "checkpoint file")->capture_default_str();
  app.add_option("--log", o.log, "CSV log of the loss")->capture_default_str();
  app.add_option("--seed", o.seed, "random seed")->capture_default_str();
}
// The model: named children make the checkpoint keys ("fc1.weight", ...).
class Mlp : public nn::Module {
 public:
  Mlp(Generator& init, std::shared_ptr<Generator> noise) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(3, 32, init));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(32, 32, init));
    drop = register_module("drop", std::make_shared<nn::Dropout>(0.1, std::move(noise)));
    fc3 = register_module("fc3", std::make_shared<nn::Linear>(32, 1, init));
  }
  // x: (N, 3) -> (N, 1)
  Tensor forward(const Tensor& x) const {
    Tensor h = ag::silu(fc1->forward(x));
    h = drop->forward(ag::silu(fc2->forward(h)));
    return fc3->forward(h);
  }
  std::shared_ptr<nn::Linear> fc1, fc2, fc3;
  std::shared_ptr<nn::Dropout> drop;
};

// A batch of the task: x ~ N(0, 1)^3, y = tanh(x0) + x1 x2.
void make_batch(Generator& data, Tensor* x, Tensor* y) {
  *x = randn({64, 3}, data);
  *y = add(ldae::tanh(x->slice(1, 0, 1)), mul(x->slice(1, 1, 2), x->slice(1, 2, 3)));
}

// FNV-1a over the bytes of every tensor: equal fingerprints mean bit-identical weights.
uint64_t fingerprint(const std::map<std::string, Tensor>& state, uint64_t h = 1469598103934665603ull) {
  for (const auto& [name, t] : state) {
    const Tensor c = t.contiguous();
    const auto* p = static_cast<const unsigned char*>(static_cast<const void*>(c.data<float>()));
    for (size_t i = 0; i < static_cast<size_t>(c.numel()) * sizeof(float); ++i) h = (h ^ p[i]) * 1099511628211ull;
  }
  return h;
}

}  // namespace

int main(int argc, char** argv) {
  Options opt;
  CLI::App app{"Trains a small MLP with AdamW + EMA, writing a checkpoint every K steps and the loss to a\n"
                "CSV log. --stop-after M quits after M steps (a simulated crash); --resume continues\n"
                "from the checkpoint. Prints a fingerprint of the final weights."};
  add_options(app, opt);
  if (const int code = tutorial::parse(app, argc, argv); code >= 0) return code;
  try {
    // Everything random comes from generators that the checkpoint saves.
    Generator init(opt.seed), data(opt.seed + 1);
    auto noise = std::make_shared<Generator>(opt.seed + 2);  // dropout masks
    Mlp model(init, noise);
    nn::AdamW optimizer(model.named_parameters(), nn::AdamOptions{1e-2, 0.9, 0.999, 1e-8, 1e-4});
    nn::Ema ema(model, nn::EmaOptions{0.99, /*warmup=*/true});
    nn::LrSchedule schedule;
    schedule.base_lr = 1e-2;
    schedule.warmup_steps = 50;
    schedule.decay = nn::LrDecay::Cosine;
    schedule.total_steps = opt.steps;
    schedule.min_lr = 1e-4;

    int64_t step = 0;
    if (opt.resume) {
      const nn::TrainingState s = nn::load_checkpoint(opt.ckpt, model, &optimizer, &ema);
      step = s.step;
      data = s.generators.at("data");
      *noise = s.generators.at("noise");  // the Dropout layer holds this generator
      std::fprintf(stderr, "resumed from %s at step %lld\n", opt.ckpt.c_str(), static_cast<long long>(step));
    }
    nn::CsvLog log(opt.log, {"loss", "lr", "grad_norm"}, opt.resume ? step : -1);
    nn::Progress progress("train", opt.steps, step);

    double loss_value = 0;
    for (; step < opt.steps; ++step) {
      if (opt.stop_after > 0 && step == opt.stop_after) {
        progress.finish();
        std::fprintf(stderr, "stopping after %lld steps (simulated crash; the last checkpoint is at step %lld)\n",
                    static_cast<long long>(step), static_cast<long long>(step / opt.every * opt.every));
        return 0;
      }
      Tensor x, y;
      make_batch(data, &x, &y);
      optimizer.zero_grad();
      const Tensor loss = ag::mse_loss(model.forward(x), y);
      ag::backward(loss);
      const double grad_norm = nn::clip_grad_norm(model.parameters(), 1.0);
      optimizer.set_lr(schedule.at(step));
      optimizer.step();
      ema.update(model);

      loss_value = loss.item();
      log.log(step + 1, {{"loss", loss_value}, {"lr", optimizer.lr()}, {"grad_norm", grad_norm}});
      progress.update(step + 1, {{"loss", loss_value}, {"lr", optimizer.lr()}});
      if ((step + 1) % opt.every == 0) {
        nn::TrainingState s;
        s.step = step + 1;
        s.generators = {{"data", data}, {"noise", *noise}};
        s.metadata = {{"program", "train_resume"}};
        nn::save_checkpoint(opt.ckpt, model, &optimizer, &ema, s);
      }
    }
    progress.finish();

    // Evaluate the EMA weights on a fixed held-out batch (eval mode: no dropout).
    Generator held_out(12345);
    Tensor x, y;
    make_batch(held_out, &x, &y);
    Mlp eval_model(init, std::make_shared<Generator>(0));  // weights replaced by the EMA's
    ema.copy_to(eval_model);
    eval_model.eval();
    NoGrad no_grad;
    std::printf("final training loss %.6f, EMA model held-out mse %.6f\n", loss_value,
                ldae::mse_loss(eval_model.forward(x), y).item());
    std::printf("fingerprint of weights + EMA: %016llx\n",
                static_cast<unsigned long long>(fingerprint(ema.state_dict(), fingerprint(model.state_dict()))));
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
  return 0;
}
