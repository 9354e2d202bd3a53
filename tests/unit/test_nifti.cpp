// NIfTI reader/writer: round trips, every stored datatype, NIfTI-2, byte-swapped and odd
// but valid files, and one test per kind of malformed input (each must be refused with
// a one-line message naming the file and the problem).
#include <gtest/gtest.h>
#include <nifti2_io.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "data/nifti.h"

namespace fs = std::filesystem;
using namespace ldae;
using namespace ldae::data;

namespace {

// A fresh temporary folder per test.
class NiftiTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("ldae_nifti_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }
  std::string path(const std::string& name) const { return (dir_ / name).string(); }
  fs::path dir_;
};

// A valid single-file NIfTI-1 header for an nx x ny x nz volume of `datatype`.
nifti_1_header make_n1(int nx, int ny, int nz, int datatype, int bytes) {
  nifti_1_header h;
  std::memset(&h, 0, sizeof h);
  h.sizeof_hdr = 348;
  h.dim[0] = 3;
  h.dim[1] = static_cast<short>(nx);
  h.dim[2] = static_cast<short>(ny);
  h.dim[3] = static_cast<short>(nz);
  for (int n = 4; n < 8; ++n) h.dim[n] = 1;
  h.datatype = static_cast<short>(datatype);
  h.bitpix = static_cast<short>(8 * bytes);
  h.pixdim[0] = 1;
  h.pixdim[1] = 2;
  h.pixdim[2] = 3;
  h.pixdim[3] = 4;
  h.vox_offset = 352;
  h.scl_slope = 1;
  std::memcpy(h.magic, "n+1\0", 4);
  return h;
}

template <typename H>
void write_file(const std::string& p, const H& h, const void* data, size_t bytes, size_t pad = 4) {
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(&h), sizeof h);
  const std::vector<char> zeros(pad, 0);
  f.write(zeros.data(), static_cast<std::streamsize>(zeros.size()));
  f.write(static_cast<const char*>(data), static_cast<std::streamsize>(bytes));
}

void write_bytes(const std::string& p, const std::string& bytes) {
  std::ofstream f(p, std::ios::binary);
  f.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

std::string read_bytes(const std::string& p) {
  std::ifstream f(p, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(f), {});
}

// Expects read_nifti(p) to throw an Error whose one-line message names the file and
// contains `needle`.
void expect_refused(const std::string& p, const std::string& needle, const ReadOptions& o = {}) {
  try {
    read_nifti(p, o);
    ADD_FAILURE() << "expected " << p << " to be refused (" << needle << ")";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("read_nifti: " + p + ": ", 0), 0u) << m;
    EXPECT_NE(m.find(needle), std::string::npos) << "message: " << m << "\nexpected to contain: " << needle;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

// A small volume whose voxel (i, j, k) holds 100 i + 10 j + k.
Tensor indexed_voxels(int64_t nx, int64_t ny, int64_t nz) {
  Tensor t = Tensor::empty({nx, ny, nz});
  float* p = t.mutable_data<float>();
  for (int64_t i = 0; i < nx; ++i)
    for (int64_t j = 0; j < ny; ++j)
      for (int64_t k = 0; k < nz; ++k) p[(i * ny + j) * nz + k] = static_cast<float>(100 * i + 10 * j + k);
  return t;
}

Affine oblique_affine() {
  // A rotation of 30 degrees about z, spacing (1.5, 2, 2.5), LPS-ish flip on x, shift.
  const double c = std::cos(M_PI / 6), s = std::sin(M_PI / 6);
  Affine a;
  const double sp[3] = {1.5, 2.0, 2.5};
  const double rot[3][3] = {{-c, -s, 0}, {-s, c, 0}, {0, 0, 1}};
  for (int r = 0; r < 3; ++r)
    for (int col = 0; col < 3; ++col) a.m[r][col] = rot[r][col] * sp[col];
  a.m[0][3] = 10;
  a.m[1][3] = -20;
  a.m[2][3] = 30;
  return a;
}

void expect_affine_near(const Affine& a, const Affine& b, double tol) {
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) EXPECT_NEAR(a.m[r][c], b.m[r][c], tol) << "entry " << r << "," << c;
}

}  // namespace

TEST_F(NiftiTest, RoundTripKeepsVoxelOrderAndAffine) {
  for (const char* name : {"v.nii", "v.nii.gz"}) {
    const Volume v = make_volume(indexed_voxels(3, 4, 5), oblique_affine(), 2);
    write_nifti(path(name), v);
    const Volume r = read_nifti(path(name));
    ASSERT_EQ(r.voxels.shape(), (Shape{3, 4, 5}));
    EXPECT_EQ(r.voxels.to_vector(), v.voxels.to_vector());
    EXPECT_DOUBLE_EQ(r.voxels.at({2, 1, 3}), 213.0);
    expect_affine_near(r.affine, v.affine, 1e-5);
    EXPECT_EQ(r.space_code, 2);
    EXPECT_EQ(r.meta.affine_source, "sform");
    EXPECT_EQ(r.meta.datatype, "float32");
    EXPECT_NEAR(r.spacing()[2], 2.5, 1e-6);
  }
}

TEST_F(NiftiTest, WrittenQformMatchesSformForRigidAffines) {
  // Zero the sform code of a written file: the reader must fall back to the qform,
  // which must give the same affine (the affine is rotation * spacing, so exact).
  write_nifti(path("q.nii"), make_volume(indexed_voxels(2, 3, 4), oblique_affine()));
  std::string bytes = read_bytes(path("q.nii"));
  nifti_1_header h;
  std::memcpy(&h, bytes.data(), sizeof h);
  h.sform_code = 0;
  std::memcpy(&bytes[0], &h, sizeof h);
  write_bytes(path("q.nii"), bytes);
  const Volume r = read_nifti(path("q.nii"));
  EXPECT_EQ(r.meta.affine_source, "qform");
  expect_affine_near(r.affine, oblique_affine(), 1e-5);
}

TEST_F(NiftiTest, ReadsEveryIntegerAndFloatTypeWithScaling) {
  // Values 0..5 stored in each type; slope 2, intercept -1 => 2 v - 1.
  auto fill = [](int code, int bytes) {
    std::vector<unsigned char> raw(static_cast<size_t>(6 * bytes));
    for (int v = 0; v < 6; ++v) {
      unsigned char* p = raw.data() + v * bytes;
      switch (code) {
        case DT_UINT8: { uint8_t x = static_cast<uint8_t>(v); std::memcpy(p, &x, 1); break; }
        case DT_INT8: { int8_t x = static_cast<int8_t>(v); std::memcpy(p, &x, 1); break; }
        case DT_INT16: { int16_t x = static_cast<int16_t>(v); std::memcpy(p, &x, 2); break; }
        case DT_UINT16: { uint16_t x = static_cast<uint16_t>(v); std::memcpy(p, &x, 2); break; }
        case DT_INT32: { int32_t x = v; std::memcpy(p, &x, 4); break; }
        case DT_UINT32: { uint32_t x = static_cast<uint32_t>(v); std::memcpy(p, &x, 4); break; }
        case DT_INT64: { int64_t x = v; std::memcpy(p, &x, 8); break; }
        case DT_UINT64: { uint64_t x = static_cast<uint64_t>(v); std::memcpy(p, &x, 8); break; }
        case DT_FLOAT32: { float x = static_cast<float>(v); std::memcpy(p, &x, 4); break; }
        case DT_FLOAT64: { double x = v; std::memcpy(p, &x, 8); break; }
      }
    }
    return raw;
  };
  const int codes[][2] = {{DT_UINT8, 1},  {DT_INT8, 1},   {DT_INT16, 2}, {DT_UINT16, 2}, {DT_INT32, 4},
                          {DT_UINT32, 4}, {DT_INT64, 8}, {DT_UINT64, 8}, {DT_FLOAT32, 4}, {DT_FLOAT64, 8}};
  for (const auto& c : codes) {
    nifti_1_header h = make_n1(1, 2, 3, c[0], c[1]);
    h.scl_slope = 2;
    h.scl_inter = -1;
    const auto raw = fill(c[0], c[1]);
    write_file(path("t.nii"), h, raw.data(), raw.size());
    const Volume r = read_nifti(path("t.nii"));
    // File order: i fastest; here nx = 1, so value v sits at (0, v % 2, v / 2).
    for (int v = 0; v < 6; ++v) EXPECT_FLOAT_EQ(r.voxels.at({0, v % 2, v / 2}), 2.0f * v - 1.0f) << "type " << c[0];
    EXPECT_EQ(r.meta.affine_source, "pixdim");
    expect_affine_near(r.affine, Affine::scaling({2, 3, 4}), 0);
  }
}

TEST_F(NiftiTest, SlopeZeroMeansUnscaled) {
  nifti_1_header h = make_n1(2, 1, 1, DT_INT16, 2);
  h.scl_slope = 0;
  h.scl_inter = 5;
  const int16_t data[2] = {7, -3};
  write_file(path("s.nii"), h, data, sizeof data);
  const Volume r = read_nifti(path("s.nii"));
  EXPECT_EQ(r.voxels.to_vector(), (std::vector<double>{7, -3}));
}

TEST_F(NiftiTest, Float64WithOnlyAQform) {
  nifti_1_header h = make_n1(2, 2, 2, DT_FLOAT64, 8);
  h.qform_code = 1;
  h.pixdim[0] = -1;  // qfac -1: the k axis is flipped
  h.quatern_b = 0;
  h.quatern_c = 0;
  h.quatern_d = 1;  // 180 degrees about z: i -> -x, j -> -y
  h.qoffset_x = 5;
  h.qoffset_y = 6;
  h.qoffset_z = 7;
  const double data[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  write_file(path("q.nii"), h, data, sizeof data);
  const Volume r = read_nifti(path("q.nii"));
  EXPECT_EQ(r.meta.affine_source, "qform");
  EXPECT_EQ(r.affine.orientation(), "LPI");
  const Vec3 w = r.affine.apply({1, 1, 1});
  EXPECT_NEAR(w[0], 5 - 2, 1e-9);
  EXPECT_NEAR(w[1], 6 - 3, 1e-9);
  EXPECT_NEAR(w[2], 7 - 4, 1e-9);
  EXPECT_DOUBLE_EQ(r.voxels.at({1, 0, 1}), 5.0);  // file index 1 + 2*(0 + 2*1) = 5
}

TEST_F(NiftiTest, FourDWithOneVolumeIsAccepted) {
  nifti_1_header h = make_n1(2, 2, 2, DT_UINT8, 1);
  h.dim[0] = 4;
  h.dim[4] = 1;
  const uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
  write_file(path("4d.nii"), h, data, sizeof data);
  EXPECT_EQ(read_nifti(path("4d.nii")).voxels.shape(), (Shape{2, 2, 2}));
}

TEST_F(NiftiTest, NiftiTwoIsRead) {
  nifti_2_header h;
  std::memset(&h, 0, sizeof h);
  h.sizeof_hdr = 540;
  std::memcpy(h.magic, "n+2\0\r\n\032\n", 8);
  h.datatype = DT_INT16;
  h.bitpix = 16;
  h.dim[0] = 3;
  h.dim[1] = 2;
  h.dim[2] = 1;
  h.dim[3] = 2;
  for (int n = 4; n < 8; ++n) h.dim[n] = 1;
  for (int n = 0; n < 4; ++n) h.pixdim[n] = 1;
  h.vox_offset = 544;
  h.scl_slope = 0.5;
  h.sform_code = 4;
  h.srow_x[0] = -1; h.srow_x[3] = 90;
  h.srow_y[1] = 1;  h.srow_y[3] = -126;
  h.srow_z[2] = 1;  h.srow_z[3] = -72;
  const int16_t data[4] = {2, 4, 6, 8};
  write_file(path("n2.nii"), h, data, sizeof data);
  const Volume r = read_nifti(path("n2.nii"));
  EXPECT_EQ(r.meta.version, 2);
  EXPECT_EQ(r.space_code, 4);
  EXPECT_EQ(r.affine.orientation(), "LAS");
  EXPECT_EQ(r.voxels.to_vector(), (std::vector<double>{1, 3, 2, 4}));  // (i,j,k) order: (0,0,0),(0,0,1),(1,0,0),(1,0,1)
}

TEST_F(NiftiTest, ByteSwappedFileIsRead) {
  nifti_1_header h = make_n1(2, 1, 1, DT_INT16, 2);
  h.scl_slope = 1;
  swap_nifti_header(&h, 1);
  const unsigned char data[4] = {0x01, 0x02, 0xff, 0xfe};  // big-endian 258 and -2
  write_file(path("be.nii"), h, data, sizeof data);
  const Volume r = read_nifti(path("be.nii"));
  EXPECT_EQ(r.voxels.to_vector(), (std::vector<double>{258, -2}));
  EXPECT_NEAR(r.spacing()[1], 3.0, 1e-12);
}

TEST_F(NiftiTest, HeaderOnlyRead) {
  write_nifti(path("h.nii.gz"), make_volume(indexed_voxels(3, 4, 5), oblique_affine()));
  const Volume h = read_nifti_header(path("h.nii.gz"));
  EXPECT_FALSE(h.voxels.defined());
  EXPECT_EQ(h.meta.dim[1], 3);
  EXPECT_EQ(h.meta.dim[3], 5);
}

// ---- Malformed inputs -------------------------------------------------------------------

TEST_F(NiftiTest, RefusesMissingFileAndDirectory) {
  expect_refused(path("nope.nii"), "no such file");
  fs::create_directories(path("d.nii"));
  expect_refused(path("d.nii"), "is a directory");
}

TEST_F(NiftiTest, RefusesWrongFileName) {
  write_bytes(path("x.img"), "abc");
  expect_refused(path("x.img"), "unsupported file name");
}

TEST_F(NiftiTest, RefusesEmptyAndTruncatedHeader) {
  write_bytes(path("e.nii"), "");
  expect_refused(path("e.nii"), "empty file");
  nifti_1_header h = make_n1(2, 2, 2, DT_UINT8, 1);
  write_bytes(path("t.nii"), std::string(reinterpret_cast<const char*>(&h), 100));
  expect_refused(path("t.nii"), "truncated header (100 of 348 bytes)");
  write_bytes(path("tiny.nii"), "ab");
  expect_refused(path("tiny.nii"), "truncated header");
}

TEST_F(NiftiTest, RefusesBadSizeFieldAndBadMagic) {
  nifti_1_header h = make_n1(2, 2, 2, DT_UINT8, 1);
  const uint8_t data[8] = {};
  h.sizeof_hdr = 1234;
  write_file(path("s.nii"), h, data, 8);
  expect_refused(path("s.nii"), "not a NIfTI file");
  h = make_n1(2, 2, 2, DT_UINT8, 1);
  std::memcpy(h.magic, "xyz\0", 4);
  write_file(path("m.nii"), h, data, 8);
  expect_refused(path("m.nii"), "bad magic");
  std::memcpy(h.magic, "ni1\0", 4);
  write_file(path("p.nii"), h, data, 8);
  expect_refused(path("p.nii"), "two-file NIfTI");
  write_bytes(path("text.nii"), std::string(600, 'a'));
  expect_refused(path("text.nii"), "not a NIfTI file");
}

TEST_F(NiftiTest, RefusesBadDims) {
  const uint8_t data[8] = {};
  for (int d0 : {0, 8, -1}) {
    nifti_1_header h = make_n1(2, 2, 2, DT_UINT8, 1);
    h.dim[0] = static_cast<short>(d0);
    write_file(path("d.nii"), h, data, 8);
    expect_refused(path("d.nii"), "bad dim[0]");
  }
  nifti_1_header h = make_n1(2, 2, 2, DT_UINT8, 1);
  h.dim[2] = 0;
  write_file(path("z.nii"), h, data, 8);
  expect_refused(path("z.nii"), "bad dim[2] = 0");
  h = make_n1(2, 2, 2, DT_UINT8, 1);
  h.dim[3] = -5;
  write_file(path("n.nii"), h, data, 8);
  expect_refused(path("n.nii"), "bad dim[3] = -5");
}

TEST_F(NiftiTest, RefusesSeveralVolumes) {
  nifti_1_header h = make_n1(2, 2, 2, DT_UINT8, 1);
  h.dim[0] = 4;
  h.dim[4] = 3;
  const uint8_t data[24] = {};
  write_file(path("4d.nii"), h, data, sizeof data);
  expect_refused(path("4d.nii"), "holds 3 volumes");
}

TEST_F(NiftiTest, RefusesSizesInconsistentWithTheFile) {
  nifti_1_header h = make_n1(4, 4, 4, DT_INT16, 2);
  const int16_t data[10] = {};
  write_file(path("short.nii"), h, data, sizeof data);
  expect_refused(path("short.nii"), "but the header needs 480");
  // Absurd dimensions on a tiny file: refused before any allocation.
  h = make_n1(32767, 32767, 32767, DT_FLOAT64, 8);
  write_file(path("huge.nii"), h, data, sizeof data);
  expect_refused(path("huge.nii"), "absurd dimensions");
  h = make_n1(30000, 30000, 1, DT_UINT8, 1);
  write_file(path("big.nii"), h, data, sizeof data);
  expect_refused(path("big.nii"), "but the header needs");
  // NIfTI-2 dimensions whose product overflows 64 bits (found by the fuzzer).
  nifti_2_header h2;
  std::memset(&h2, 0, sizeof h2);
  h2.sizeof_hdr = 540;
  std::memcpy(h2.magic, "n+2\0\r\n\032\n", 8);
  h2.datatype = DT_FLOAT64;
  h2.bitpix = 64;
  h2.dim[0] = 3;
  h2.dim[1] = 2;
  h2.dim[2] = 0x4f00000000000002LL;
  h2.dim[3] = 1;
  for (int n = 0; n < 8; ++n) h2.pixdim[n] = 1;
  h2.vox_offset = 544;
  write_file(path("overflow.nii"), h2, data, sizeof data);
  expect_refused(path("overflow.nii"), "absurd dimensions");
  // vox_offset inside the header.
  h = make_n1(2, 2, 2, DT_UINT8, 1);
  h.vox_offset = 10;
  write_file(path("off.nii"), h, data, 8);
  expect_refused(path("off.nii"), "bad vox_offset");
}

TEST_F(NiftiTest, RefusesTruncatedAndCorruptGzip) {
  write_nifti(path("v.nii.gz"), make_volume(indexed_voxels(20, 20, 20), Affine::identity()));
  const std::string full = read_bytes(path("v.nii.gz"));
  write_bytes(path("cut.nii.gz"), full.substr(0, full.size() / 2));
  try {
    read_nifti(path("cut.nii.gz"));
    ADD_FAILURE() << "a truncated gzip file was accepted";
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("read_nifti: " + path("cut.nii.gz") + ": ", 0), 0u) << m;
    EXPECT_TRUE(m.find("truncated") != std::string::npos || m.find("corrupt gzip") != std::string::npos) << m;
  }
  write_bytes(path("cut2.nii.gz"), full.substr(0, 30));
  try {
    read_nifti(path("cut2.nii.gz"));
    ADD_FAILURE() << "a truncated gzip header was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("read_nifti: " + path("cut2.nii.gz") + ": ", 0), 0u) << e.what();
  }
  std::string garbage = "\x1f\x8b";
  for (int n = 0; n < 500; ++n) garbage.push_back(static_cast<char>((n * 37 + 11) & 0xff));
  write_bytes(path("junk.nii.gz"), garbage);
  try {
    read_nifti(path("junk.nii.gz"));
    ADD_FAILURE() << "a corrupt gzip file was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()).rfind("read_nifti: " + path("junk.nii.gz") + ": ", 0), 0u) << e.what();
  }
}

TEST_F(NiftiTest, RefusesUnknownAndUnsupportedDatatypes) {
  const uint8_t data[64] = {};
  nifti_1_header h = make_n1(2, 2, 2, 3, 1);
  write_file(path("u.nii"), h, data, 8);
  expect_refused(path("u.nii"), "unknown datatype code 3");
  h = make_n1(2, 2, 2, DT_COMPLEX64, 8);
  write_file(path("c.nii"), h, data, sizeof data);
  expect_refused(path("c.nii"), "unsupported datatype complex64");
  h = make_n1(2, 2, 2, DT_RGB24, 3);
  write_file(path("rgb.nii"), h, data, 24);
  expect_refused(path("rgb.nii"), "unsupported datatype rgb24");
}

TEST_F(NiftiTest, RefusesNonPositiveSpacingAndSingularAffine) {
  const uint8_t data[8] = {};
  for (float bad : {0.0f, -1.0f, NAN, INFINITY}) {
    nifti_1_header h = make_n1(2, 2, 2, DT_UINT8, 1);
    h.pixdim[2] = bad;
    write_file(path("p.nii"), h, data, 8);
    expect_refused(path("p.nii"), "spacing pixdim[2]");
  }
  nifti_1_header h = make_n1(2, 2, 2, DT_UINT8, 1);
  h.sform_code = 1;  // an all-zero sform
  write_file(path("sing.nii"), h, data, 8);
  expect_refused(path("sing.nii"), "sform is singular");
  h.srow_x[0] = NAN;
  write_file(path("nan.nii"), h, data, 8);
  expect_refused(path("nan.nii"), "non-finite");
}

TEST_F(NiftiTest, NonFiniteVoxelsAreReplacedOrRefused) {
  nifti_1_header h = make_n1(2, 2, 1, DT_FLOAT32, 4);
  const float data[4] = {1.0f, NAN, INFINITY, -2.0f};
  write_file(path("nan.nii"), h, data, sizeof data);
  ReadOptions quiet;
  quiet.quiet = true;
  const Volume r = read_nifti(path("nan.nii"), quiet);
  EXPECT_EQ(r.meta.nonfinite_replaced, 2);
  EXPECT_EQ(r.voxels.to_vector(), (std::vector<double>{1, 0, 0, -2}));  // (0,0),(0,1),(1,0),(1,1)
  ReadOptions strict;
  strict.refuse_nonfinite = true;
  expect_refused(path("nan.nii"), "2 voxels are NaN or infinite", strict);
}

TEST_F(NiftiTest, WriteRefusesMissingFolder) {
  const Volume v = make_volume(indexed_voxels(2, 2, 2), Affine::identity());
  EXPECT_THROW(write_nifti(path("no/such/folder/v.nii"), v), Error);
  EXPECT_THROW(write_nifti(path("v.txt"), v), Error);
}

TEST_F(NiftiTest, WritesUint8ExactlyOrWithinHalfALevel) {
  // Whole numbers in 0..255 are stored as they are (slope 1).
  const Volume whole = make_volume(indexed_voxels(2, 5, 6), oblique_affine());  // 0..145
  WriteOptions u8;
  u8.datatype = "uint8";
  write_nifti(path("w.nii.gz"), whole, u8);
  const Volume w = read_nifti(path("w.nii.gz"));
  EXPECT_EQ(w.meta.datatype, "uint8");
  EXPECT_EQ(w.meta.scl_slope, 1.0);
  EXPECT_EQ(w.voxels.to_vector(), whole.voxels.to_vector());
  expect_affine_near(w.affine, whole.affine, 1e-5);
  // Other values: 256 levels from min to max, error at most half a level.
  Tensor t = indexed_voxels(4, 5, 6);
  std::vector<double> want = t.to_vector();
  for (auto& x : want) x = -1.5 + x / 37.0;
  const Volume frac = make_volume(Tensor::from_vector(want, t.shape()), Affine::identity());
  write_nifti(path("f.nii"), frac, u8);
  EXPECT_EQ(fs::file_size(path("f.nii")), 352u + 120u);
  const std::vector<double> got = read_nifti(path("f.nii")).voxels.to_vector();
  const double level = (want.back() - want.front()) / 255.0;
  ASSERT_EQ(got.size(), want.size());
  for (size_t i = 0; i < got.size(); ++i) EXPECT_NEAR(got[i], want[i], level / 2 + 1e-6) << i;
  WriteOptions bad;
  bad.datatype = "int16";
  EXPECT_THROW(write_nifti(path("b.nii"), whole, bad), Error);
}

TEST(NiftiMni, ReadsTheTemplate) {
  const std::string p = std::string(LDAE_SOURCE_DIR) + "/../shared/data/mni_icbm152_2009a_t1.nii.gz";
  if (!fs::exists(p)) GTEST_SKIP() << "MNI template not found at " << p << " (../shared/data is optional)";
  const Volume v = read_nifti(p);
  EXPECT_EQ(v.voxels.shape(), (Shape{197, 233, 189}));
  EXPECT_EQ(v.affine.orientation(), "RAS");
  EXPECT_NEAR(v.spacing()[0], 1.0, 1e-6);
  EXPECT_EQ(v.meta.datatype, "uint8");
}
