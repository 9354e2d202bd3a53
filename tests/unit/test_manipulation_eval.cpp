// The ground-truth regions of the manipulation experiment (ldae/manipulation_eval.h): the
// labels rebuilt for a generated cohort's subject measure exactly the volumes the generator
// wrote into the manifest, and those of another subject do not.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/test_helpers.h"
#include "data/manifest.h"
#include "data/synth.h"
#include "ldae/manipulation_eval.h"
#include "tensor/error.h"

namespace fs = std::filesystem;
using namespace ldae;
using ldae::testing::dot;

TEST(ManipulationEval, SubjectIndexFromId) {
  EXPECT_EQ(stages::synth_subject_index("sub-0001"), 0);
  EXPECT_EQ(stages::synth_subject_index("sub-0016"), 15);
  for (const char* bad : {"sub-0000", "sub-", "0001", "sub-00a1", "subj-0001"})
    EXPECT_THROW(stages::synth_subject_index(bad), Error) << bad;
}

TEST(ManipulationEval, RegionsOfAGeneratedCohortMatchItsTruth) {
  const fs::path base = fs::temp_directory_path() / ("ldae_manip_" + std::to_string(::getpid()));
  fs::remove_all(base);
  const data::TemplateFiles t = data::shipped_template();
  data::SynthOptions o;
  o.out_dir = base.string();
  o.subjects = 2;
  o.seed = 5;
  o.shape = {16, 20, 16};
  o.visits = {0, 24};
  o.t1 = t.t1, o.gm = t.gm, o.wm = t.wm;
  o.overview = false;
  data::generate_cohort(o);
  const data::Manifest m = data::read_manifest((base / "manifest.csv").string());
  ASSERT_EQ(m.rows.size(), 4u);

  // Without cohort.json the cohort is not identified; with it, seed and shape are read.
  stages::SynthCohort cohort;
  std::string why;
  EXPECT_FALSE(stages::find_synthetic_cohort(base.string(), &cohort, &why));
  EXPECT_NE(why.find("cohort.json"), std::string::npos) << why;
  std::ofstream(base / "cohort.json") << R"({"preset": "tiny", "seed": 5, "subjects": 2, "shape": [16, 20, 16]})";
  ASSERT_TRUE(stages::find_synthetic_cohort(base.string(), &cohort, &why)) << why;
  EXPECT_EQ(cohort.seed, 5u);
  EXPECT_EQ(cohort.shape, (Shape{16, 20, 16}));
  EXPECT_DOUBLE_EQ(cohort.spacing, 12.0);

  const data::Anatomy anatomy = data::template_anatomy(t.t1, t.gm, t.wm);
  const data::Affine grid = data::synth_grid(anatomy, cohort.shape, cohort.spacing);
  const double ml = 12.0 * 12.0 * 12.0 / 1000.0;
  for (size_t row = 0; row < m.rows.size(); ++row) {
    const data::ManifestRow& r = m.rows[row];
    const double ventricle_ml = std::stod(m.field(row, "ventricle_ml"));
    const double hippocampus_ml = std::stod(m.field(row, "hippocampus_ml"));
    const int64_t index = stages::synth_subject_index(r.subject);
    // The right subject: the label-weighted tissue volumes are the manifest's (3 decimals).
    const data::SynthRegions own =
        data::synth_regions(anatomy, data::draw_subject(index, cohort.seed), r.session, grid, cohort.shape);
    EXPECT_NEAR(dot(own.csf, own.ventricle) * ml, ventricle_ml, 2e-3 + 1e-4 * ventricle_ml) << r.path;
    EXPECT_NEAR(dot(own.gm, own.hippocampus) * ml, hippocampus_ml, 2e-3 + 1e-4 * hippocampus_ml) << r.path;
    // The other subject's labels (a wrong index) measure another volume.
    const data::SynthRegions other =
        data::synth_regions(anatomy, data::draw_subject(1 - index, cohort.seed), r.session, grid, cohort.shape);
    EXPECT_GT(std::abs(dot(other.csf, other.ventricle) * ml - ventricle_ml), 0.01 * ventricle_ml) << r.path;
    // What the evaluation uses: the same labels, as (X, Y, Z) tensors, with their mass where
    // the scan is: the ventricle region (CSF) darker than the hippocampal one (grey matter).
    const stages::RegionMaps maps = stages::subject_regions(anatomy, cohort, r.subject, r.session);
    ASSERT_EQ(maps.ventricle.shape(), cohort.shape);
    const float* v = maps.ventricle.data<float>();
    for (size_t i = 0; i < own.ventricle.size(); ++i) ASSERT_EQ(v[i], own.ventricle[i]);
    const data::Volume scan = data::read_nifti(r.full_path);
    EXPECT_LT(stages::region_mean(scan.voxels, maps.ventricle), stages::region_mean(scan.voxels, maps.hippocampus))
        << r.path;
  }
  fs::remove_all(base);
}

// A cohort drawn with another diagnosis mix: cohort.json's diagnosis_mix is read and the regions
// are those of the subjects drawn with it; a mix that does not sum to 1 is refused.
TEST(ManipulationEval, CohortDiagnosisMixIsRead) {
  const fs::path base = fs::temp_directory_path() / ("ldae_manip_mix_" + std::to_string(::getpid()));
  fs::remove_all(base);
  fs::create_directories(base);
  stages::SynthCohort cohort;
  std::string why;
  std::ofstream(base / "cohort.json") << R"({"seed": 5, "shape": [16, 20, 16], "diagnosis_mix": [0, 0, 1]})";
  ASSERT_TRUE(stages::find_synthetic_cohort(base.string(), &cohort, &why)) << why;
  EXPECT_DOUBLE_EQ(cohort.mix.cn, 0.0);
  EXPECT_DOUBLE_EQ(cohort.mix.ad, 1.0);
  const data::TemplateFiles t = data::shipped_template();
  const data::Anatomy anatomy = data::template_anatomy(t.t1, t.gm, t.wm);
  const data::Affine grid = data::synth_grid(anatomy, cohort.shape, cohort.spacing);
  const data::SynthSubject ad = data::draw_subject(0, 5, cohort.mix);
  ASSERT_EQ(ad.diagnosis, "AD");
  const data::SynthRegions own = data::synth_regions(anatomy, ad, 0, grid, cohort.shape);
  const stages::RegionMaps maps = stages::subject_regions(anatomy, cohort, "sub-0001", 0);
  const float* h = maps.hippocampus.data<float>();
  for (size_t i = 0; i < own.hippocampus.size(); ++i) ASSERT_EQ(h[i], own.hippocampus[i]);
  std::ofstream(base / "cohort.json") << R"({"seed": 5, "shape": [16, 20, 16], "diagnosis_mix": [0.5, 0.5, 0.5]})";
  EXPECT_FALSE(stages::find_synthetic_cohort(base.string(), &cohort, &why));
  EXPECT_NE(why.find("sum to 1"), std::string::npos) << why;
  std::ofstream(base / "cohort.json") << R"({"seed": 5, "shape": [16, 20, 16], "diagnosis_mix": [0.5, 0.5]})";
  EXPECT_FALSE(stages::find_synthetic_cohort(base.string(), &cohort, &why));
  EXPECT_NE(why.find("three numbers"), std::string::npos) << why;
  fs::remove_all(base);
}

TEST(ManipulationEval, RegionMeanIsLabelWeighted) {
  const Tensor image = Tensor::from_vector({1, 2, 3, 4}, {2, 2});
  const Tensor label = Tensor::from_vector({0, 1, 0, 3}, {4});
  EXPECT_DOUBLE_EQ(stages::region_mean(image, label), (2.0 + 12.0) / 4.0);
  EXPECT_THROW(stages::region_mean(image, Tensor::zeros({4})), Error);
  EXPECT_THROW(stages::region_mean(image, Tensor::ones({3})), Error);
}
