// `ldae demo`: the whole LDAE pipeline on the built-in synthetic cohort, in one folder:
//
//   OUT/cohort/            ldae synth (NIfTI scans, manifest.csv with the ground truth)
//   OUT/runs/1-autoencoder ldae train-ae       (stage 1)
//   OUT/latents/           ldae cache-latents
//   OUT/runs/2-ldm         ldae train-ldm      (stage 2)
//   OUT/runs/3-repr        ldae train-repr     (stage 3)
//   OUT/latents-image/     ldae cache-latents --image-space   } the image-space diffusion
//   OUT/runs/2-image-ldm   ldae train-ldm on the images        } autoencoder baseline (the
//   OUT/runs/3-image-repr  ldae train-repr on the images       } paper's DAE); see image_dae
//   OUT/evaluation/        ldae evaluate: reconstructions, probes, baselines, figures
//   OUT/report.md, OUT/report.html, OUT/results.json, OUT/features.csv
//   OUT/timing.json        the wall time of each step (kept across resumed runs)
//
// Each step is the library function of its command, called in-process with the preset's
// settings (the demo's seed replaces every stage's `seed`). Every step resumes: a finished
// step is skipped, an interrupted stage continues from its last checkpoint, so running the
// demo again after a crash finishes the same results. The same preset, seed and thread
// count give the same results.json, timings aside.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "data/synth.h"

namespace ldae::stages {

struct DemoRequest {
  std::string preset = "course";  // tiny (CI: a couple of minutes), course (the README's demo), paper
  uint64_t seed = 0;              // the cohort's seed and every stage's seed
  std::string out = "out/demo";
  bool progress = true;           // per-step lines and the stages' progress lines on stderr
  // Train and evaluate the image-space DAE baseline too: -1 the preset's default (on at tiny;
  // off at course and paper, where an image step costs ~20-50x a latent step: hours on a
  // CPU), 0 off, 1 on (`ldae demo --image-dae`).
  int image_dae = -1;
  // Where the three training stages (and the baseline's stages 2 and 3) train; the cohort,
  // the latent cache and the evaluation run on the CPU.
  Device device = cpu_device();
  // What the cohort's scans lack (`ldae demo --registered` / `--preprocessed`; data/synth.h).
  data::Preprocessing preprocessing = data::Preprocessing::none;
};

struct DemoResult {
  std::string report_md, report_html, results_json, features_csv;
  nlohmann::ordered_json results;  // what results.json holds
  double seconds = 0;  // wall time of this call
};

// The synthetic cohort the demo trains on at `preset` (its size and visits).
data::SynthOptions demo_cohort_options(const std::string& preset, uint64_t seed, const std::string& out_dir);

// Runs (or resumes) every step above. Throws ldae::Error from the step that failed,
// prefixed with the step's name; what was done before stays in OUT for the next run.
DemoResult run_demo(const DemoRequest& request);

}  // namespace ldae::stages
