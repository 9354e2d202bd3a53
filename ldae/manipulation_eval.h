// The manipulation experiment of `ldae evaluate` (ldae-reference 7.3), measured against the
// synthetic generator's ground truth.
//
// For a few test subjects' baseline scans (AD and CN): y_sem, x_T from the shifted DDIM
// inversion, then for alpha in {-2, -1, 0, 1, 2} the code moved along the AD-vs-CN probe's
// direction (infer::manipulate_code with the probe's z-scoring mean and std; our probe's w
// points to AD, so alpha > 0 is towards AD) and decoded from the subject's own x_T.
//
// Ground truth: the cohort was made by `ldae synth` / `ldae demo` (data/synth.h). Its
// cohort.json (ldae/synth_cohort.h: seed, grid, diagnosis mix, anatomy) and the subject's
// index rebuild the subject's own ventricle and hippocampus labels in its scan grid with the
// generator's functions (subject_warp, the cohort's anatomy, synth_regions at the scan's
// session). The measures are the
// label-weighted mean intensities of the decoded image in the two regions: AD enlarges the
// ventricles (dark CSF grows: the ventricle-region intensity falls) and shrinks the
// hippocampi (their region's intensity falls as CSF replaces grey matter). The same measures
// on the real test scans (AD minus CN at baseline, each subject's change to its last visit)
// calibrate the size of a real disease effect.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>

#include "data/synth.h"
#include "ldae/synth_cohort.h"
#include "ldae/autoencoding.h"
#include "ldae/latent_cache.h"
#include "ldae/probe.h"

namespace ldae::stages {

// The generator's subject index of an id: "sub-0001" -> 0. Throws ldae::Error otherwise.
int64_t synth_subject_index(const std::string& id);

// The soft labels (X, Y, Z) F32 of one subject's scan at `session` months: ventricle and
// hippocampus (0..1), on the generator's grid for the cohort.
struct RegionMaps {
  Tensor ventricle, hippocampus;
};
RegionMaps subject_regions(const data::Anatomy& anatomy, const SynthCohort& cohort, const std::string& subject_id,
                           int64_t session);

// sum(image * label) / sum(label) over voxels; image: any shape with label's element count.
// Throws ldae::Error when the counts differ or the label is empty (sum 0).
double region_mean(const Tensor& image, const Tensor& label);

struct ManipulationRequest {
  int64_t subjects = 4;       // test subjects' baseline scans manipulated (AD and CN alternated)
  int64_t steps = 20;         // DDIM steps of the inversion and the decodings
  std::string figure_path;    // the PNG (alpha rows of the first subject + difference map)
  bool progress = true;
};

// Runs the experiment; returns results.json's "manipulation" object: {"skipped": why} when the
// cohort is not a synthetic one (no cohort.json next to the manifest), the probe was not
// trained (probe null) or no AD/CN test subject exists; else "alphas", "subjects",
// "per_alpha", "calibration", "checks", "summary" and "table".
nlohmann::ordered_json evaluate_manipulation(infer::LdaeModel& model, const LatentCache& cache,
                                             const probe::ProbeOutcome* probe, const ManipulationRequest& request);

}  // namespace ldae::stages
