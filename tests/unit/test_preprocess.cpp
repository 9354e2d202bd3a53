// Preprocessing: RAS reorientation, trilinear resampling (oblique inputs), centre crop/pad,
// intensity normalisation. The key test checks world coordinates: a volume whose voxels
// hold a linear function of their world position must, after the whole chain, still
// hold that function of the *output* voxels' world positions.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <string>

#include "data/nifti.h"
#include "data/preprocess.h"

namespace fs = std::filesystem;
using namespace ldae;
using namespace ldae::data;

namespace {

double field(const Vec3& w) { return 100.0 + 0.5 * w[0] - 0.3 * w[1] + 0.2 * w[2]; }

// A volume of `shape` on `affine` whose voxel values are field(world position).
Volume linear_volume(const Shape& shape, const Affine& affine) {
  Tensor t = Tensor::empty(shape);
  float* p = t.mutable_data<float>();
  for (int64_t i = 0; i < shape[0]; ++i)
    for (int64_t j = 0; j < shape[1]; ++j)
      for (int64_t k = 0; k < shape[2]; ++k)
        p[(i * shape[1] + j) * shape[2] + k] = static_cast<float>(field(affine.apply({double(i), double(j), double(k)})));
  return make_volume(t, affine);
}

// An LPS-like oblique affine: 20 degrees about z and 10 about x, spacing (1.2, 0.9, 2.0),
// and the index axes permuted (i -> mostly -y, j -> mostly -x, k -> z).
Affine oblique_lps() {
  const double a = 20 * M_PI / 180, b = 10 * M_PI / 180;
  const double rz[3][3] = {{std::cos(a), -std::sin(a), 0}, {std::sin(a), std::cos(a), 0}, {0, 0, 1}};
  const double rx[3][3] = {{1, 0, 0}, {0, std::cos(b), -std::sin(b)}, {0, std::sin(b), std::cos(b)}};
  const double perm[3][3] = {{0, -1, 0}, {-1, 0, 0}, {0, 0, 1}};
  const double sp[3] = {1.2, 0.9, 2.0};
  double r[3][3] = {}, q[3][3] = {};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) r[i][j] += rz[i][k] * rx[k][j];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) q[i][j] += r[i][k] * perm[k][j];
  Affine A;
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) A.m[i][j] = q[i][j] * sp[j];
  A.m[0][3] = 12;
  A.m[1][3] = 30;
  A.m[2][3] = -8;
  return A;
}

// Is world point w strictly inside the input grid (so that trilinear interpolation of a
// linear field is exact there)?
bool inside(const Volume& v, const Vec3& w) {
  const Vec3 p = v.affine.inverse().apply(w);
  for (int a = 0; a < 3; ++a)
    if (p[a] < 1e-6 || p[a] > double(v.voxels.size(a) - 1) - 1e-6) return false;
  return true;
}

}  // namespace

TEST(Preprocess, ReorientIsExactAndKeepsWorldPositions) {
  const Volume v = linear_volume({5, 6, 7}, oblique_lps());
  EXPECT_EQ(v.affine.orientation(), "PLS");
  const Volume r = reorient_to_ras(v);
  EXPECT_EQ(r.affine.orientation(), "RAS");
  EXPECT_EQ(r.voxels.shape(), (Shape{6, 5, 7}));
  // Every output voxel holds the field at its own world position.
  for (int64_t i = 0; i < 6; ++i)
    for (int64_t j = 0; j < 5; ++j)
      for (int64_t k = 0; k < 7; ++k)
        EXPECT_NEAR(r.voxels.at({i, j, k}), field(r.affine.apply({double(i), double(j), double(k)})), 1e-3);
}

TEST(Preprocess, ResampledGridSizeFollowsTheExtent) {
  // 182 voxels at 1 mm -> 1.5 mm gives 122, as in the reference pipeline.
  const Volume v = linear_volume({13, 9, 5}, Affine::scaling({1, 1, 1}));
  const Volume r = resample_isotropic(v, 2.0);
  EXPECT_EQ(r.voxels.shape(), (Shape{7, 5, 3}));
  EXPECT_EQ(r.affine.orientation(), "RAS");
  EXPECT_NEAR(r.spacing()[0], 2.0, 1e-12);
  const Volume big = make_volume(Tensor::zeros({182, 2, 2}), Affine::identity());
  EXPECT_EQ(resample_isotropic(big, 1.5).voxels.size(0), 122);
}

TEST(Preprocess, WholeChainOverlaysTheInputInWorldCoordinates) {
  const Volume v = linear_volume({20, 24, 12}, oblique_lps());
  PreprocessOptions o;
  o.spacing = 1.5;
  o.shape = {20, 18, 16};
  o.do_normalize = false;
  const Volume r = preprocess(v, o);
  EXPECT_EQ(r.voxels.shape(), (Shape{20, 18, 16}));
  EXPECT_EQ(r.affine.orientation(), "RAS");
  for (int a = 0; a < 3; ++a) EXPECT_NEAR(r.spacing()[a], 1.5, 1e-9);
  // Through a file too: the written affine is what viewers use to overlay.
  const fs::path dir = fs::temp_directory_path() / ("ldae_pre_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string path = (dir / "out.nii.gz").string();
  write_nifti(path, r);
  const Volume back = read_nifti(path);
  fs::remove_all(dir);
  int checked = 0;
  for (int64_t i = 0; i < 20; ++i)
    for (int64_t j = 0; j < 18; ++j)
      for (int64_t k = 0; k < 16; ++k) {
        const Vec3 w = back.affine.apply({double(i), double(j), double(k)});
        if (!inside(v, w)) continue;
        ++checked;
        ASSERT_NEAR(back.voxels.at({i, j, k}), field(w), 2e-3) << "voxel " << i << "," << j << "," << k;
      }
  EXPECT_GT(checked, 1000);
}

TEST(Preprocess, CropAndPadKeepWorldPositions) {
  const Volume v = linear_volume({6, 5, 4}, Affine::scaling({2, 2, 2}, {-5, 3, 1}));
  const Volume r = crop_or_pad(v, {4, 8, 4});  // crop x by 2 (1 each side), pad y by 3 (1 before)
  EXPECT_EQ(r.voxels.shape(), (Shape{4, 8, 4}));
  double lowest = 1e9;
  for (double x : v.voxels.to_vector()) lowest = std::min(lowest, x);
  for (int64_t i = 0; i < 4; ++i)
    for (int64_t j = 0; j < 8; ++j)
      for (int64_t k = 0; k < 4; ++k) {
        const double got = r.voxels.at({i, j, k});
        if (j >= 1 && j < 6)
          EXPECT_NEAR(got, field(r.affine.apply({double(i), double(j), double(k)})), 1e-3);
        else
          EXPECT_NEAR(got, lowest, 1e-4);  // padded with the minimum
      }
  EXPECT_EQ(crop_or_pad(v, {6, 5, 4}, 0.0).voxels.to_vector(), v.voxels.to_vector());
}

TEST(Preprocess, NormalizeMinMaxAndPercentile) {
  const Tensor t = Tensor::from_vector(std::vector<double>{0, 1, 2, 3, 4, 5, 6, 7, 8, 100}, {1, 2, 5});
  const Volume v = make_volume(t, Affine::identity());
  const Volume mm = normalize_intensity(v);
  EXPECT_FLOAT_EQ(mm.voxels.at({0, 1, 4}), 1.0f);
  EXPECT_FLOAT_EQ(mm.voxels.at({0, 0, 0}), 0.0f);
  EXPECT_NEAR(mm.voxels.at({0, 0, 4}), 0.04, 1e-6);
  EXPECT_NEAR(percentile(t, 50), 4.5, 1e-9);
  EXPECT_NEAR(percentile(t, 0), 0, 1e-9);
  EXPECT_NEAR(percentile(t, 100), 100, 1e-9);
  NormalizeOptions p;
  p.mode = "percentile";
  p.low_percentile = 0;
  p.high_percentile = 80;  // 7.2: the outlier 100 is clipped
  const Volume pc = normalize_intensity(v, p);
  EXPECT_FLOAT_EQ(pc.voxels.at({0, 1, 4}), 1.0f);
  EXPECT_NEAR(pc.voxels.at({0, 0, 4}), 4 / 7.2, 1e-6);
  const Volume flat = normalize_intensity(make_volume(Tensor::full({2, 2, 2}, 3.0), Affine::identity()));
  EXPECT_EQ(flat.voxels.to_vector(), std::vector<double>(8, 0.0));
  NormalizeOptions bad;
  bad.mode = "zscore";
  EXPECT_THROW(normalize_intensity(v, bad), Error);
}

TEST(Preprocess, RefusesBadArguments) {
  const Volume v = linear_volume({3, 3, 3}, Affine::identity());
  EXPECT_THROW(resample_isotropic(v, 0), Error);
  EXPECT_THROW(resample_isotropic(v, -1), Error);
  EXPECT_THROW(crop_or_pad(v, {3, 3}), Error);
  EXPECT_THROW(crop_or_pad(v, {3, 0, 3}), Error);
}

TEST(Preprocess, ZeroPaddingFadesOutsideTheGrid) {
  const Volume v = make_volume(Tensor::ones({2, 2, 2}), Affine::identity());
  const Volume r = resample_to_grid(v, Affine::scaling({0.5, 1, 1}, {-1, 0, 0}), {7, 2, 2}, Padding::Zero);
  // x = -1, -0.5, 0, ..., 2: zero at -1 and 2, half at -0.5 and 1.5, one inside.
  const double want[7] = {0, 0.5, 1, 1, 1, 0.5, 0};
  for (int i = 0; i < 7; ++i) EXPECT_NEAR(r.voxels.at({i, 0, 0}), want[i], 1e-6) << i;
  const Volume b = resample_to_grid(v, Affine::scaling({0.5, 1, 1}, {-1, 0, 0}), {7, 2, 2}, Padding::Border);
  for (int i = 0; i < 7; ++i) EXPECT_NEAR(b.voxels.at({i, 0, 0}), 1.0, 1e-6) << i;
}

TEST(Preprocess, MniTemplateToTheReferenceGrid) {
  const std::string p = std::string(LDAE_SOURCE_DIR) + "/../shared/data/mni_icbm152_2009a_t1.nii.gz";
  if (!fs::exists(p)) GTEST_SKIP() << "MNI template not found at " << p << " (../shared/data is optional)";
  PreprocessOptions o;
  o.spacing = 3.0;
  o.shape = {64, 80, 64};
  const Volume v = read_nifti(p);
  const Volume r = preprocess(v, o);
  EXPECT_EQ(r.voxels.shape(), (Shape{64, 80, 64}));
  EXPECT_EQ(r.affine.orientation(), "RAS");
  double lo = 1e9, hi = -1e9;
  for (double x : r.voxels.to_vector()) {
    lo = std::min(lo, x);
    hi = std::max(hi, x);
  }
  EXPECT_FLOAT_EQ(lo, 0.0);
  EXPECT_FLOAT_EQ(hi, 1.0);
  // The world origin (MNI 0,0,0, inside the brain) maps to the same tissue in both.
  const Vec3 pin = v.affine.inverse().apply({0, 0, 0}), pout = r.affine.inverse().apply({0, 0, 0});
  EXPECT_GT(v.voxels.at({std::lround(pin[0]), std::lround(pin[1]), std::lround(pin[2])}), 0);
  EXPECT_GT(r.voxels.at({std::lround(pout[0]), std::lround(pout[1]), std::lround(pout[2])}), 0.1);
}
