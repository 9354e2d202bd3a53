// The synthetic cohort: determinism, plausible ground truth, disease-dependent change
// over visits, images that agree with the ground truth, and the files it writes.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "data/manifest.h"
#include "data/synth.h"

namespace fs = std::filesystem;
using namespace ldae;
using namespace ldae::data;

namespace {

const Anatomy& coarse_phantom() {
  static const Anatomy a = phantom_anatomy(3.0);
  return a;
}

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// A subject of the wanted diagnosis (the first one with this seed).
SynthSubject first_with(const std::string& dx, uint64_t seed) {
  for (int64_t i = 0; i < 200; ++i) {
    const SynthSubject s = draw_subject(i, seed);
    if (s.diagnosis == dx) return s;
  }
  throw std::runtime_error("no subject with diagnosis " + dx);
}

// Image-side measure of the ventricles: voxels darker than halfway between CSF and grey
// matter inside a central box around the lateral ventricles, in mL.
double dark_central_ml(const Volume& v, const SynthSubject& s) {
  const double threshold = 0.5 * (s.intensity[0] + s.intensity[1]);
  const Vec3 sp = v.spacing();
  double ml = 0;
  for (int64_t i = 0; i < v.voxels.size(0); ++i)
    for (int64_t j = 0; j < v.voxels.size(1); ++j)
      for (int64_t k = 0; k < v.voxels.size(2); ++k) {
        const Vec3 w = v.affine.apply({double(i), double(j), double(k)});
        if (std::abs(w[0]) > 22 || w[1] < -45 || w[1] > 25 || w[2] < 0 || w[2] > 34) continue;
        const double x = v.voxels.at({i, j, k});
        if (x > 0 && x < threshold) ml += sp[0] * sp[1] * sp[2] / 1000;
      }
  return ml;
}

}  // namespace

TEST(Synth, SubjectsAreDeterministicAndVaried) {
  const SynthSubject a = draw_subject(3, 11), b = draw_subject(3, 11), c = draw_subject(3, 12);
  EXPECT_EQ(a.diagnosis, b.diagnosis);
  EXPECT_DOUBLE_EQ(a.age, b.age);
  EXPECT_DOUBLE_EQ(a.wave_amp[2][1], b.wave_amp[2][1]);
  EXPECT_NE(a.age, c.age);
  int counts[3] = {0, 0, 0};
  for (int i = 0; i < 300; ++i) {
    const SynthSubject s = draw_subject(i, 0);
    counts[s.diagnosis == "CN" ? 0 : s.diagnosis == "MCI" ? 1 : 2]++;
    EXPECT_GE(s.age, 55);
    EXPECT_LE(s.age, 92);
    EXPECT_EQ(s.id, "sub-" + std::string(4 - std::to_string(i + 1).size(), '0') + std::to_string(i + 1));
  }
  for (int c3 : counts) EXPECT_GT(c3, 40);
}

// `registered` drops the head size and pose and nothing else: every other draw is the same
// subject's (the pose is drawn and then discarded).
TEST(Synth, RegisteredDropsOnlyTheHeadSizeAndPose) {
  int posed = 0;
  for (int i = 0; i < 50; ++i) {
    const SynthSubject a = draw_subject(i, 0), b = draw_subject(i, 0, DiagnosisMix{}, Preprocessing::registered);
    EXPECT_EQ(a.diagnosis, b.diagnosis);
    EXPECT_EQ(a.age, b.age);
    EXPECT_EQ(a.severity, b.severity);
    EXPECT_EQ(a.hippocampus_size, b.hippocampus_size);
    EXPECT_EQ(a.intensity[1], b.intensity[1]);
    EXPECT_EQ(a.wave_amp[5][2], b.wave_amp[5][2]);
    EXPECT_EQ(a.wave_phase[0], b.wave_phase[0]);
    EXPECT_EQ(b.head_scale, 1.0);
    for (int k = 0; k < 3; ++k) {
      EXPECT_EQ(b.rotation[k], 0.0);
      EXPECT_EQ(b.translation[k], 0.0);
    }
    EXPECT_EQ(b.bias_scale, 1.0);
    posed += a.head_scale != 1.0 && a.translation[0] != 0.0;
  }
  EXPECT_EQ(posed, 50);
}

// `full` preprocessing also drops the bias field, keeps 30 % of the smooth deformation and gives
// every subject the template's tissue intensities; the disease, the age and the waves' directions
// and phases stay the raw subject's.
TEST(Synth, FullPreprocessingAlsoDropsTheBiasMostOfTheWarpAndTheIntensities) {
  int varied_intensity = 0;
  for (int i = 0; i < 50; ++i) {
    const SynthSubject a = draw_subject(i, 0), b = draw_subject(i, 0, DiagnosisMix{}, Preprocessing::full);
    EXPECT_EQ(a.diagnosis, b.diagnosis);
    EXPECT_EQ(a.age, b.age);
    EXPECT_EQ(a.severity, b.severity);
    EXPECT_EQ(a.rate, b.rate);
    EXPECT_EQ(a.hippocampus_size, b.hippocampus_size);
    EXPECT_EQ(a.ventricle_size, b.ventricle_size);
    EXPECT_EQ(a.gm_loss, b.gm_loss);
    EXPECT_EQ(b.head_scale, 1.0);
    for (int k = 0; k < 3; ++k) EXPECT_EQ(b.rotation[k] + b.translation[k], 0.0);
    EXPECT_EQ(b.bias_scale, 0.0);
    for (int w = 0; w < 6; ++w) {
      EXPECT_EQ(a.wave_phase[w], b.wave_phase[w]);
      for (int k = 0; k < 3; ++k) {
        EXPECT_EQ(a.wave_vec[w][k], b.wave_vec[w][k]);
        EXPECT_DOUBLE_EQ(b.wave_amp[w][k], 0.3 * a.wave_amp[w][k]);
      }
    }
    EXPECT_EQ(b.intensity[0], 0.12);
    EXPECT_EQ(b.intensity[1], 0.50);
    EXPECT_EQ(b.intensity[2], 0.80);
    varied_intensity += a.intensity[1] != 0.50;
  }
  EXPECT_EQ(varied_intensity, 50);
  EXPECT_STREQ(preprocessing_name(Preprocessing::full), "full");
}

// bias_scale 0 removes the bias field and nothing else: the same subject's scan with and without
// it differs inside the brain (the field multiplies it there) and nowhere else; the ratio of the
// two, where the noise is small next to the signal, is a smooth field near 1, not 1.
TEST(Synth, BiasScaleZeroRemovesTheBiasField) {
  const Anatomy& phantom = coarse_phantom();
  const Shape shape = {16, 20, 16};
  const Affine grid = synth_grid(phantom, shape, 12.0);
  SynthSubject s = draw_subject(1, 4, DiagnosisMix{}, Preprocessing::registered);
  const Volume biased = synthesize_scan(phantom, s, 0, 0, grid, shape, 4, nullptr);
  s.bias_scale = 0;
  const Volume flat = synthesize_scan(phantom, s, 0, 0, grid, shape, 4, nullptr);
  const float* b = biased.voxels.data<float>();
  const float* f = flat.voxels.data<float>();
  double lo = 1e9, hi = 0;
  int64_t bright = 0;
  for (int64_t i = 0; i < numel(shape); ++i) {
    ASSERT_EQ(b[i] == 0.0f, f[i] == 0.0f) << i;  // the same brain: empty in both or in neither
    if (f[i] > 0.4f) {  // white matter: noise (sigma <= 0.03) small next to the signal
      lo = std::min(lo, double(b[i]) / f[i]);
      hi = std::max(hi, double(b[i]) / f[i]);
      ++bright;
    }
  }
  ASSERT_GT(bright, 20);
  EXPECT_GT(hi - lo, 0.01);  // the field varies across the brain
  EXPECT_GT(lo, 0.6);
  EXPECT_LT(hi, 1.6);
}

// The diagnosis mix: the default is the ADNI-like 0.40 / 0.35 / 0.25 (thresholds 0.40 and
// 0.40 + 0.35 == 0.75 exactly, those of the generator before the mix existed); another mix changes
// the fractions (1000 subjects: within 5 points of each); the degenerate mixes give one diagnosis;
// invalid mixes are refused.
TEST(Synth, DiagnosisMixSetsTheFractions) {
  int same = 0;
  for (int i = 0; i < 200; ++i) {
    const SynthSubject a = draw_subject(i, 0), b = draw_subject(i, 0, DiagnosisMix{0.40, 0.35, 0.25});
    same += a.diagnosis == b.diagnosis && a.age == b.age && a.head_scale == b.head_scale;
  }
  EXPECT_EQ(same, 200);
  int counts[3] = {0, 0, 0};
  const DiagnosisMix enriched{0.40, 0.20, 0.40};
  for (int i = 0; i < 1000; ++i) {
    const SynthSubject s = draw_subject(i, 0, enriched);
    counts[s.diagnosis == "CN" ? 0 : s.diagnosis == "MCI" ? 1 : 2]++;
  }
  EXPECT_NEAR(counts[0] / 1000.0, 0.40, 0.05);
  EXPECT_NEAR(counts[1] / 1000.0, 0.20, 0.05);
  EXPECT_NEAR(counts[2] / 1000.0, 0.40, 0.05);
  for (int i = 0; i < 20; ++i) {
    EXPECT_EQ(draw_subject(i, 1, DiagnosisMix{0, 0, 1}).diagnosis, "AD");
    EXPECT_EQ(draw_subject(i, 1, DiagnosisMix{1, 0, 0}).diagnosis, "CN");
    EXPECT_EQ(draw_subject(i, 1, DiagnosisMix{0, 1, 0}).diagnosis, "MCI");
  }
  EXPECT_NO_THROW(check_diagnosis_mix(DiagnosisMix{}));
  EXPECT_THROW(check_diagnosis_mix(DiagnosisMix{0.5, 0.5, 0.5}), Error);
  EXPECT_THROW(check_diagnosis_mix(DiagnosisMix{1.2, -0.1, -0.1}), Error);
  EXPECT_THROW(check_diagnosis_mix(DiagnosisMix{std::nan(""), 0.5, 0.5}), Error);
}

TEST(Synth, ScanTruthIsPlausibleAndChangesWithDisease) {
  const Anatomy& anat = coarse_phantom();
  const Shape shape = {40, 48, 40};
  const Affine grid = synth_grid(anat, shape, 4.8);
  for (const char* dx : {"CN", "AD"}) {
    const SynthSubject s = first_with(dx, 3);
    SynthTruth t0, t1;
    const Volume v0 = synthesize_scan(anat, s, 0, 0, grid, shape, 3, &t0);
    synthesize_scan(anat, s, 48, 1, grid, shape, 3, &t1);
    EXPECT_EQ(v0.voxels.shape(), shape);
    EXPECT_EQ(v0.affine.orientation(), "RAS");
    EXPECT_EQ(v0.voxels.at({0, 0, 0}), 0.0);  // background outside the brain
    EXPECT_GT(v0.voxels.at({20, 26, 22}), 0.05);
    EXPECT_GT(t0.ventricle_ml, 3);
    EXPECT_LT(t0.ventricle_ml, 80);
    EXPECT_GT(t0.hippocampus_ml, 1);
    EXPECT_LT(t0.hippocampus_ml, 12);
    EXPECT_NEAR(t1.age - t0.age, 4.0, 1e-9);
    // Four years later: larger ventricles, smaller hippocampi, less grey matter.
    EXPECT_GT(t1.ventricle_ml, t0.ventricle_ml) << dx;
    EXPECT_LT(t1.hippocampus_ml, t0.hippocampus_ml) << dx;
    EXPECT_LT(t1.gm_ml, t0.gm_ml) << dx;
    if (std::string(dx) == "AD") {
      EXPECT_GT(t1.severity, t0.severity);
    }
  }
}

TEST(Synth, ImagesAgreeWithTheGroundTruth) {
  // Across subjects, the dark (CSF-like) volume around the ventricles measured on the
  // images follows the ground-truth ventricle volume.
  const Anatomy& anat = coarse_phantom();
  const Shape shape = {48, 60, 48};
  const Affine grid = synth_grid(anat, shape, 4.0);
  std::vector<double> truth, measured;
  for (int i = 0; i < 10; ++i) {
    const SynthSubject s = draw_subject(i, 5);
    SynthTruth t;
    const Volume v = synthesize_scan(anat, s, 0, 0, grid, shape, 5, &t);
    truth.push_back(t.ventricle_ml);
    measured.push_back(dark_central_ml(v, s));
  }
  double mt = 0, mm = 0;
  for (size_t i = 0; i < truth.size(); ++i) mt += truth[i] / truth.size(), mm += measured[i] / truth.size();
  double stt = 0, smm = 0, stm = 0;
  for (size_t i = 0; i < truth.size(); ++i) {
    stt += (truth[i] - mt) * (truth[i] - mt);
    smm += (measured[i] - mm) * (measured[i] - mm);
    stm += (truth[i] - mt) * (measured[i] - mm);
  }
  const double r = stm / std::sqrt(stt * smm);
  EXPECT_GT(r, 0.8) << "correlation of image-measured and true ventricle volumes";
}

TEST(Synth, AucCountsPairs) {
  EXPECT_DOUBLE_EQ(auc({1, 2}, {3, 4}), 1.0);
  EXPECT_DOUBLE_EQ(auc({3, 4}, {1, 2}), 0.0);
  EXPECT_DOUBLE_EQ(auc({1, 3}, {2, 3}), 0.625);  // (1<2)+(1<3)+(3=3)/2 of 4 pairs
  EXPECT_THROW(auc({}, {1}), Error);
}

TEST(Synth, CohortFilesAreReproducibleByteForByte) {
  const fs::path base = fs::temp_directory_path() / ("ldae_synth_" + std::to_string(::getpid()));
  fs::remove_all(base);
  SynthOptions o;
  o.subjects = 3;
  o.seed = 9;
  o.shape = {16, 20, 16};
  o.spacing = 12;
  o.visits = {0, 12};
  o.phantom_spacing = 3.0;
  o.out_dir = (base / "a").string();
  const SynthSummary s = generate_cohort(o);
  o.out_dir = (base / "b").string();
  generate_cohort(o);
  EXPECT_EQ(s.scans, 6);
  const Manifest m = read_manifest((base / "a" / "manifest.csv").string());  // checks every file exists
  ASSERT_EQ(m.rows.size(), 6u);
  for (const char* col : {"ventricle_ml", "hippocampus_ml", "gm_ml", "severity"}) EXPECT_GE(m.column_index(col), 0) << col;
  EXPECT_EQ(m.rows[1].session, 12);
  EXPECT_NE(m.rows[1].path.find("ses-M12"), std::string::npos);
  EXPECT_TRUE(fs::exists(base / "a" / "overview.png"));
  EXPECT_EQ(slurp(base / "a" / "manifest.csv"), slurp(base / "b" / "manifest.csv"));
  for (const auto& row : m.rows)
    EXPECT_EQ(slurp(base / "a" / row.path), slurp(base / "b" / row.path)) << row.path;
  const Volume v = read_nifti((base / "a" / m.rows[0].path).string());
  EXPECT_EQ(v.voxels.shape(), (Shape{16, 20, 16}));
  fs::remove_all(base);
  SynthOptions bad = o;
  bad.t1 = "t1.nii.gz";  // a template needs all three files
  EXPECT_THROW(generate_cohort(bad), Error);
  bad = o;
  bad.visits = {12, 6};
  EXPECT_THROW(generate_cohort(bad), Error);
}

// The ventricle and hippocampus labels found on a template anatomy are plausible.
static void expect_plausible_template(const Anatomy& a) {
  double vent = 0, hippo = 0;
  const Vec3 sp = a.affine.spacing();
  const double ml = sp[0] * sp[1] * sp[2] / 1000;
  for (size_t v = 0; v < a.maps.size() / kChannels; ++v) {
    vent += a.maps[v * kChannels + kCSF] * a.maps[v * kChannels + kVentricle] * ml;
    hippo += a.maps[v * kChannels + kGM] * a.maps[v * kChannels + kHippocampus] * ml;
  }
  EXPECT_GT(vent, 8);  // the young-adult template's lateral ventricles: about 15 mL
  EXPECT_LT(vent, 40);
  EXPECT_GT(hippo, 3);
  EXPECT_LT(hippo, 10);
  EXPECT_LT(a.ventricle_centre[0][0], 0);
  EXPECT_GT(a.ventricle_centre[1][0], 0);
}

TEST(Synth, TemplateAnatomyFromMni) {
  const std::string d = std::string(LDAE_SOURCE_DIR) + "/../shared/data/mni_icbm152_2009a_";
  if (!fs::exists(d + "t1.nii.gz")) GTEST_SKIP() << "MNI template not found at " << d << "* (../shared/data is optional)";
  expect_plausible_template(template_anatomy(d + "t1.nii.gz", d + "gm.nii.gz", d + "wm.nii.gz"));
}

TEST(Synth, ShippedTemplateIsFoundAndUsable) {
  // The copy in data/template/ (2 mm, uint8) is the default anatomy of `ldae synth`.
  const TemplateFiles t = shipped_template();
  EXPECT_EQ(fs::path(t.t1).filename(), "mni_icbm152_2009a_t1_2mm.nii.gz");
  EXPECT_TRUE(fs::equivalent(fs::path(t.t1).parent_path(), fs::path(LDAE_SOURCE_DIR) / "data" / "template"));
  const Anatomy a = template_anatomy(t.t1, t.gm, t.wm);
  EXPECT_NEAR(a.affine.spacing()[0], 2.0, 1e-6);
  expect_plausible_template(a);
}
