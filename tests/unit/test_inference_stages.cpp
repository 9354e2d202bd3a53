// The inference commands' library functions (ldae/inference_stages.h) on a tiny random LDAE
// and synthetic NIfTI scans: the files they write, their contents, and the refusals that
// come before any work.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>

#include "common/test_helpers.h"
#include "common/tiny_ldae.h"
#include "data/nifti.h"
#include "data/preprocess.h"
#include "ldae/linear_probe.h"
#include "ldae/metrics.h"
#include "ldae/inference_stages.h"
#include "ldae/run/run_folder.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"

using namespace ldae;
namespace fs = std::filesystem;
using ldae::testing::expect_error;

namespace {

class InferenceStages : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("ldae_infer_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // A smooth random scan of the tiny grid with an oblique-free 1.5 mm affine.
  std::string write_scan(const std::string& name, uint64_t seed, Shape shape = {16, 20, 16}) const {
    Generator gen(seed);
    const Tensor v = mul_scalar(rand(shape, gen), 300.0);
    data::write_nifti(path(name), data::make_volume(v, data::Affine::scaling({1.5, 1.5, 1.5}, {-10, 4, 2}), 2));
    return path(name);
  }

  static std::string read_text(const std::string& p) {
    std::ifstream in(p);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
  }

  fs::path dir_;
};

infer::AutoencodingOptions two_steps() { return infer::AutoencodingOptions::fixed(2); }

}  // namespace

TEST_F(InferenceStages, ReconstructWritesTheVolumesFigureAndMetrics) {
  infer::LdaeModel m = ldae::testing::tiny_ldae();
  stages::ReconstructRequest r;
  r.image = write_scan("scan.nii.gz", 1);
  r.out = path("rec");
  r.mode = infer::Mode::Semantic;
  r.sampler = two_steps();
  r.seed = 4;
  r.progress = false;
  r.provenance["run"] = "RUN3";
  const stages::ReconstructResult res = stages::reconstruct_scan(m, r);
  for (const std::string& f : {res.reconstruction, res.autoencoder_reconstruction, res.figure, res.metrics})
    EXPECT_TRUE(fs::is_regular_file(f) && fs::file_size(f) > 0) << f;
  const data::Volume in = data::read_nifti(r.image), out = data::read_nifti(res.reconstruction);
  EXPECT_EQ(out.shape(), in.shape());
  for (int i = 0; i < 4; ++i)
    for (int j = 0; j < 4; ++j) EXPECT_NEAR(out.affine.m[i][j], in.affine.m[i][j], 1e-6);
  EXPECT_EQ(out.space_code, 2);
  const nlohmann::json j = run::read_json(res.metrics);
  EXPECT_EQ(j["mode"], "semantic");
  EXPECT_EQ(j["sampler"]["name"], "fixed");
  EXPECT_EQ(j["sampler"]["decode_steps"], 2);
  EXPECT_EQ(j["provenance"]["run"], "RUN3");
  for (const char* k : {"vs_input", "vs_autoencoder", "autoencoder_vs_input"}) {
    EXPECT_TRUE(j[k].contains("ssim") && j[k].contains("psnr") && j[k].contains("mse")) << k;
    EXPECT_GE(j[k]["mse"].get<double>(), 0.0);
  }
  EXPECT_DOUBLE_EQ(j["vs_input"]["ssim"].get<double>(), res.vs_input.ssim);
  // The written reconstruction is the library's result for the [0, 1]-scaled scan.
  const stages::Scan scan = stages::read_scan("t", m, r.image);
  const std::vector<double> sv = scan.tensor.to_vector();
  EXPECT_EQ(*std::min_element(sv.begin(), sv.end()), 0.0);  // min-max scaled as in training
  EXPECT_EQ(*std::max_element(sv.begin(), sv.end()), 1.0);
  Generator gen(4);
  const infer::Reconstruction lib = infer::reconstruct(m, scan.tensor, infer::Mode::Semantic, two_steps(), &gen);
  EXPECT_EQ(lib.image.reshape({16, 20, 16}).to_vector(), out.voxels.to_vector());
}

TEST_F(InferenceStages, ReconstructRefusesABadScanBeforeWriting) {
  infer::LdaeModel m = ldae::testing::tiny_ldae();
  stages::ReconstructRequest r;
  r.image = write_scan("small.nii.gz", 1, {16, 20, 12});
  r.out = path("rec");
  r.sampler = two_steps();
  r.progress = false;
  expect_error([&] { stages::reconstruct_scan(m, r); },
               {"reconstruct", "small.nii.gz", "(16, 20, 12)", "trained on (16, 20, 16)"});
  EXPECT_FALSE(fs::exists(r.out));
  r.image = path("absent.nii.gz");
  expect_error([&] { stages::reconstruct_scan(m, r); }, {"reconstruct", "absent.nii.gz"});
}

TEST_F(InferenceStages, EncodeManifestWritesCodesAndFeatures) {
  infer::LdaeModel m = ldae::testing::tiny_ldae();
  write_scan("a0.nii.gz", 1);
  write_scan("a12.nii.gz", 2);
  write_scan("b0.nii.gz", 3);
  {
    std::ofstream csv(path("manifest.csv"));
    csv << "subject,path,diagnosis,session,age,split\n"
        << "sub-01,a0.nii.gz,CN,0,70.5,train\n"
        << "sub-01,a12.nii.gz,CN,M12,71.5,train\n"
        << "sub-02,b0.nii.gz,AD,bl,,test\n";
  }
  stages::EncodeRequest r;
  r.manifest = path("manifest.csv");
  r.out = path("enc");
  r.sampler = two_steps();
  r.progress = false;
  const stages::EncodeResult res = stages::encode_scans(m, r);
  ASSERT_EQ(res.count, 3);
  ASSERT_EQ(res.codes.size(), 3u);
  EXPECT_EQ(fs::path(res.codes[1]).filename(), "sub-01_ses-M12.safetensors");
  const SafetensorsFile f = read_safetensors(res.codes[0]);
  ASSERT_EQ(f.tensors.count("y_sem"), 1u);
  ASSERT_EQ(f.tensors.count("x_T"), 1u);
  EXPECT_EQ(f.tensors.at("y_sem").shape(), (Shape{32}));
  EXPECT_EQ(f.tensors.at("x_T").shape(), (Shape{3, 8, 10, 8}));
  EXPECT_NE(f.metadata.at("image").find("a0.nii.gz"), std::string::npos);
  // features.csv: the contract's header, one row per scan in manifest order.
  std::istringstream lines(read_text(res.features));
  std::string header, row;
  std::getline(lines, header);
  EXPECT_EQ(header, stages::features_header(32));
  EXPECT_EQ(header.substr(0, 40), "subject,session,diagnosis,age,split,y0,y");
  std::vector<std::string> rows;
  while (std::getline(lines, row)) rows.push_back(row);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0].rfind("sub-01,0,CN,70.5,train,", 0), 0u) << rows[0];
  EXPECT_EQ(rows[1].rfind("sub-01,12,CN,71.5,train,", 0), 0u) << rows[1];
  EXPECT_EQ(rows[2].rfind("sub-02,0,AD,,test,", 0), 0u) << rows[2];
  // The y values in the CSV are the file's y_sem.
  std::vector<std::string> cells;
  std::stringstream ss(rows[0]);
  for (std::string c; std::getline(ss, c, ',');) cells.push_back(c);
  ASSERT_EQ(cells.size(), 5u + 32u);
  const std::vector<double> y = f.tensors.at("y_sem").to_vector();
  for (size_t k = 0; k < 32; ++k) EXPECT_NEAR(std::stod(cells[5 + k]), y[k], 1e-6 * (1 + std::fabs(y[k])));
  // A sample's y_sem does not depend on the others in the manifest.
  stages::EncodeRequest one;
  one.image = path("a0.nii.gz");
  one.out = path("one");
  one.with_xT = false;
  one.progress = false;
  const stages::EncodeResult single = stages::encode_scans(m, one);
  const SafetensorsFile g = read_safetensors(single.codes[0]);
  EXPECT_EQ(fs::path(single.codes[0]).filename(), "a0.safetensors");
  EXPECT_EQ(g.tensors.count("x_T"), 0u);
  EXPECT_EQ(g.tensors.at("y_sem").to_vector(), y);
  EXPECT_TRUE(single.features.empty());
}

TEST_F(InferenceStages, EncodeWithoutSplitColumnLeavesItEmptyAndChecksEveryScanFirst) {
  infer::LdaeModel m = ldae::testing::tiny_ldae();
  write_scan("a0.nii.gz", 1);
  write_scan("bad.nii.gz", 2, {16, 16, 16});
  {
    std::ofstream csv(path("manifest.csv"));
    csv << "subject,path,diagnosis,session,age\nsub-01,a0.nii.gz,MCI,0,60\n";
    std::ofstream bad(path("bad.csv"));
    bad << "subject,path,diagnosis,session,age\nsub-01,a0.nii.gz,MCI,0,60\nsub-02,bad.nii.gz,CN,0,61\n";
  }
  stages::EncodeRequest r;
  r.manifest = path("manifest.csv");
  r.out = path("enc");
  r.with_xT = false;
  r.progress = false;
  const stages::EncodeResult res = stages::encode_scans(m, r);
  std::istringstream lines(read_text(res.features));
  std::string header, row;
  std::getline(lines, header);
  std::getline(lines, row);
  EXPECT_EQ(row.substr(0, 16), "sub-01,0,MCI,60,");
  EXPECT_EQ(row[16], ',');  // empty split, then y0
  r.manifest = path("bad.csv");
  r.out = path("enc_bad");
  expect_error([&] { stages::encode_scans(m, r); }, {"encode", "bad.nii.gz", "(16, 16, 16)"});
  EXPECT_FALSE(fs::exists(r.out));  // refused before any work
  r.image = path("a0.nii.gz");
  expect_error([&] { stages::encode_scans(m, r); }, {"encode", "exactly one"});
}

TEST_F(InferenceStages, VaryWritesKVariationsThatDiffer) {
  infer::LdaeModel m = ldae::testing::tiny_ldae();
  stages::VaryRequest r;
  r.image = write_scan("scan.nii.gz", 5);
  r.out = path("vary");
  r.count = 3;
  r.seed = 2;
  r.sampler = two_steps();
  r.progress = false;
  const stages::VaryResult res = stages::vary_scan(m, r);
  ASSERT_EQ(res.variations.size(), 3u);
  EXPECT_EQ(fs::path(res.variations[2]).filename(), "variation_03.nii.gz");
  const data::Volume a = data::read_nifti(res.variations[0]), b = data::read_nifti(res.variations[1]);
  double d = 0;
  const std::vector<double> av = a.voxels.to_vector(), bv = b.voxels.to_vector();
  for (size_t i = 0; i < av.size(); ++i) d = std::max(d, std::fabs(av[i] - bv[i]));
  EXPECT_GT(d, 1e-5);
  EXPECT_GT(res.mean_voxel_std, 0.0);
  EXPECT_TRUE(fs::is_regular_file(res.stddev));
  EXPECT_TRUE(fs::is_regular_file(res.figure));
  EXPECT_EQ(run::read_json(res.summary)["count"], 3);
  r.count = 0;
  expect_error([&] { stages::vary_scan(m, r); }, {"vary", "count"});
}

namespace {

// probes.safetensors as `ldae probe` writes it, with a random AD-vs-CN probe of `features` inputs.
std::string write_probe_file(const std::string& path, int64_t features, const std::string& positive = "AD") {
  Generator gen(11);
  nets::LinearProbe probe(features, gen);
  std::map<std::string, Tensor> tensors;
  for (const auto& [k, v] : probe.state_dict()) tensors["classifier." + k] = v.detach();
  write_safetensors(path, tensors, {{"positive_class", positive}});
  return path;
}

}  // namespace

TEST_F(InferenceStages, ManipulateWritesOneVolumePerAlphaAgainstAlphaZero) {
  infer::LdaeModel m = ldae::testing::tiny_ldae();
  stages::ManipulateRequest r;
  r.image = write_scan("scan.nii.gz", 5);
  r.probe = write_probe_file(path("probes.safetensors"), 32);  // the tiny encoder's width
  r.out = path("manip");
  r.alphas = {-1, 0, 2};
  r.sampler = two_steps();
  r.progress = false;
  const stages::ManipulateResult res = stages::manipulate_scan(m, r);
  ASSERT_EQ(res.images.size(), 3u);
  EXPECT_EQ(fs::path(res.images[0].file).filename(), "manipulated_alpha_-1.00.nii.gz");
  EXPECT_EQ(fs::path(res.images[1].file).filename(), "manipulated_alpha_+0.00.nii.gz");
  EXPECT_EQ(fs::path(res.images[2].file).filename(), "manipulated_alpha_+2.00.nii.gz");
  for (const auto& im : res.images) {
    EXPECT_TRUE(fs::is_regular_file(im.file)) << im.file;
    EXPECT_GT(im.ad_probability, 0.0);
    EXPECT_LT(im.ad_probability, 1.0);
  }
  EXPECT_EQ(res.images[1].mean_abs_change, 0.0);  // alpha 0 is the reference itself
  EXPECT_GT(res.images[0].mean_abs_change, 1e-6);  // the shift branch reads y_sem
  EXPECT_GT(res.images[2].mean_abs_change, 1e-6);
  EXPECT_TRUE(fs::is_regular_file(res.figure));
  const auto j = run::read_json(res.summary);
  EXPECT_EQ(j["alphas"].size(), 3u);
  EXPECT_EQ(j["features"], 32);
  EXPECT_EQ(j["alphas"][2]["file"], "manipulated_alpha_+2.00.nii.gz");

  // Without 0 among the alphas the reference is still alpha 0's decoding: the same change.
  r.out = path("manip2");
  r.alphas = {2};
  const stages::ManipulateResult two = stages::manipulate_scan(m, r);
  ASSERT_EQ(two.images.size(), 1u);
  EXPECT_EQ(two.images[0].mean_abs_change, res.images[2].mean_abs_change);
}

TEST_F(InferenceStages, ManipulateRefusesBeforeWriting) {
  infer::LdaeModel m = ldae::testing::tiny_ldae();
  stages::ManipulateRequest r;
  r.image = write_scan("scan.nii.gz", 5);
  r.probe = write_probe_file(path("probes.safetensors"), 32);
  r.out = path("never");
  r.sampler = two_steps();
  r.progress = false;
  auto refused = [&](stages::ManipulateRequest q, std::vector<std::string> words) {
    expect_error([&] { stages::manipulate_scan(m, q); }, words);
    EXPECT_FALSE(fs::exists(q.out)) << "a refused manipulate created " << q.out;
  };
  stages::ManipulateRequest q = r;
  q.alphas = {};
  refused(q, {"manipulate", "1 to 32 alphas"});
  q.alphas = {1.0, 1.001};
  refused(q, {"manipulate", "same to two decimals"});
  q.alphas = {NAN};
  refused(q, {"manipulate", "not a finite number"});
  q = r;
  q.probe = write_probe_file(path("p16.safetensors"), 16);
  refused(q, {"manipulate", "16 features", "gives 32"});
  q.probe = write_probe_file(path("pcn.safetensors"), 32, "CN");
  refused(q, {"manipulate", "positive class is CN"});
  q.probe = path("absent.safetensors");
  refused(q, {"manipulate", "absent.safetensors"});
  q = r;
  q.image = write_scan("small.nii.gz", 5, {16, 16, 16});
  refused(q, {"manipulate", "trained on (16, 20, 16)"});
}

TEST_F(InferenceStages, InterpolateScoresTheVisitsBetweenAgainstTheRealScans) {
  infer::LdaeModel m = ldae::testing::tiny_ldae();
  write_scan("m00.nii.gz", 1);
  write_scan("m06.nii.gz", 2);
  write_scan("m24.nii.gz", 3);
  write_scan("other.nii.gz", 4);
  {
    std::ofstream f(path("manifest.csv"));
    f << "subject,path,diagnosis,session,age\n"
      << "sub-1,m00.nii.gz,AD,0,70\nsub-1,m06.nii.gz,AD,6,70.5\nsub-1,m24.nii.gz,AD,24,72\n"
      << "sub-2,other.nii.gz,CN,0,65\n";
  }
  stages::InterpolateRequest r;
  r.manifest = path("manifest.csv");
  r.subject = "sub-1";
  r.out = path("interp");
  r.sampler = two_steps();
  r.progress = false;
  const stages::InterpolateResult res = stages::interpolate_visits(m, r);
  EXPECT_EQ(res.from, 0);
  EXPECT_EQ(res.to, 24);
  ASSERT_EQ(res.visits.size(), 1u);  // the one visit between
  const stages::InterpolatedVisit& v = res.visits[0];
  EXPECT_EQ(v.months, 6);
  EXPECT_DOUBLE_EQ(v.fraction, 0.25);
  EXPECT_TRUE(v.scored);
  EXPECT_EQ(fs::path(v.file).filename(), "interpolated_ses-M06.nii.gz");
  EXPECT_TRUE(fs::is_regular_file(v.file));
  EXPECT_TRUE(fs::is_regular_file(res.figure));
  // The nearer known visit at f = 0.25 is month 0: its MSE against month 6, computed here.
  auto unit = [&](const std::string& name) {
    const Tensor t = data::normalize_intensity(data::read_nifti(path(name))).voxels;
    return t.reshape({1, 1, 16, 20, 16});
  };
  EXPECT_DOUBLE_EQ(v.nearest_visit.mse, metrics::mse(unit("m00.nii.gz"), unit("m06.nii.gz")).mean);
  const Tensor blend = add(mul_scalar(unit("m00.nii.gz"), 0.75), mul_scalar(unit("m24.nii.gz"), 0.25));
  EXPECT_DOUBLE_EQ(v.linear_blend.mse, metrics::mse(blend, unit("m06.nii.gz")).mean);
  EXPECT_GT(v.ldae.mse, 0.0);
  const auto j = run::read_json(res.summary);
  EXPECT_EQ(j["predictions"].size(), 1u);
  EXPECT_TRUE(j["predictions"][0].contains("linear_blend"));

  // Times without a real scan are predicted, not scored.
  r.out = path("interp_at");
  r.at = {12, 6};
  const stages::InterpolateResult at = stages::interpolate_visits(m, r);
  ASSERT_EQ(at.visits.size(), 2u);
  EXPECT_EQ(at.visits[0].months, 6);
  EXPECT_TRUE(at.visits[0].scored);
  EXPECT_EQ(at.visits[1].months, 12);
  EXPECT_FALSE(at.visits[1].scored);
  EXPECT_TRUE(fs::is_regular_file(at.visits[1].file));
}

TEST_F(InferenceStages, InterpolateRefusesBeforeWriting) {
  infer::LdaeModel m = ldae::testing::tiny_ldae();
  write_scan("a.nii.gz", 1);
  write_scan("b.nii.gz", 2);
  write_scan("c.nii.gz", 3);
  {
    std::ofstream f(path("manifest.csv"));
    f << "subject,path,diagnosis,session,age\n"
      << "sub-1,a.nii.gz,AD,0,70\nsub-1,b.nii.gz,AD,12,71\nsub-2,c.nii.gz,CN,0,65\n";
  }
  stages::InterpolateRequest r;
  r.manifest = path("manifest.csv");
  r.subject = "sub-1";
  r.out = path("never");
  r.sampler = two_steps();
  r.progress = false;
  auto refused = [&](stages::InterpolateRequest q, std::vector<std::string> words) {
    expect_error([&] { stages::interpolate_visits(m, q); }, words);
    EXPECT_FALSE(fs::exists(q.out)) << "a refused interpolate created " << q.out;
  };
  stages::InterpolateRequest q = r;
  refused(q, {"interpolate", "no visit between 0 and 12", "--at"});
  q.subject = "sub-9";
  refused(q, {"interpolate", "no subject 'sub-9'"});
  q.subject = "sub-2";
  refused(q, {"interpolate", "one visit"});
  q = r;
  q.at = {12};
  refused(q, {"interpolate", "12 months is not strictly between 0 and 12"});
  q.at = {6, 6};
  refused(q, {"interpolate", "given twice"});
  q = r;
  q.from = 3;
  refused(q, {"interpolate", "no visit at 3 months", "0, 12"});
  q.from = 12;
  q.to = 0;
  refused(q, {"interpolate", "before --to"});
  q = r;
  q.manifest = path("absent.csv");
  refused(q, {"interpolate", "absent.csv"});
}
