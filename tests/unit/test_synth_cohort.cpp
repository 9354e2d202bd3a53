// The record of a synthetic cohort, cohort.json (ldae/synth_cohort.h):
//   - the defaults write only seed, subjects, shape and visits (the record `ldae demo` wrote
//     before spacing, mix and anatomy were recorded), and read back as the defaults;
//   - a non-default spacing, mix, phantom or user template is recorded and read back;
//   - a bad record is refused with the reason, never thrown;
//   - a phantom cohort's record rebuilds the phantom: the labels rebuilt from the record
//     measure the volumes the generator wrote into the manifest (the shipped template's
//     labels, what the evaluation used before the anatomy was recorded, lie elsewhere).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>

#include "common/test_helpers.h"
#include "data/manifest.h"
#include "data/synth.h"
#include "ldae/manipulation_eval.h"
#include "ldae/synth_cohort.h"
#include "tensor/error.h"

namespace fs = std::filesystem;
using namespace ldae;
using ldae::testing::dot;

namespace {

fs::path temp_folder(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("ldae_synth_cohort_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  fs::create_directories(p);
  return p;
}

// The options `ldae synth` gives the generator by default (the shipped template).
data::SynthOptions default_options(const fs::path& out) {
  data::SynthOptions o;
  o.out_dir = out.string();
  const data::TemplateFiles t = data::shipped_template();
  o.t1 = t.t1, o.gm = t.gm, o.wm = t.wm;
  return o;
}

// Writes `text` as FOLDER/cohort.json and reads it back; returns the reason when refused, "" when read.
std::string read_back(const fs::path& folder, const std::string& text, stages::SynthCohort* cohort) {
  std::ofstream(folder / "cohort.json") << text;
  std::string why;
  return stages::find_synthetic_cohort(folder.string(), cohort, &why) ? "" : why;
}


// A 2-subject phantom cohort of one visit on a 16x20x16 grid (seed 3), with its cohort.json.
data::SynthOptions write_small_phantom_cohort(const fs::path& dir, data::Preprocessing preprocessing) {
  data::SynthOptions o;
  o.out_dir = dir.string();
  o.subjects = 2;
  o.seed = 3;
  o.shape = {16, 20, 16};
  o.visits = {0};
  o.phantom_spacing = 3.0;
  o.overview = false;
  o.preprocessing = preprocessing;
  data::generate_cohort(o);
  stages::write_synth_cohort_record(o);
  return o;
}

// How much of the ventricle label differs between two sets of regions (sum of |a - b|), and
// the label's own mass (sum of a).
double ventricle_label_moved(const data::SynthRegions& a, const data::SynthRegions& b) {
  double moved = 0;
  for (size_t i = 0; i < a.ventricle.size(); ++i) moved += std::abs(static_cast<double>(a.ventricle[i]) - b.ventricle[i]);
  return moved;
}
double ventricle_label_mass(const data::SynthRegions& a) {
  double mass = 0;
  for (float v : a.ventricle) mass += v;
  return mass;
}

}  // namespace

TEST(SynthCohort, DefaultsRecordOnlyTheSeedSubjectsShapeAndVisits) {
  const fs::path dir = temp_folder("defaults");
  data::SynthOptions o = default_options(dir);
  o.seed = 7;
  o.subjects = 3;
  const nlohmann::ordered_json r = stages::synth_cohort_record(o);
  EXPECT_EQ(r.dump(), R"({"seed":7,"subjects":3,"shape":[64,80,64],"visits":[0,6,12,24]})");
  stages::write_synth_cohort_record(o);
  stages::SynthCohort c;
  std::string why;
  ASSERT_TRUE(stages::find_synthetic_cohort(dir.string(), &c, &why)) << why;
  EXPECT_EQ(c.seed, 7u);
  EXPECT_EQ(c.shape, (Shape{64, 80, 64}));
  EXPECT_DOUBLE_EQ(c.spacing, 3.0);
  EXPECT_DOUBLE_EQ(c.mix.cn, data::DiagnosisMix{}.cn);
  EXPECT_EQ(c.preprocessing, data::Preprocessing::none);
  EXPECT_FALSE(c.phantom);
  EXPECT_TRUE(c.template_files.t1.empty());  // the shipped template
  // A spacing equal to the default (192 mm / X) is the default.
  o.spacing = 3.0;
  EXPECT_FALSE(stages::synth_cohort_record(o).contains("spacing"));
  fs::remove_all(dir);
}

TEST(SynthCohort, NonDefaultSpacingMixAndAnatomyAreRecordedAndReadBack) {
  const fs::path dir = temp_folder("other");
  data::SynthOptions o = default_options(dir);
  o.spacing = 2.5;
  o.mix = {0.5, 0.0, 0.5};
  o.t1.clear(), o.gm.clear(), o.wm.clear();  // the phantom
  o.phantom_spacing = 3.0;
  stages::write_synth_cohort_record(o);
  stages::SynthCohort c;
  std::string why;
  ASSERT_TRUE(stages::find_synthetic_cohort(dir.string(), &c, &why)) << why;
  EXPECT_DOUBLE_EQ(c.spacing, 2.5);
  EXPECT_DOUBLE_EQ(c.mix.cn, 0.5);
  EXPECT_DOUBLE_EQ(c.mix.mci, 0.0);
  EXPECT_TRUE(c.phantom);
  EXPECT_DOUBLE_EQ(c.phantom_spacing, 3.0);
  EXPECT_EQ(stages::synth_cohort_anatomy(c).source, "phantom");

  // A user's template (here the shipped files under other names) is recorded by absolute path.
  const data::TemplateFiles shipped = data::shipped_template();
  const fs::path t1 = dir / "t1.nii.gz", gm = dir / "gm.nii.gz", wm = dir / "wm.nii.gz";
  fs::copy_file(shipped.t1, t1);
  fs::copy_file(shipped.gm, gm);
  fs::copy_file(shipped.wm, wm);
  o.t1 = t1.string(), o.gm = gm.string(), o.wm = wm.string();
  stages::write_synth_cohort_record(o);
  ASSERT_TRUE(stages::find_synthetic_cohort(dir.string(), &c, &why)) << why;
  EXPECT_FALSE(c.phantom);
  EXPECT_EQ(c.template_files.wm, fs::absolute(wm).lexically_normal().string());
  EXPECT_EQ(stages::synth_cohort_anatomy(c).source, c.template_files.t1);
  // The template moved away: the anatomy cannot be loaded.
  fs::remove(gm);
  EXPECT_THROW(stages::synth_cohort_anatomy(c), Error);
  fs::remove_all(dir);
}

TEST(SynthCohort, BadRecordsAreRefusedWithTheReason) {
  const fs::path dir = temp_folder("bad");
  stages::SynthCohort c;
  std::string why;
  EXPECT_FALSE(stages::find_synthetic_cohort(dir.string(), &c, &why));
  EXPECT_NE(why.find("no " + (dir / "cohort.json").string()), std::string::npos) << why;
  const std::string head = R"({"seed": 5, "shape": [16, 20, 16], )";
  EXPECT_NE(read_back(dir, "{not json", &c).find("not valid JSON"), std::string::npos);
  EXPECT_NE(read_back(dir, R"({"shape": [16, 20, 16]})", &c).find("lacks the seed"), std::string::npos);
  EXPECT_NE(read_back(dir, R"({"seed": 5, "shape": [16, 20]})", &c).find("3-size shape"), std::string::npos);
  EXPECT_NE(read_back(dir, R"({"seed": 5, "shape": [16, 0, 16]})", &c).find("sizes > 1"), std::string::npos);
  EXPECT_NE(read_back(dir, head + R"("spacing": -1})", &c).find("spacing"), std::string::npos);
  EXPECT_NE(read_back(dir, head + R"("spacing": "3"})", &c).find("spacing"), std::string::npos);
  EXPECT_NE(read_back(dir, head + R"("registered": "yes"})", &c).find("registered"), std::string::npos);
  EXPECT_NE(read_back(dir, head + R"("preprocessed": 1})", &c).find("preprocessed"), std::string::npos);
  EXPECT_NE(read_back(dir, head + R"("anatomy": "brain"})", &c).find("anatomy"), std::string::npos);
  EXPECT_NE(read_back(dir, head + R"("anatomy": {"t1": "a", "gm": "b"}})", &c).find("anatomy"), std::string::npos);
  EXPECT_NE(read_back(dir, head + R"("anatomy": "phantom", "phantom_spacing": 0})", &c).find("phantom_spacing"),
            std::string::npos);
  EXPECT_EQ(read_back(dir, head + R"("anatomy": "phantom"})", &c), "");
  EXPECT_DOUBLE_EQ(c.phantom_spacing, 1.5);  // the generator's default
  fs::remove_all(dir);
}

TEST(SynthCohort, APhantomCohortsRecordRebuildsItsTruth) {
  const fs::path dir = temp_folder("phantom");
  write_small_phantom_cohort(dir, data::Preprocessing::none);
  stages::SynthCohort c;
  std::string why;
  ASSERT_TRUE(stages::find_synthetic_cohort(dir.string(), &c, &why)) << why;
  ASSERT_TRUE(c.phantom);
  const data::Manifest m = data::read_manifest((dir / "manifest.csv").string());
  ASSERT_EQ(m.rows.size(), 2u);
  const double ml = c.spacing * c.spacing * c.spacing / 1000.0;
  const data::Anatomy phantom = stages::synth_cohort_anatomy(c);
  const data::TemplateFiles t = data::shipped_template();
  const data::Anatomy shipped = data::template_anatomy(t.t1, t.gm, t.wm);
  for (size_t row = 0; row < m.rows.size(); ++row) {
    const std::string& id = m.rows[row].subject;
    const double ventricle_ml = std::stod(m.field(row, "ventricle_ml"));
    const data::SynthSubject s = data::draw_subject(stages::synth_subject_index(id), c.seed, c.mix);
    const data::SynthRegions own =
        data::synth_regions(phantom, s, 0, data::synth_grid(phantom, c.shape, c.spacing), c.shape);
    EXPECT_NEAR(dot(own.csf, own.ventricle) * ml, ventricle_ml, 2e-3 + 1e-4 * ventricle_ml) << id;
    const data::SynthRegions wrong =
        data::synth_regions(shipped, s, 0, data::synth_grid(shipped, c.shape, c.spacing), c.shape);
    // The phantom is drawn to resemble the template, so its volumes are close; its labels are not where
    // the template's are: more than a tenth of the ventricle label moves.
    EXPECT_GT(ventricle_label_moved(own, wrong), 0.1 * ventricle_label_mass(own)) << id;
    // The evaluation's labels are the phantom's.
    const stages::RegionMaps maps = stages::subject_regions(phantom, c, id, 0);
    const float* v = maps.ventricle.data<float>();
    for (size_t i = 0; i < own.ventricle.size(); ++i) ASSERT_EQ(v[i], own.ventricle[i]);
  }
  fs::remove_all(dir);
}

// A cohort generated with `registered` (no head size or pose) is recorded as such, and the
// evaluation rebuilds its labels without the pose: they equal the registered subject's and give
// the manifest's volumes, while the unregistered subject's labels are elsewhere.
TEST(SynthCohort, ARegisteredCohortsRecordRebuildsItsTruthWithoutThePose) {
  const fs::path dir = temp_folder("registered");
  const data::SynthOptions o = write_small_phantom_cohort(dir, data::Preprocessing::registered);
  EXPECT_TRUE(stages::synth_cohort_record(o).value("registered", false));
  stages::SynthCohort c;
  std::string why;
  ASSERT_TRUE(stages::find_synthetic_cohort(dir.string(), &c, &why)) << why;
  ASSERT_EQ(c.preprocessing, data::Preprocessing::registered);
  const data::Manifest m = data::read_manifest((dir / "manifest.csv").string());
  ASSERT_EQ(m.rows.size(), 2u);
  const double ml = c.spacing * c.spacing * c.spacing / 1000.0;
  const data::Anatomy phantom = stages::synth_cohort_anatomy(c);
  const data::Affine grid = data::synth_grid(phantom, c.shape, c.spacing);
  for (size_t row = 0; row < m.rows.size(); ++row) {
    const std::string& id = m.rows[row].subject;
    const int64_t index = stages::synth_subject_index(id);
    const data::SynthSubject registered = data::draw_subject(index, c.seed, c.mix, data::Preprocessing::registered);
    const data::SynthSubject posed = data::draw_subject(index, c.seed, c.mix);
    EXPECT_NE(posed.head_scale, 1.0) << id;  // the pose the option drops is there without it
    const data::SynthRegions own = data::synth_regions(phantom, registered, 0, grid, c.shape);
    const double ventricle_ml = std::stod(m.field(row, "ventricle_ml"));
    EXPECT_NEAR(dot(own.csf, own.ventricle) * ml, ventricle_ml, 2e-3 + 1e-4 * ventricle_ml) << id;
    const data::SynthRegions wrong = data::synth_regions(phantom, posed, 0, grid, c.shape);
    EXPECT_GT(ventricle_label_moved(own, wrong), 0.01 * ventricle_label_mass(own)) << id;
    const stages::RegionMaps maps = stages::subject_regions(phantom, c, id, 0);
    const float* v = maps.ventricle.data<float>();
    for (size_t i = 0; i < own.ventricle.size(); ++i) ASSERT_EQ(v[i], own.ventricle[i]) << id;
  }
  fs::remove_all(dir);
}
