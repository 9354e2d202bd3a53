// Safetensors reader and writer: round trips, dtype decoding, and one bad-input test
// per validation rule of the reader (each error must name the file and the problem).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <string>
#include <vector>

#include "common/test_helpers.h"
#include "tensor/ops.h"
#include "tensor/safetensors.h"

using namespace ldae;
using ldae::testing::expect_error;
namespace fs = std::filesystem;

namespace {

// The bytes of a safetensors file with the given header text and data section.
std::string file_bytes(const std::string& header, const std::string& data = "") {
  std::string bytes(8, '\0');
  const uint64_t n = header.size();
  std::memcpy(bytes.data(), &n, 8);  // little-endian host
  return bytes + header + data;
}

// `count` little-endian values of type T as a byte string.
template <typename T>
std::string raw(const std::vector<T>& values) {
  std::string s(values.size() * sizeof(T), '\0');
  std::memcpy(s.data(), values.data(), s.size());
  return s;
}

// Each test gets a fresh folder under the system temp folder.
class Safetensors : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("ldae_safetensors_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
  }
  void TearDown() override { fs::remove_all(dir_); }

  std::string path(const std::string& name) const { return (dir_ / name).string(); }

  // Writes raw bytes to a file in the test folder and returns its path.
  std::string write_raw(const std::string& name, const std::string& bytes) const {
    std::ofstream(path(name), std::ios::binary) << bytes;
    return path(name);
  }

  // Expects reading a file with this header/data to fail with every part in the message
  // (plus the "safetensors: <path>:" prefix).
  void expect_bad(const std::string& header, const std::string& data,
                  const std::vector<std::string>& parts) const {
    const std::string p = write_raw("bad.safetensors", file_bytes(header, data));
    std::vector<std::string> all = {"safetensors: " + p + ": "};
    all.insert(all.end(), parts.begin(), parts.end());
    expect_error([&] { read_safetensors(p); }, all);
  }

  fs::path dir_;
};

}  // namespace

TEST_F(Safetensors, RoundTripKeepsValuesShapesDtypesAndMetadata) {
  Tensor a = Tensor::from_vector({1.5, -2.25, 3.0, 1e-30, 4.0, 5.0}, {2, 3}, DType::F32);
  Tensor b = Tensor::from_vector({1.0 / 3.0, -1e300, 7.0, 8.0}, {2, 2}, DType::F64);
  Tensor bt = b.transpose(0, 1);  // non-contiguous: the writer must copy
  Tensor s = Tensor::scalar(42.0, DType::F64);
  Tensor e = Tensor::zeros({0, 3});
  const std::string p = path("x.safetensors");
  write_safetensors(p, {{"a", a}, {"b.t", bt}, {"s", s}, {"empty", e}},
                    {{"step", "12"}, {"note", "caf\xc3\xa9"}});

  SafetensorsFile f = read_safetensors(p);
  ASSERT_EQ(f.tensors.size(), 4u);
  EXPECT_EQ(f.tensors["a"].dtype(), DType::F32);
  EXPECT_EQ(f.tensors["a"].shape(), (Shape{2, 3}));
  EXPECT_EQ(f.tensors["a"].to_vector(), a.to_vector());
  EXPECT_EQ(f.tensors["b.t"].dtype(), DType::F64);
  EXPECT_EQ(f.tensors["b.t"].to_vector(), bt.to_vector());  // bitwise equal doubles
  EXPECT_EQ(f.tensors["s"].shape(), Shape{});
  EXPECT_EQ(f.tensors["s"].item(), 42.0);
  EXPECT_EQ(f.tensors["empty"].shape(), (Shape{0, 3}));
  EXPECT_EQ(f.stored_dtype["a"], "F32");
  EXPECT_EQ(f.stored_dtype["b.t"], "F64");
  EXPECT_EQ(f.metadata.size(), 2u);
  EXPECT_EQ(f.metadata["step"], "12");
  EXPECT_EQ(f.metadata["note"], "caf\xc3\xa9");

  // The data section starts 8-byte aligned, and no temporary file is left behind.
  std::ifstream in(p, std::ios::binary);
  uint64_t header_len = 0;
  in.read(reinterpret_cast<char*>(&header_len), 8);
  EXPECT_EQ((8 + header_len) % 8, 0u);
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 1);

  // Writing again replaces the file.
  write_safetensors(p, {{"only", Tensor::ones({2})}});
  SafetensorsFile g = read_safetensors(p);
  EXPECT_EQ(g.tensors.size(), 1u);
  EXPECT_TRUE(g.metadata.empty());
}

TEST_F(Safetensors, ReadsFromMemoryToo) {
  const std::string bytes = file_bytes(
      R"({"x":{"dtype":"F64","shape":[2],"data_offsets":[0,16]}})", raw<double>({0.5, -7.0}));
  SafetensorsFile f = read_safetensors_from_memory(bytes.data(), bytes.size(), "mem");
  EXPECT_EQ(f.tensors["x"].to_vector(), (std::vector<double>{0.5, -7.0}));
  expect_error([&] { read_safetensors_from_memory(bytes.data(), 5, "mem"); },
               {"safetensors: mem: ", "too short"});
}

TEST_F(Safetensors, DecodesF16BitPatterns) {
  const std::vector<uint16_t> bits = {0x3C00, 0xC000, 0x7BFF, 0x0001, 0x0400,
                                      0x3555, 0x8000, 0x7C00, 0xFC00, 0x7E00};
  const std::string p = write_raw(
      "h.safetensors",
      file_bytes(R"({"h":{"dtype":"F16","shape":[10],"data_offsets":[0,20]}})", raw(bits)));
  SafetensorsFile f = read_safetensors(p);
  const Tensor& h = f.tensors["h"];
  EXPECT_EQ(h.dtype(), DType::F32);
  EXPECT_EQ(f.stored_dtype["h"], "F16");
  const std::vector<double> v = h.to_vector();
  EXPECT_EQ(v[0], 1.0);
  EXPECT_EQ(v[1], -2.0);
  EXPECT_EQ(v[2], 65504.0);                 // largest finite half
  EXPECT_EQ(v[3], std::ldexp(1.0, -24));    // smallest subnormal
  EXPECT_EQ(v[4], std::ldexp(1.0, -14));    // smallest normal
  EXPECT_EQ(v[5], 0.333251953125);          // nearest half to 1/3
  EXPECT_EQ(v[6], 0.0);
  EXPECT_TRUE(std::signbit(v[6]));          // -0
  EXPECT_EQ(v[7], std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[8], -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(std::isnan(v[9]));
}

TEST_F(Safetensors, DecodesBF16BitPatterns) {
  const std::vector<uint16_t> bits = {0x3F80, 0xC040, 0x4049, 0x7F80, 0x0001};
  const std::string p = write_raw(
      "b.safetensors",
      file_bytes(R"({"b":{"dtype":"BF16","shape":[5],"data_offsets":[0,10]}})", raw(bits)));
  SafetensorsFile f = read_safetensors(p);
  EXPECT_EQ(f.tensors["b"].dtype(), DType::F32);
  EXPECT_EQ(f.stored_dtype["b"], "BF16");
  const std::vector<double> v = f.tensors["b"].to_vector();
  EXPECT_EQ(v[0], 1.0);
  EXPECT_EQ(v[1], -3.0);
  EXPECT_EQ(v[2], 3.140625);
  EXPECT_EQ(v[3], std::numeric_limits<double>::infinity());
  EXPECT_EQ(v[4], std::ldexp(1.0, -133));  // smallest subnormal float
}

TEST_F(Safetensors, ConvertsIntegersToF64) {
  const std::vector<int64_t> ints = {-5, 0, int64_t(1) << 53};
  const std::string p = write_raw(
      "i.safetensors",
      file_bytes(R"({"i":{"dtype":"I64","shape":[3],"data_offsets":[0,24]},)"
                 R"("u":{"dtype":"U8","shape":[2],"data_offsets":[24,26]}})",
                 raw(ints) + raw<uint8_t>({255, 7})));
  SafetensorsFile f = read_safetensors(p);
  EXPECT_EQ(f.tensors["i"].dtype(), DType::F64);
  EXPECT_EQ(f.stored_dtype["i"], "I64");
  EXPECT_EQ(f.tensors["i"].to_vector(), (std::vector<double>{-5, 0, 9007199254740992.0}));
  EXPECT_EQ(f.tensors["u"].to_vector(), (std::vector<double>{255, 7}));
}

TEST_F(Safetensors, AcceptsTheEmptyFileAndTrailingSpaces) {
  SafetensorsFile f = read_safetensors(write_raw("e.safetensors", file_bytes("{}    ")));
  EXPECT_TRUE(f.tensors.empty());
  EXPECT_TRUE(f.metadata.empty());
}

// ---- Bad inputs: one test per rule ------------------------------------------------------

TEST_F(Safetensors, RefusesAMissingFile) {
  const std::string p = path("nope.safetensors");
  expect_error([&] { read_safetensors(p); }, {"safetensors: " + p + ": ", "no such file"});
}

TEST_F(Safetensors, RefusesADirectory) {
  expect_error([&] { read_safetensors(dir_.string()); }, {"safetensors: ", "is a directory"});
  expect_error([] { read_safetensors("/dev/null"); }, {"/dev/null", "not a regular file"});
}

TEST_F(Safetensors, RefusesATruncatedFile) {
  const std::string p = write_raw("t.safetensors", std::string(5, '\0'));
  expect_error([&] { read_safetensors(p); }, {"safetensors: " + p + ": ", "too short"});
  // A header length that runs past the end of the file.
  const std::string q = write_raw("u.safetensors", file_bytes("{}").substr(0, 9));
  expect_error([&] { read_safetensors(q); }, {"runs past the end"});
  // Data section cut short: the tensor's range runs past it.
  expect_bad(R"({"x":{"dtype":"F32","shape":[4],"data_offsets":[0,16]}})", raw<float>({1, 2}),
             {"tensor \"x\"", "run past the data section"});
}

TEST_F(Safetensors, RefusesAHugeHeaderLength) {
  std::string bytes(8, '\0');
  const uint64_t n = uint64_t(1) << 40;
  std::memcpy(bytes.data(), &n, 8);
  const std::string p = write_raw("h.safetensors", bytes + "{}");
  expect_error([&] { read_safetensors(p); }, {"header length", "100 MB"});
}

TEST_F(Safetensors, RefusesBadJson) {
  expect_bad(R"({"x": {"dtype": "F32",)", "", {"not valid JSON"});
  expect_bad("[1, 2]", "", {"not a JSON object"});
  expect_bad("\"\xff\xfe\"", "", {"not valid JSON"});  // invalid UTF-8
  expect_bad(R"({"a":{"b":{"c":{"d":1}}}})", "", {"nested too deeply"});
  expect_bad(R"({"x":{"dtype":"F32","shape":[],"data_offsets":[0,4]},)"
             R"("x":{"dtype":"F32","shape":[],"data_offsets":[4,8]}})",
             raw<float>({1, 2}), {"\"x\" twice"});
}

TEST_F(Safetensors, RefusesOverlappingOffsets) {
  expect_bad(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
             R"("b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}})",
             raw<float>({1, 2, 3}), {"\"a\" and \"b\" overlap"});
  // Empty tensors share no bytes, wherever they point.
  const std::string ok = write_raw(
      "ok.safetensors", file_bytes(R"({"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},)"
                                   R"("z":{"dtype":"F32","shape":[0],"data_offsets":[4,4]}})",
                                   raw<float>({1, 2})));
  EXPECT_EQ(read_safetensors(ok).tensors.size(), 2u);
}

TEST_F(Safetensors, RefusesOutOfBoundsOffsets) {
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}})", raw<float>({1, 2}),
             {"run past the data section (8 bytes)"});
  expect_bad(R"({"a":{"dtype":"F32","shape":[0],"data_offsets":[8,4]}})", raw<float>({1, 2}),
             {"begin 8 > end 4"});
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}})", raw<float>({1, 2}),
             {"[begin, end]"});
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[-4,4]}})", raw<float>({1, 2}),
             {"data_offsets begin is negative"});
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}})",
             raw<float>({1, 2}), {"data_offsets end is not an integer"});
}

TEST_F(Safetensors, RefusesASizeMismatch) {
  expect_bad(R"({"a":{"dtype":"F32","shape":[3],"data_offsets":[0,8]}})", raw<float>({1, 2}),
             {"hold 8 bytes but shape (3,) of F32 needs 12"});
  // numel * element size overflowing 64 bits must be caught, not wrapped.
  expect_bad(R"({"a":{"dtype":"F64","shape":[4294967296,4294967296],"data_offsets":[0,0]}})", "",
             {"overflows"});
  expect_bad(R"({"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,0]}})", "",
             {"byte size overflows"});
}

TEST_F(Safetensors, RefusesAnUnknownDtype) {
  expect_bad(R"({"a":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}})", "x",
             {"dtype \"F8_E4M3\"", "does not support"});
  expect_bad(R"({"a":{"dtype":7,"shape":[1],"data_offsets":[0,1]}})", "x",
             {"dtype is not a string"});
}

TEST_F(Safetensors, RefusesABadShape) {
  expect_bad(R"({"a":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,8]}})", raw<float>({1, 2}),
             {"shape size is negative"});
  expect_bad(R"({"a":{"dtype":"F32","shape":[2.0],"data_offsets":[0,8]}})", raw<float>({1, 2}),
             {"shape size is not an integer"});
  expect_bad(R"({"a":{"dtype":"F32","shape":2,"data_offsets":[0,8]}})", raw<float>({1, 2}),
             {"shape is not an array"});
}

TEST_F(Safetensors, RefusesBadEntries) {
  expect_bad(R"({"a":{"shape":[1],"data_offsets":[0,4]}})", raw<float>({1}),
             {"has no \"dtype\""});
  expect_bad(R"({"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"x":1}})", raw<float>({1}),
             {"unknown field \"x\""});
  expect_bad(R"({"a":[1,2]})", "", {"tensor \"a\" is not a JSON object"});
  expect_bad(R"({"":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}})", raw<float>({1}),
             {"empty name"});
}

TEST_F(Safetensors, RefusesNonStringMetadata) {
  expect_bad(R"({"__metadata__":{"step":12}})", "", {"__metadata__ value of \"step\"",
                                                      "not a string"});
  expect_bad(R"({"__metadata__":["a"]})", "", {"__metadata__ is not a JSON object"});
}

TEST_F(Safetensors, NeverCrashesOnCutOrCorruptedFiles) {
  // Every prefix of a valid file and every single-byte change of its header either
  // reads or throws ldae::Error (a crash or another exception fails the test).
  const std::string good = file_bytes(
      R"({"__metadata__":{"k":"v"},"a":{"dtype":"F16","shape":[2],"data_offsets":[0,4]},)"
      R"("b":{"dtype":"F64","shape":[1,1],"data_offsets":[4,12]}})",
      raw<uint16_t>({0x3C00, 0x4000}) + raw<double>({2.5}));
  EXPECT_NO_THROW(read_safetensors_from_memory(good.data(), good.size(), "good"));
  int refused = 0;
  for (size_t n = 0; n < good.size(); ++n) {
    try {
      read_safetensors_from_memory(good.data(), n, "cut");
    } catch (const Error&) {
      ++refused;
    }
  }
  EXPECT_EQ(refused, static_cast<int>(good.size()));  // every cut loses data
  const size_t header_end = good.size() - 12;
  for (size_t i = 0; i < header_end; ++i) {
    for (unsigned char c : {'\0', '"', '9', '-', '{', ']', '\xff'}) {
      std::string bad = good;
      bad[i] = static_cast<char>(c);
      try {
        read_safetensors_from_memory(bad.data(), bad.size(), "flip");
      } catch (const Error&) {
      }
    }
  }
}

// ---- Writer -------------------------------------------------------------------------------

TEST_F(Safetensors, WriterRefusesBadInputAndLeavesNoTemporaryFile) {
  const std::string p = path("w.safetensors");
  expect_error([&] { write_safetensors(p, {{"x", Tensor()}}); },
               {"safetensors: " + p + ": ", "\"x\" is undefined"});
  expect_error([&] { write_safetensors(p, {{"__metadata__", Tensor::ones({1})}}); },
               {"invalid tensor name"});
  expect_error([&] { write_safetensors(p, {{"", Tensor::ones({1})}}); }, {"invalid tensor name"});
  expect_error([&] { write_safetensors(p, {{"x", Tensor::ones({1})}}, {{"k", "\xff"}}); },
               {"valid UTF-8"});
  const std::string q = path("missing_folder/w.safetensors");
  expect_error([&] { write_safetensors(q, {{"x", Tensor::ones({1})}}); }, {"cannot create"});
  EXPECT_EQ(std::distance(fs::directory_iterator(dir_), fs::directory_iterator()), 0);
}
