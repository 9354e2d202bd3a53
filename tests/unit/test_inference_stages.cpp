// The inference commands' library functions (ldae/inference_stages.h) on a tiny random LDAE
// and synthetic NIfTI scans: the files they write, their contents, and the refusals that
// come before any work.
#include <gtest/gtest.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/test_helpers.h"
#include "common/tiny_ldae.h"
#include "data/nifti.h"
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
