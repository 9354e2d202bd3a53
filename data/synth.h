// The synthetic longitudinal cohort: ADNI-like T1 scans with known ground truth.
//
// Each subject gets a diagnosis (CN, MCI, AD), a baseline age, a disease severity and a
// progression rate, and an individual anatomy: a head size, a small rigid pose, a smooth
// random deformation and natural variation of ventricle and hippocampus size. At each
// visit (months after baseline) ageing and disease act through
//   * a deformation that enlarges the ventricles and shrinks the hippocampi and the
//     medial temporal lobes (faster in AD, MCI in between),
//   * grey matter turning into CSF, most where it borders CSF (wider sulci),
//   * a lower grey/white contrast,
// and the scanner adds a smooth bias field and noise. The ground-truth volumes
// (ventricles, hippocampi, grey matter) are measured on the generated anatomy itself.
// Everything is drawn from Philox streams keyed by the seed, so the same seed gives the
// same cohort byte for byte, whatever the thread count.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/nifti.h"
#include "data/synth_anatomy.h"

namespace ldae::data {

struct SynthSubject {
  int64_t index = 0;
  std::string id;         // "sub-0001"
  std::string diagnosis;  // "CN", "MCI" or "AD"
  double age = 70;        // at baseline, years
  double severity = 0;    // disease stage at baseline (0 healthy, ~1 typical AD)
  double rate = 0;        // severity gained per year
  double head_scale = 1;  // linear head size factor
  double rotation[3] = {0, 0, 0};     // radians about x, y, z
  double translation[3] = {0, 0, 0};  // mm
  // Smooth random deformation: sum of 6 plane waves (amplitude vector, wave vector, phase).
  double wave_amp[6][3], wave_vec[6][3], wave_phase[6];
  double hippocampus_size = 0;  // natural variation (shrink factor offset)
  double ventricle_size = 0;    // natural variation (enlargement factor offset)
  double gm_loss = 0;           // natural variation of cortical thinning
  double intensity[3] = {0.12, 0.5, 0.8};  // CSF, GM, WM at age 70, healthy
  double bias_scale = 1;                   // multiplies the scanner's bias field (0: bias-corrected)
};

// Ground truth of one generated scan.
struct SynthTruth {
  double age = 0, severity = 0;
  double ventricle_ml = 0, hippocampus_ml = 0, gm_ml = 0;
};

// The fractions of CN, MCI and AD subjects the diagnosis is drawn from (each subject
// independently; they sum to 1). The default is ADNI-like.
struct DiagnosisMix {
  double cn = 0.40, mci = 0.35, ad = 0.25;
};

// Throws unless every fraction is in [0, 1] and they sum to 1 (within 1e-6).
void check_diagnosis_mix(const DiagnosisMix& mix);

// What a preprocessing pipeline has already removed from the scans the generator writes. The
// reference's pipeline (ldae-reference 1.1: N4 bias correction, brain extraction, SyN registration
// to MNI) hands its networks scans without the head size, the pose or the bias field, and with
// little of the smooth large-scale deformation left.
enum class Preprocessing {
  none,        // raw scans: head size, pose, bias field, the whole smooth deformation, own tissue intensities
  registered,  // an exact affine registration to the template: no head size or pose (`--registered`)
  full,        // `--preprocessed`: registered, bias-corrected (no bias field), 30 % of the smooth deformation
               // (the residual a deformable registration leaves: our choice, not a measured figure) and
               // the template's tissue intensities (an intensity standardisation, which the reference
               // does not do: its min-max scaling keeps each scanner's contrast)
};

// "none", "registered" or "full".
const char* preprocessing_name(Preprocessing p);

// Draws subject `index` of the cohort with `seed` and `mix` (pure function of them).
// With the default mix the subjects are those of the cohorts generated before the mix existed.
// `preprocessing` drops what it names (see above) after the draws: every other draw
// (diagnosis, age, severity, the deformation's waves, the scanner's noise) is the raw subject's.
SynthSubject draw_subject(int64_t index, uint64_t seed, const DiagnosisMix& mix = {},
                          Preprocessing preprocessing = Preprocessing::none);

// The output grid: RAS, isotropic `spacing` mm, `shape` (X, Y, Z), centred on the
// anatomy's brain centre.
Affine synth_grid(const Anatomy& anatomy, const Shape& shape, double spacing);

// The subject's own anatomy as a map from the output grid to the template: for each
// output voxel (X, Y, Z order) the template world position (x, y, z) it shows, before
// ageing and disease. The same for every visit, so it is computed once per subject.
std::vector<float> subject_warp(const Anatomy& anatomy, const SynthSubject& subject, const Affine& grid,
                                const Shape& shape);

// Generates one scan of `subject` at `session` months after baseline on the given grid;
// fills `truth` (if not null). `visit` (0, 1, ...) picks the scanner's random stream for
// that visit. `warp`: subject_warp() for this subject and grid (computed if null).
Volume synthesize_scan(const Anatomy& anatomy, const SynthSubject& subject, int64_t session, int64_t visit,
                       const Affine& grid, const Shape& shape, uint64_t seed, SynthTruth* truth,
                       const std::vector<float>* warp = nullptr);

// The structures of one visit on the output grid, per voxel (X, Y, Z order, row-major):
// the soft ventricle and hippocampus labels and the CSF and grey-matter fractions of the
// anatomy the scan shows (the subject's own, aged and diseased to `session` months), from
// the same lookups as synthesize_scan. So sum(csf * ventricle) and sum(gm * hippocampus)
// times the voxel volume are SynthTruth's ventricle_ml and hippocampus_ml (up to float
// rounding). `warp`: subject_warp() for this subject and grid (computed if null).
struct SynthRegions {
  std::vector<float> ventricle, hippocampus, csf, gm;
};
SynthRegions synth_regions(const Anatomy& anatomy, const SynthSubject& subject, int64_t session, const Affine& grid,
                           const Shape& shape, const std::vector<float>* warp = nullptr);

struct SynthOptions {
  std::string out_dir;
  int64_t subjects = 20;
  uint64_t seed = 0;
  Shape shape = {64, 80, 64};
  double spacing = 0;  // mm; 0: 192 / shape[0] (the reference's 192 mm field of view)
  std::vector<int64_t> visits = {0, 6, 12, 24};  // months
  DiagnosisMix mix;                               // fractions of CN, MCI and AD subjects
  // What is already removed from the scans (draw_subject); the default removes nothing, as the
  // cohorts made before this option existed.
  Preprocessing preprocessing = Preprocessing::none;
  std::string t1, gm, wm;  // template files (all three), or all empty for the phantom
                           // (`ldae synth` fills in shipped_template() unless --phantom)
  double phantom_spacing = 1.5;  // mm, grid of the phantom anatomy (coarser: faster)
  bool overview = true;    // write overview.png with a few subjects
  bool progress = false;   // print one line per subject to stderr
};

struct SynthSummary {
  int64_t scans = 0;
  double seconds = 0;
  double auc_hippocampus = 0;  // AUC of the baseline hippocampal volume, AD vs CN
  double auc_ventricles = 0;   // same for the ventricle volume
  int64_t counts[3] = {0, 0, 0};  // CN, MCI, AD subjects
  std::string manifest;
};

// Writes DIR/sub-XXXX/sub-XXXX_ses-MYY_T1w.nii.gz for every subject and visit,
// DIR/manifest.csv (subject, path, diagnosis, session, age, ventricle_ml,
// hippocampus_ml, gm_ml, severity) and DIR/overview.png. Creates DIR if needed.
SynthSummary generate_cohort(const SynthOptions& options);

// The template the project ships in data/template/ (MNI ICBM152 2009a resampled to
// 2 mm; see data/template/README.md): its T1, grey- and white-matter files.
struct TemplateFiles {
  std::string t1, gm, wm;
};

// Finds the shipped template, so that `ldae synth` uses it by default from any working
// folder. Looks in order in: the source tree the program was built from (a compile-time
// path: works from any working folder as long as the clone stays where it was built),
// then <exe dir>/../../data/template, found from the running executable (/proc/self/exe:
// build/bin/ldae in a clone that was moved after building). Returns the first folder
// that holds all three files. Throws ldae::Error ("synth: ...") naming every folder it
// tried if none does.
TemplateFiles shipped_template();

// Area under the ROC curve for telling `low` from `high` by a score where smaller means
// `low` (e.g. hippocampal volume: AD low, CN high): P(score_low < score_high), ties 1/2.
double auc(const std::vector<double>& low, const std::vector<double>& high);

}  // namespace ldae::data
