// CPU-vs-GPU parity of the three training stages (label cuda): each stage trains one epoch
// at the tiny preset on the CPU and on cuda:0 (`--device cuda`, TrainXxxRequest::device)
// from the same inputs (the GPU runs of stages 2 and 3 start from the CPU runs of the stage
// before, so each comparison sees one stage's device alone). Float32, so the two devices
// add in different orders; what must agree:
//   - the first optimizer step's loss and gradient norm (before any update), to 1e-3;
//   - every trained weight after the epoch, to 3 * lr * steps (Adam moves an element by at
//     most about lr per step, whatever its gradient: a larger gap is a device bug, not
//     rounding);
//   - the run folder itself: the same files, config.json naming the device, finite
//     validation scores.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "common/tiny_cohort.h"
#include "cuda/cuda_test_helpers.h"
#include "ldae/autoencoder_kl.h"
#include "ldae/latent_cache.h"
#include "ldae/presets.h"
#include "ldae/run/run_folder.h"
#include "ldae/train_ae.h"
#include "ldae/train_ae_settings.h"
#include "ldae/train_ldm.h"
#include "ldae/train_ldm_settings.h"
#include "ldae/train_repr.h"
#include "ldae/train_repr_settings.h"
#include "nn/checkpoint.h"
#include "tensor/safetensors.h"

using namespace ldae;
namespace fs = std::filesystem;

namespace {

// The rows of a log.csv, each as column -> text (empty cells kept as "").
std::vector<std::map<std::string, std::string>> read_log(const fs::path& path) {
  std::ifstream in(path);
  std::string line;
  std::vector<std::string> header;
  std::vector<std::map<std::string, std::string>> rows;
  auto split = [](const std::string& s) {
    std::vector<std::string> cells;
    std::stringstream ss(s);
    std::string cell;
    while (std::getline(ss, cell, ',')) cells.push_back(cell);
    if (!s.empty() && s.back() == ',') cells.push_back("");
    return cells;
  };
  if (std::getline(in, line)) header = split(line);
  while (std::getline(in, line)) {
    const std::vector<std::string> cells = split(line);
    std::map<std::string, std::string> row;
    for (size_t i = 0; i < header.size() && i < cells.size(); ++i) row[header[i]] = cells[i];
    rows.push_back(row);
  }
  return rows;
}

// Column `key` of the log's first row (step 1's training row).
double first_step(const fs::path& run, const std::string& key) {
  const auto rows = read_log(run / "log.csv");
  EXPECT_FALSE(rows.empty()) << run;
  if (rows.empty() || rows[0].count(key) == 0 || rows[0].at(key).empty()) return std::nan("");
  return std::stod(rows[0].at(key));
}

void expect_close(double cpu, double gpu, double rtol, const std::string& what) {
  EXPECT_TRUE(std::isfinite(cpu) && std::isfinite(gpu)) << what << ": cpu " << cpu << " gpu " << gpu;
  EXPECT_LE(std::fabs(cpu - gpu), rtol * std::max(1.0, std::fabs(cpu))) << what << ": cpu " << cpu << " gpu " << gpu;
}

// The last checkpoints' tensors under "model." agree within `atol`; returns how many were compared.
int expect_same_weights(const fs::path& cpu_run, const fs::path& gpu_run, double atol) {
  const SafetensorsFile a = read_safetensors((cpu_run / "checkpoints" / "last.safetensors").string());
  const SafetensorsFile b = read_safetensors((gpu_run / "checkpoints" / "last.safetensors").string());
  EXPECT_EQ(a.tensors.size(), b.tensors.size());
  int compared = 0;
  for (const auto& [name, t] : a.tensors) {
    if (name.rfind("model.", 0) != 0) continue;
    if (b.tensors.count(name) != 1) {
      ADD_FAILURE() << name << " is missing from the GPU run's checkpoint";
      continue;
    }
    const std::vector<double> va = t.to_vector(), vb = b.tensors.at(name).to_vector();
    if (va.size() != vb.size()) {
      ADD_FAILURE() << name << ": " << va.size() << " values on the CPU, " << vb.size() << " on the GPU";
      continue;
    }
    double worst = 0;
    for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(va[i] - vb[i]));
    EXPECT_LE(worst, atol) << name << " differs by " << worst;
    ++compared;
  }
  return compared;
}

void expect_device_recorded(const fs::path& run, const std::string& device) {
  const nlohmann::json config = run::read_json((run / "config.json").string());
  EXPECT_EQ(config.at("environment").at("device").get<std::string>(), device) << run;
}

// What every stage's two runs must share: the first step's loss and gradient norm (log.csv
// columns `loss` and `grad_norm`), the weights within 3 * lr * steps, and config.json naming
// each run's device.
void expect_stage_parity(const fs::path& cpu_run, const fs::path& gpu_run, const std::string& loss,
                         const std::string& grad_norm, double lr, int64_t steps) {
  const std::string stage = cpu_run.filename().string();
  expect_close(first_step(cpu_run, loss), first_step(gpu_run, loss), 1e-3, stage + " " + loss);
  expect_close(first_step(cpu_run, grad_norm), first_step(gpu_run, grad_norm), 1e-3, stage + " " + grad_norm);
  EXPECT_GT(expect_same_weights(cpu_run, gpu_run, 3 * lr * static_cast<double>(steps)), 0) << stage;
  expect_device_recorded(cpu_run, "cpu");
  expect_device_recorded(gpu_run, "cuda:0");
}

}  // namespace

TEST(CudaStages, EachStageTrainsOnTheGpuAsOnTheCpu) {
  LDAE_REQUIRE_CUDA();
  const fs::path dir = fs::temp_directory_path() / ("ldae_cuda_stages_" + std::to_string(::getpid()));
  ldae::testing::make_tiny_cohort(dir);

  // ---- Stage 1 ----
  stages::TrainAeRequest ae;
  ae.manifest = (dir / "cohort" / "manifest.csv").string();
  ae.preset = "tiny";
  ae.settings = run::resolve_settings(stages::train_ae_settings(), "tiny", "", {"epochs=1", "val_fraction=0.2"});
  ae.progress = false;
  ae.out = (dir / "run1").string();
  const stages::TrainAeResult ae_cpu = stages::train_ae(ae);
  ae.out = (dir / "run1-gpu").string();
  ae.device = cuda_device(0);
  const stages::TrainAeResult ae_gpu = stages::train_ae(ae);
  EXPECT_EQ(ae_gpu.steps, ae_cpu.steps);
  expect_stage_parity(dir / "run1", dir / "run1-gpu", "loss_g", "grad_norm_g", ae.settings.get_float("lr_g"),
                      ae_cpu.steps);
  expect_close(ae_cpu.last_val_ssim, ae_gpu.last_val_ssim, 2e-2, "train-ae validation SSIM");

  // ---- The latent cache (on the CPU, from the CPU's stage 1) ----
  stages::CacheLatentsRequest cl;
  cl.ae_run = (dir / "run1").string();
  cl.out = (dir / "lat").string();
  cl.progress = false;
  stages::cache_latents(cl);

  // ---- Stage 2 ----
  stages::TrainLdmRequest ldm;
  ldm.latents = cl.out;
  ldm.preset = "tiny";
  ldm.settings = run::resolve_settings(stages::train_ldm_settings(), "tiny", "", {"epochs=1"});
  ldm.progress = false;
  ldm.out = (dir / "run2").string();
  const stages::TrainLdmResult ldm_cpu = stages::train_ldm(ldm);
  ldm.out = (dir / "run2-gpu").string();
  ldm.device = cuda_device(0);
  const stages::TrainLdmResult ldm_gpu = stages::train_ldm(ldm);
  EXPECT_EQ(ldm_gpu.steps, ldm_cpu.steps);
  expect_stage_parity(dir / "run2", dir / "run2-gpu", "loss", "grad_norm", ldm.settings.get_float("lr"),
                      ldm_cpu.steps);
  expect_close(ldm_cpu.last_val_mse_ema, ldm_gpu.last_val_mse_ema, 1e-2, "train-ldm validation eps-MSE (EMA)");
  EXPECT_TRUE(fs::exists(dir / "run2-gpu" / "figures" / "epoch_001.png"));

  // ---- Stage 3 (from the CPU's stage 2) ----
  stages::TrainReprRequest repr;
  repr.ldm_run = (dir / "run2").string();
  repr.preset = "tiny";
  repr.settings = run::resolve_settings(stages::train_repr_settings(), "tiny", "", {"epochs=1"});
  repr.progress = false;
  repr.out = (dir / "run3").string();
  const stages::TrainReprResult repr_cpu = stages::train_repr(repr);
  repr.out = (dir / "run3-gpu").string();
  repr.device = cuda_device(0);
  const stages::TrainReprResult repr_gpu = stages::train_repr(repr);
  EXPECT_EQ(repr_gpu.steps, repr_cpu.steps);
  expect_stage_parity(dir / "run3", dir / "run3-gpu", "loss", "grad_norm",
                      std::max(repr.settings.get_float("lr"), repr.settings.get_float("encoder_lr")), repr_cpu.steps);
  EXPECT_TRUE(std::isfinite(repr_gpu.last_val_ssim) && std::isfinite(repr_gpu.last_val_mse));

  // The GPU-trained run loads on the CPU like any other (the checkpoints are host files).
  const stages::TrainedLdae loaded = stages::load_trained_ldae(repr.out, "last", true);
  EXPECT_EQ(loaded.preset, "tiny");
  fs::remove_all(dir);
}

TEST(CudaStages, MovingToAGpuKeepsTheCheckpointFormat) {
  // Without a GPU the stages refuse cuda before any work: tests/cli/test_device.sh. Here, on
  // one, a checkpoint written from GPU weights reads back into a CPU module bit for bit.
  LDAE_REQUIRE_CUDA();
  const fs::path dir = fs::temp_directory_path() / ("ldae_cuda_ckpt_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  Generator gen(3);
  nets::AutoencoderKL cpu(nets::autoencoder_kl_preset("tiny"), gen);
  Generator gen2(3);
  nets::AutoencoderKL gpu(nets::autoencoder_kl_preset("tiny"), gen2);
  gpu.to(cuda_device(0));
  const std::string path = (dir / "ae.safetensors").string();
  nn::TrainingState st;
  st.step = 1;
  nn::save_checkpoint(path, gpu, static_cast<const nn::Optimizer*>(nullptr), nullptr, st);
  nets::AutoencoderKL back(nets::autoencoder_kl_preset("tiny"), gen);
  nn::load_weights(path, back, "model");
  const auto a = cpu.state_dict(), b = back.state_dict();
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [name, t] : a) EXPECT_EQ(t.to_vector(), b.at(name).to_vector()) << name;
  fs::remove_all(dir);
}
