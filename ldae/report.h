// The evaluation report: report.md and report.html, written from results.json alone (so
// the report shows exactly the machine-readable numbers), with the paper's numbers
// (ldae-reference 7.7, 8) beside ours.
//
// results.json (written by `ldae evaluate`), every part optional; a part may instead be
// {"skipped": "why"}, which the report prints:
//   preset, seed, threads, machine {cpu, cores}, program, commands [..]
//   cohort {subjects, scans, split {train, val, test}}
//   vae {ssim, mse, scans}                             test split, decode(mu) vs input
//   ldae {encoded {"<S>": {ssim, mse, scans}}, semantic_only {"<S>": {..}}, unconditional {"<S>": {..}}}
//   probe {ad_vs_cn {auc, acc, precision, recall, f1, mcc, <name>_ci [lo, hi], test_scans, test_subjects,
//          test_subjects_AD, test_subjects_CN}, age {mae, rmse, ..._ci}}
//   baselines {"<name>": {description, ad_vs_cn {..}, age {..}}}   (mean_age: age only, the floor)
//   manipulation {..}, interpolation {..}
//   speed {summary, method, note, weights, machine {cpu, threads}, image_shape, latent_shape,
//          image_dae_network {..}, repetitions {..}, macs {.., ratio_per_step},
//          components_s {semantic_encoder, ae_encode, ae_decode}, ldae {per_step_s},
//          image_dae {per_step_s}, ratio_per_step, per_volume {"<S>": {ldae_s, image_dae_s, ratio,
//          ldae_macs, image_dae_macs, macs_ratio}}, end_to_end {..} (optional), paper_ratio,
//          table [[..]]}                              ldae/speed_eval.h; times differ run to run
//   timing {"<stage>_s": seconds}
//   figures [{path, caption}]                          paths relative to the report's folder
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "ldae/report_document.h"

namespace ldae::report {

// The report as a document (see report_document.h), from `results`.
Document build_report(const nlohmann::ordered_json& results);

// Writes DIR/report.md and DIR/report.html (atomically) from `results`; figures are read
// from DIR. Throws ldae::Error when DIR cannot be written.
void write_report(const std::string& dir, const nlohmann::ordered_json& results);

// The paper's numbers used in the tables (ldae-reference 7.7), as JSON in the layout above.
const nlohmann::ordered_json& paper_numbers();

}  // namespace ldae::report
