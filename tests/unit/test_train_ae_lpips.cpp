// Stage 1 with the 2.5D LPIPS perceptual term (ldae/train_ae.h, --lpips), without torch:
// an LPIPS network with random weights, saved with the project's safetensors writer under
// the keys load_lpips_weights expects, stands in for the converted published weights.
//   - the generator pass: the perceptual term is in the loss (loss_g grows by weight x P)
//     and in the autoencoder's gradients (weight 0 vs > 0 differ);
//   - a tiny run on 18x20x18 phantoms (the smallest even size LPIPS takes): the perceptual
//     column is finite and positive and adds up in loss_g, the validation rows hold
//     val_lpips, config.json records the file and its fingerprint;
//   - a run stopped after a checkpoint and resumed ends bit-identical to the uninterrupted
//     one (the slice generator is in the checkpoint);
//   - refusals before any training: a missing file, a file that is not LPIPS weights, a
//     different LPIPS file in an existing run folder, slices smaller than 17 x 17, a
//     fake_3d_ratio that picks no slice.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "data/synth.h"
#include "ldae/ae_gan_step.h"
#include "ldae/lpips.h"
#include "ldae/presets.h"
#include "ldae/train_ae.h"
#include "ldae/train_ae_settings.h"
#include "tensor/random.h"
#include "tensor/safetensors.h"

using namespace ldae;
using ldae::testing::expect_error;
namespace fs = std::filesystem;

namespace {

// A fresh folder under the temporary directory, removed at the end of the test.
struct TempDir {
  explicit TempDir(const std::string& name)
      : path(fs::temp_directory_path() / (name + "_" + std::to_string(::getpid()))) {
    fs::remove_all(path);
    fs::create_directories(path);
  }
  ~TempDir() { fs::remove_all(path); }
  fs::path path;
};

// An LPIPS weights file with random weights (non-negative lin weights, as the constructor
// draws them), in the layout of tools/convert_lpips.py.
void write_random_lpips(const fs::path& file, uint64_t seed) {
  Generator gen(seed);
  const nets::Lpips lpips(gen);
  write_safetensors(file.string(), lpips.state_dict());
}

std::string read_text(const fs::path& file) {
  std::ifstream in(file);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// log.csv as rows of cells (the header first).
std::vector<std::vector<std::string>> read_csv(const fs::path& file) {
  std::vector<std::vector<std::string>> rows;
  std::ifstream in(file);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::string> cells;
    std::stringstream ls(line);
    std::string cell;
    while (std::getline(ls, cell, ',')) cells.push_back(cell);
    if (!line.empty() && line.back() == ',') cells.emplace_back();
    rows.push_back(cells);
  }
  return rows;
}

size_t column(const std::vector<std::string>& header, const std::string& name) {
  for (size_t i = 0; i < header.size(); ++i)
    if (header[i] == name) return i;
  ADD_FAILURE() << "log.csv lacks the column " << name;
  return 0;
}

void make_cohort(const fs::path& dir, const Shape& shape, int subjects) {
  data::SynthOptions so;
  so.out_dir = dir.string();
  so.subjects = subjects;
  so.shape = shape;
  so.visits = {0};
  so.overview = false;
  data::generate_cohort(so);
}

std::vector<double> flat_gradients(const nn::Module& m) {
  std::vector<double> out;
  for (const auto& [_, p] : m.named_parameters()) {
    EXPECT_TRUE(p.grad().defined()) << "a parameter without gradient";
    if (p.grad().defined())
      for (double v : p.grad().to_vector()) out.push_back(v);
  }
  return out;
}

}  // namespace

TEST(TrainAeLpips, PerceptualTermIsInTheGeneratorLossAndGradient) {
  Generator lpips_init(21);
  const nets::Lpips lpips(lpips_init);
  Generator data(11);
  const Tensor x = rand({1, 1, 18, 20, 18}, data);

  struct Pass {
    nets::GeneratorPass g;
    std::vector<double> grads;
  };
  auto pass = [&](double weight) {
    Generator init(3);
    nets::AutoencoderKL ae(nets::autoencoder_kl_preset("tiny"), init);
    nets::PatchDiscriminator disc(nets::patch_discriminator_preset("tiny"), init);
    ae.train();
    Generator noise(5), slices(9);
    nets::AeGanLossOptions o;
    o.perceptual_weight = weight;
    o.perceptual = [&](const Tensor& x_hat, const Tensor& target) {
      return nets::perceptual_loss_25d(x_hat, target, lpips, 0.25, slices);
    };
    Pass p;
    p.g = nets::generator_backward(ae, disc, x, noise, o, /*adv_on=*/false, 1.0);
    p.grads = flat_gradients(ae);
    return p;
  };
  const Pass off = pass(0.0), on = pass(0.5);
  ASSERT_TRUE(std::isfinite(on.g.perceptual));
  EXPECT_GT(on.g.perceptual, 0);
  EXPECT_EQ(on.g.perceptual, off.g.perceptual);  // the same reconstruction and slices
  EXPECT_EQ(on.g.l1, off.g.l1);
  EXPECT_NEAR(on.g.loss - off.g.loss, 0.5 * on.g.perceptual, 1e-6 * on.g.loss);
  ASSERT_EQ(on.grads.size(), off.grads.size());
  double diff = 0, norm = 0;
  for (size_t i = 0; i < on.grads.size(); ++i) {
    ASSERT_TRUE(std::isfinite(on.grads[i]));
    diff += (on.grads[i] - off.grads[i]) * (on.grads[i] - off.grads[i]);
    norm += off.grads[i] * off.grads[i];
  }
  // The perceptual term moves the autoencoder's gradient by a visible amount.
  EXPECT_GT(std::sqrt(diff), 1e-3 * std::sqrt(norm));
}

TEST(TrainAeLpips, RunLogsThePerceptualTermAndResumesBitIdentically) {
  TempDir dir("ldae_train_ae_lpips");
  make_cohort(dir.path / "cohort", {18, 20, 18}, 8);
  const fs::path weights = dir.path / "lpips.safetensors";
  write_random_lpips(weights, 4);

  // 8 subjects: 1 test, 1 validation, 6 training scans; accumulate 2: 3 steps.
  const std::vector<std::string> sets = {"epochs=1", "val_fraction=0.15", "fake_3d_ratio=0.2",
                                         "perceptual_weight=0.05", "checkpoint_every=1"};
  auto request = [&](const std::string& out, std::vector<std::string> extra) {
    stages::TrainAeRequest req;
    req.manifest = (dir.path / "cohort" / "manifest.csv").string();
    req.out = (dir.path / out).string();
    req.preset = "tiny";
    std::vector<std::string> all = sets;
    all.insert(all.end(), extra.begin(), extra.end());
    req.settings = run::resolve_settings(stages::train_ae_settings(), "tiny", "", all);
    req.lpips = weights.string();
    req.progress = false;
    return req;
  };

  // ---- The uninterrupted run ----
  const stages::TrainAeResult a = stages::train_ae(request("a", {}));
  ASSERT_EQ(a.steps, 3);
  EXPECT_TRUE(std::isfinite(a.last_val_lpips));
  EXPECT_GT(a.last_val_lpips, 0);
  const fs::path ra = dir.path / "a";
  const std::string config = read_text(ra / "config.json");
  EXPECT_NE(config.find("\"perceptual\": \"lpips " + fs::absolute(weights).lexically_normal().string() + "\""),
            std::string::npos)
      << config;
  EXPECT_NE(config.find("\"perceptual_fnv1a64\": \""), std::string::npos) << config;

  const auto rows = read_csv(ra / "log.csv");
  ASSERT_EQ(rows.size(), 5u);  // header, 3 steps, 1 validation row
  const auto& h = rows[0];
  const size_t c_loss = column(h, "loss_g"), c_l1 = column(h, "l1"), c_kl = column(h, "kl"),
               c_p = column(h, "perceptual"), c_adv = column(h, "g_adv"), c_val = column(h, "val_lpips");
  for (size_t i = 1; i <= 3; ++i) {
    SCOPED_TRACE("step " + std::to_string(i));
    ASSERT_GT(rows[i].size(), c_adv);
    const double p = std::stod(rows[i][c_p]);
    EXPECT_TRUE(std::isfinite(p));
    EXPECT_GT(p, 0);
    // loss_g = l1 + kl_weight kl + perceptual_weight P + adv_weight g_adv, up to float32
    // rounding: the loss is summed in float32 (relative error ~1e-7; an absolute 1e-8 failed
    // in the Debug + sanitizer build, 1.1e-8 off), the log rounds to 10 digits.
    const double sum = std::stod(rows[i][c_l1]) + 1e-7 * std::stod(rows[i][c_kl]) + 0.05 * p +
                       0.025 * std::stod(rows[i][c_adv]);
    EXPECT_NEAR(std::stod(rows[i][c_loss]), sum, 1e-6 * std::abs(sum));
    EXPECT_TRUE(rows[i].size() <= c_val || rows[i][c_val].empty());
  }
  ASSERT_GT(rows[4].size(), c_val);
  EXPECT_NEAR(std::stod(rows[4][c_val]), a.last_val_lpips, 1e-9 * a.last_val_lpips);  // 10 digits

  // ---- Stopped after step 1's checkpoint, then resumed ----
  // The run with a NaN at step 2 writes the checkpoint of step 1 that an uninterrupted run
  // writes too (the hook changes nothing before step 2). Put it into a copy of run a's
  // folder as if the run had been killed after it, then run a's request again.
  EXPECT_THROW(stages::train_ae(request("nan", {"debug_nan_at_step=2"})), Error);
  const fs::path rb = dir.path / "b";
  fs::create_directories(rb / "checkpoints");
  fs::copy_file(ra / "config.json", rb / "config.json");
  fs::copy_file(ra / "log.csv", rb / "log.csv");  // the rows after step 1 are dropped on resume
  fs::copy_file(dir.path / "nan" / "checkpoints" / "last.safetensors", rb / "checkpoints" / "last.safetensors");
  const stages::TrainAeResult b = stages::train_ae(request("b", {}));
  EXPECT_EQ(b.start, run::RunStart::Resume);
  EXPECT_EQ(b.steps_run, 2);
  for (const char* f : {"checkpoints/last.safetensors", "checkpoints/best.safetensors", "log.csv"})
    EXPECT_TRUE(read_text(rb / f) == read_text(ra / f)) << f << " differs after the resume";
  EXPECT_EQ(b.last_val_lpips, a.last_val_lpips);
  EXPECT_NE(read_text(rb / "done.json").find("\"val_lpips\""), std::string::npos);

  // ---- Another LPIPS file for the same folder: a configuration difference ----
  fs::remove(ra / "done.json");
  write_random_lpips(weights, 5);  // same path, other bytes
  expect_error([&] { stages::train_ae(request("a", {})); },
               {"different configuration", "perceptual_fnv1a64"});
}

TEST(TrainAeLpips, RefusedBeforeAnyTraining) {
  TempDir dir("ldae_train_ae_lpips_refusals");
  make_cohort(dir.path / "small", {16, 20, 16}, 6);
  make_cohort(dir.path / "fit", {18, 20, 18}, 6);
  const fs::path weights = dir.path / "lpips.safetensors";
  write_random_lpips(weights, 4);
  auto request = [&](const std::string& cohort, const std::string& lpips, std::vector<std::string> sets) {
    stages::TrainAeRequest req;
    req.manifest = (dir.path / cohort / "manifest.csv").string();
    req.out = (dir.path / "run").string();
    req.preset = "tiny";
    sets.push_back("val_fraction=0.2");
    req.settings = run::resolve_settings(stages::train_ae_settings(), "tiny", "", sets);
    req.lpips = lpips;
    req.progress = false;
    return req;
  };
  expect_error([&] { stages::train_ae(request("fit", (dir.path / "missing.safetensors").string(), {})); },
               {"train-ae: cannot use the --lpips file", "missing.safetensors", "no such file"});
  // A safetensors file that is not LPIPS: another network's weights.
  {
    NoGrad no_grad;  // the writer reads the parameters
    Generator init(0);
    const nets::AutoencoderKL ae(nets::autoencoder_kl_preset("tiny"), init);
    write_safetensors((dir.path / "ae.safetensors").string(), ae.state_dict());
  }
  expect_error([&] { stages::train_ae(request("fit", (dir.path / "ae.safetensors").string(), {})); },
               {"cannot use the --lpips file", "not an LPIPS SqueezeNet state dict"});
  // Not a safetensors file at all.
  expect_error([&] { stages::train_ae(request("fit", (dir.path / "fit" / "manifest.csv").string(), {})); },
               {"cannot use the --lpips file", "manifest.csv"});
  expect_error([&] { stages::train_ae(request("small", weights.string(), {})); },
               {"(16, 20, 16)", "too small for the LPIPS perceptual term", "at least 17 x 17",
                "every axis must be at least 17 voxels"});
  expect_error([&] { stages::train_ae(request("fit", weights.string(), {"fake_3d_ratio=0.05"})); },
               {"fake_3d_ratio 0.05 selects no slice of the 18", "at least 1/18"});
  EXPECT_FALSE(fs::exists(dir.path / "run")) << "a refused run created its folder";
}
