// Exact resume: a run that is killed and resumed from its last checkpoint must produce
// bit-identical losses, weights, optimizer state, EMA and metrics log to a run that was
// never interrupted (CPU). Everything random (data, dropout masks) comes from
// Generators that the checkpoint saves. Two networks: TinyNet (Linear layers only) and
// TinyConvNet (stride-2 and stride-1 Conv3d, group norm, attention, dropout), so that the
// kernels of the real networks must be bit-reproducible too.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <memory>
#include <sstream>

#include "autograd/engine.h"
#include "common/tiny_net.h"
#include "nn/adam.h"
#include "nn/checkpoint.h"
#include "nn/clip_grad.h"
#include "nn/csv_log.h"
#include "nn/lr_schedule.h"
#include "tensor/ops.h"

using namespace ldae;
using namespace ldae::nn;
using ldae::testing::TinyConvNet;
using ldae::testing::TinyNet;
namespace fs = std::filesystem;

namespace {

constexpr int kSteps = 20;     // the whole run
constexpr int kEvery = 6;      // checkpoint every 6 steps
constexpr int kKilledAt = 15;  // the interrupted run dies after 15 steps (last checkpoint: 12)

// A batch (x, target) for each network, drawn from `data`.
void draw_batch(const TinyNet&, Generator& data, Tensor& x, Tensor& target) {
  x = randn({16, 3}, data);
  // a fixed function of x: (tanh x0 + x1 x2, x0 - x2)
  const Tensor x0 = x.slice(1, 0, 1), x1 = x.slice(1, 1, 2), x2 = x.slice(1, 2, 3);
  target = cat({add(tanh(x0), mul(x1, x2)), sub(x0, x2)}, 1);
}
void draw_batch(const TinyConvNet&, Generator& data, Tensor& x, Tensor& target) {
  x = randn({4, 1, 8, 8, 8}, data);             // (N, 1, D, H, W)
  target = tanh(avg_pool3d(x, {2, 2, 2}, {}));  // (N, 1, D/2, H/2, W/2)
}

// Everything a training run owns. `init_seed` differs between the runs on purpose: a
// resumed run must take all of its state from the checkpoint.
template <typename Net>
struct TrainingRun {
  explicit TrainingRun(uint64_t init_seed)
      : init(init_seed),
        noise(std::make_shared<Generator>(init_seed + 100)),
        data(init_seed + 200),
        net(init, noise),
        opt(net.named_parameters(), AdamOptions{3e-2, 0.9, 0.999, 1e-8, 0.05}),
        ema(net, EmaOptions{0.9, true}) {
    schedule.base_lr = 3e-2;
    schedule.warmup_steps = 4;
    schedule.decay = LrDecay::Cosine;
    schedule.total_steps = kSteps;
  }

  // One training step; returns the loss.
  double train_step(int64_t step) {
    Tensor x, target;
    draw_batch(net, data, x, target);
    opt.zero_grad();
    const Tensor loss = ag::mse_loss(net.forward(x), target);
    ag::backward(loss);
    clip_grad_norm(net.parameters(), 0.5);
    opt.set_lr(schedule.at(step));
    opt.step();
    ema.update(net);
    return loss.item();
  }

  void save(const std::string& path, int64_t step) {
    TrainingState s;
    s.step = step;
    s.generators = {{"noise", *noise}, {"data", data}};
    s.metadata = {{"run", "resume-test"}};
    save_checkpoint(path, net, &opt, &ema, s);
  }

  int64_t load(const std::string& path) {
    const TrainingState s = load_checkpoint(path, net, &opt, &ema);
    *noise = s.generators.at("noise");  // the dropout layer shares this generator
    data = s.generators.at("data");
    return s.step;
  }

  Generator init;
  std::shared_ptr<Generator> noise;
  Generator data;
  Net net;
  AdamW opt;
  Ema ema;
  LrSchedule schedule;
};

// Trains from `start` to `stop`, checkpointing every kEvery steps and logging each
// loss to the CSV log and to `losses` (indexed by step).
template <typename Net>
void train(TrainingRun<Net>& run, int64_t start, int64_t stop, const std::string& ckpt, CsvLog& log,
           std::vector<double>& losses) {
  for (int64_t step = start; step < stop; ++step) {
    const double loss = run.train_step(step);
    losses[static_cast<size_t>(step)] = loss;
    log.log(step + 1, {{"loss", loss}, {"lr", run.opt.lr()}});
    if ((step + 1) % kEvery == 0) run.save(ckpt, step + 1);
  }
}

std::vector<double> flat(const std::map<std::string, Tensor>& state) {
  std::vector<double> out;
  for (const auto& [_, t] : state)
    for (double v : t.to_vector()) out.push_back(v);
  return out;
}

// The bytes of every tensor of a state dict, in name order (a bitwise comparison: unlike ==
// on values it tells -0 from +0 and compares NaNs).
std::string raw_bytes(const std::map<std::string, Tensor>& state) {
  std::string out;
  for (const auto& [name, t] : state) {
    const Tensor c = t.detach().contiguous();
    const char* p = c.dtype() == DType::F32 ? reinterpret_cast<const char*>(c.data<float>())
                                            : reinterpret_cast<const char*>(c.data<double>());
    out += name;
    out.append(p, static_cast<size_t>(c.numel()) * dtype_size(c.dtype()));
  }
  return out;
}

// memcmp of the raw bytes of two state dicts.
bool same_bytes(const std::map<std::string, Tensor>& a, const std::map<std::string, Tensor>& b) {
  const std::string ra = raw_bytes(a), rb = raw_bytes(b);
  return ra.size() == rb.size() && std::memcmp(ra.data(), rb.data(), ra.size()) == 0;
}

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

}  // namespace

// Runs the three runs (uninterrupted, killed, resumed) for network Net and compares them.
template <typename Net>
void check_exact_resume(const std::string& tag) {
  const fs::path dir =
      fs::temp_directory_path() / ("ldae_resume_" + tag + "_" + std::to_string(::getpid()));
  fs::remove_all(dir);
  fs::create_directories(dir);

  // 1. The uninterrupted run.
  std::vector<double> losses_a(kSteps, -1);
  TrainingRun<Net> a(1);
  {
    CsvLog log((dir / "a.csv").string(), {"loss", "lr"});
    train(a, 0, kSteps, (dir / "a.safetensors").string(), log, losses_a);
  }

  // 2. The same run, killed after kKilledAt steps (its objects simply go away).
  std::vector<double> losses_b(kSteps, -1);
  const std::string ckpt = (dir / "b.safetensors").string();
  {
    TrainingRun<Net> b(1);
    CsvLog log((dir / "b.csv").string(), {"loss", "lr"});
    train(b, 0, kKilledAt, ckpt, log, losses_b);
  }

  // 3. A new process would build fresh objects (here from another seed) and resume.
  TrainingRun<Net> c(12345);
  const int64_t start = c.load(ckpt);
  ASSERT_EQ(start, 12);
  {
    CsvLog log((dir / "b.csv").string(), {"loss", "lr"}, /*resume_after=*/start);
    train(c, start, kSteps, ckpt, log, losses_b);
  }

  // Bit-identical: losses, weights, optimizer state, EMA, generators, log.
  for (int i = 0; i < kSteps; ++i) EXPECT_EQ(losses_a[i], losses_b[i]) << "step " << i;
  EXPECT_EQ(flat(a.net.state_dict()), flat(c.net.state_dict()));
  EXPECT_EQ(flat(a.opt.state_dict()), flat(c.opt.state_dict()));
  EXPECT_EQ(flat(a.ema.state_dict()), flat(c.ema.state_dict()));
  EXPECT_TRUE(same_bytes(a.net.state_dict(), c.net.state_dict())) << "parameter bits differ";
  EXPECT_TRUE(same_bytes(a.opt.state_dict(), c.opt.state_dict())) << "optimizer state bits differ";
  EXPECT_TRUE(same_bytes(a.ema.state_dict(), c.ema.state_dict())) << "EMA bits differ";
  EXPECT_EQ(a.noise->offset, c.noise->offset);
  EXPECT_EQ(a.data.offset, c.data.offset);
  EXPECT_EQ(read_file((dir / "a.csv").string()), read_file((dir / "b.csv").string()));
  // The run learned something (so the comparison is not between two frozen models).
  EXPECT_LT(losses_a[kSteps - 1], losses_a[0]);
  // Dropout drew its masks from the saved generator.
  EXPECT_GT(a.noise->offset, 0u);
  fs::remove_all(dir);
}

TEST(Resume, KilledAndResumedRunIsBitIdentical) {
  check_exact_resume<TinyNet>("linear");
}

// The same with convolutions (a stride-2 one: the im2col + GEMM kernels; a stride-1 one: the
// direct kernels), group norm, attention and dropout.
TEST(Resume, KilledAndResumedConvNetIsBitIdentical) {
  check_exact_resume<TinyConvNet>("conv");
}
