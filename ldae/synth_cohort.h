// The record of a synthetic cohort: COHORT/cohort.json, written next to manifest.csv by
// `ldae synth` and `ldae demo`. It holds what the generator (data/synth.h) needs to rebuild
// any subject's ground truth from its id alone: the seed, the grid, the diagnosis mix and the
// anatomy. The manipulation experiment of `ldae evaluate` reads it to find each test subject's
// own ventricle and hippocampus labels; without it a cohort is not known to be synthetic.
//
// cohort.json: {"seed", "subjects", "shape", "visits"} always; "spacing" (mm), "diagnosis_mix"
// ([CN, MCI, AD]), "registered" (true) or "preprocessed" (true), and "anatomy" only when not the
// defaults (192 mm / X; 0.40, 0.35, 0.25; raw scans; the template shipped in data/template/), so that
// the records written before they existed still describe their cohorts. "anatomy" is "phantom" (with "phantom_spacing") or {"t1", "gm", "wm"}
// (absolute paths). `ldae demo` adds "preset".
#pragma once
#include <nlohmann/json.hpp>

#include <string>

#include "data/synth.h"

namespace ldae::stages {

// A synthetic cohort as read from its cohort.json.
struct SynthCohort {
  std::string folder;
  uint64_t seed = 0;
  Shape shape;             // (X, Y, Z)
  double spacing = 0;      // mm: 192 / X unless the record says otherwise
  data::DiagnosisMix mix;  // the subjects' draws depend on it
  data::Preprocessing preprocessing = data::Preprocessing::none;  // what the scans lack (data::draw_subject)
  // The anatomy the scans were drawn on: the shipped template (template_files empty, not
  // phantom), another template (template_files), or the procedural phantom.
  bool phantom = false;
  double phantom_spacing = 1.5;
  data::TemplateFiles template_files;
};

// The record of a cohort that `options` generate (options.t1/gm/wm as generate_cohort gets
// them: all empty for the phantom).
nlohmann::ordered_json synth_cohort_record(const data::SynthOptions& options);

// Writes options.out_dir/cohort.json (atomically).
void write_synth_cohort_record(const data::SynthOptions& options);

// Reads FOLDER/cohort.json. Returns false and sets *why when it is missing or cannot identify
// the cohort (no seed, not a 3-size shape, a bad spacing, mix or anatomy).
bool find_synthetic_cohort(const std::string& folder, SynthCohort* cohort, std::string* why);

// The anatomy the cohort's scans were drawn on (loads the template files or builds the
// phantom). Throws ldae::Error when a template file cannot be read.
data::Anatomy synth_cohort_anatomy(const SynthCohort& cohort);

}  // namespace ldae::stages
