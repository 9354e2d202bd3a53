// `ldae evaluate`: scores a trained LDAE (the stage-3 run folder and, through it, stages
// 1 and 2 and the latent cache) on the synthetic cohort and writes the report:
//
//   OUT/features.csv         y_sem of every scan (EMA encoder): subject, session, diagnosis,
//                            age, split, y0..y{E-1}
//   OUT/results.json         every number (layout: ldae/report.h)
//   OUT/report.md, .html     the tables beside the paper's numbers, figures, commands
//   OUT/evaluation/          figures, the probes' outputs (probe.json, predictions, ROC)
//
// What it measures (ldae-reference 7):
//   reconstruction, test split: the autoencoder (decode of the posterior mean), LDAE with
//     encoded x_T and with y_sem only at each DDIM step count, and the unconditional
//     latent DDIM from the same x_T draws (what y_sem-only must beat); SSIM (ldae/metrics.h
//     default window) and MSE against the input scan, each with the number of test scans it
//     averages (the preset's budget: more scans at fewer steps; one per subject first);
//   linear probes on y_sem (ldae/probe.h), and the baselines that exist: PCA of the
//     autoencoder latents + the same probe, PCA of the images themselves + the same probe
//     (skipped when the scans' voxels exceed 1.5e8 values), and the oracle (the true
//     hippocampal volume);
//     a supervised encoder; and the image-space diffusion autoencoder (the paper's "DAE":
//     the same stages 2 and 3 on the images, `cache-latents --image-space`; given as
//     image_dae_run): its y_sem of the same scans with the same probes, and its encoded and
//     y_sem-only reconstructions of the same test scans (baselines.image_dae); a baseline
//     that cannot run is listed as skipped with the reason;
//   what y_sem carries of the manifest's ground truth (y_sem_content: the out-of-fold R^2 of
//     ridge regression of hippocampus_ml, ventricle_ml, gm_ml, severity and age, those
//     present, on y_sem; ldae/code_content.h);
//   manipulation along the AD-vs-CN probe's direction, measured in the synthetic
//     generator's true ventricle and hippocampus regions (ldae/manipulation_eval.h;
//     skipped when the cohort has no cohort.json), figure evaluation/manipulation.png;
//   interpolation of missing visits;
//   inference speed: LDAE vs an image-space diffusion autoencoder (fresh weights) at the
//     budget's step counts (ldae/speed_eval.h; the image-space call is timed once).
// Deterministic for a given seed and thread count (timings aside: "timing" and "speed").
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

namespace ldae::stages {

struct EvaluateRequest {
  std::string repr_run;              // RUN3, a finished `ldae train-repr` run
  std::string out;                   // the output folder
  std::string preset;                // empty: RUN3's preset
  uint64_t seed = 0;                 // x_T draws, probes, bootstrap
  std::vector<int64_t> steps;        // DDIM step counts; empty: the preset's default
  int64_t max_reconstructions = -1;  // at most this many test scans per step count; -1: the preset's
  int64_t probe_epochs = -1;         // -1: the published 200
  int64_t supervised_epochs = -1;    // at most this many epochs per task; -1: the preset's
                                     // (probe::supervised_epochs: tiny 4, course 1, paper 50)
  std::vector<std::string> commands; // shown in the report
  nlohmann::json timing;             // {"<stage>_s": seconds} to include
  // The image-space DAE: a finished train-repr run on an image-space cache made from the
  // LDAE's stage-1 run (the same split; refused otherwise). Empty: baselines.image_dae is
  // skipped, with image_dae_skipped as the reason (empty: one that names --image-dae).
  std::string image_dae_run;
  std::string image_dae_skipped;
  std::vector<int64_t> image_dae_steps;     // its reconstructions' DDIM step counts; empty: `steps`
  int64_t image_dae_reconstructions = -1;   // its cap on test scans per step count; -1: as the LDAE's
  bool progress = true;
};

struct EvaluateResult {
  nlohmann::ordered_json results;  // what results.json holds
};

// The PCA-of-the-images baseline holds the training scans' voxels in memory as float64 (the
// fit; every other scan is read and projected alone): at most this many values (1.2 GB; the
// course demo's 112 training scans of 64x80x64 are 3.7e7).
constexpr double kMaxImagePcaValues = 1.5e8;

// Why that baseline cannot run on `scans` training scans of `voxels` voxels each (more than
// kMaxImagePcaValues values, e.g. the paper preset's), or "" when it can.
std::string image_pca_too_large(int64_t scans, int64_t voxels);

// Runs the evaluation and writes the files above. Throws ldae::Error when RUN3 (or the
// runs it names) is missing or unfinished, or OUT cannot be written; also when image_dae_run
// is not a finished image-space train-repr run or its scans or split differ from RUN3's.
EvaluateResult evaluate(const EvaluateRequest& request);

}  // namespace ldae::stages
