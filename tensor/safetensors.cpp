// Safetensors reader and writer (format described in tensor/safetensors.h).
//
// Reading happens in three steps, and nothing from the file is used before it is checked:
//   1. the byte source: the file exists, is a regular file, holds at least the 8-byte
//      length, and the header length fits in the file and is below 100 MB;
//   2. the header: valid JSON, an object, no duplicate keys, each entry validated
//      (validate_entry), "__metadata__" a map of strings, no two tensors sharing bytes;
//   3. the data: each tensor is allocated with its (now trusted) size and read.
#include "tensor/safetensors.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <set>
#include <vector>

namespace ldae {

// The data section and the 8-byte header length are little-endian. Every CPU this
// project targets (x86-64, ARM64 Linux) is little-endian, so bytes are copied as they are.
static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors.cpp assumes a little-endian host");

namespace {

using json = nlohmann::json;

// A header longer than this is refused (real headers are kilobytes; the limit stops
// a hostile length from making us allocate gigabytes).
constexpr uint64_t kMaxHeaderBytes = 100u * 1000u * 1000u;

// The deepest JSON nesting a valid header has: the header object (depth 0) holds an
// entry object (1) holding the shape array (2) holding numbers (3).
constexpr int kMaxJsonDepth = 3;

[[noreturn]] void fail_file(const std::string& file, const std::string& problem) {
  throw Error("safetensors: " + file + ": " + problem);
}

// ---- Dtypes ----------------------------------------------------------------------

// How a stored dtype is read: its size in bytes and the framework dtype it becomes.
struct StoredDType {
  const char* name;
  size_t size;
  DType target;
};

const StoredDType kStoredDTypes[] = {
    {"F32", 4, DType::F32}, {"F64", 8, DType::F64}, {"F16", 2, DType::F32},
    {"BF16", 2, DType::F32}, {"I64", 8, DType::F64}, {"I32", 4, DType::F64},
    {"I16", 2, DType::F64}, {"I8", 1, DType::F64},  {"U8", 1, DType::F64},
    {"BOOL", 1, DType::F64},
};

// The table entry for `name`, or nullptr for a dtype this reader does not convert.
const StoredDType* find_stored_dtype(const std::string& name) {
  for (const StoredDType& d : kStoredDTypes)
    if (name == d.name) return &d;
  return nullptr;
}

// IEEE half precision (1 sign, 5 exponent, 10 mantissa bits) to float. Exact.
float half_to_float(uint16_t h) {
  const bool negative = (h >> 15) & 1;
  const int exponent = (h >> 10) & 0x1f;
  const int mantissa = h & 0x3ff;
  float magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(static_cast<float>(mantissa), -24);  // zero or subnormal: m * 2^-24
  } else if (exponent == 31) {
    magnitude = mantissa == 0 ? std::numeric_limits<float>::infinity()
                              : std::numeric_limits<float>::quiet_NaN();
  } else {
    // (1 + m / 1024) * 2^(e - 15) = (1024 + m) * 2^(e - 25)
    magnitude = std::ldexp(static_cast<float>(1024 + mantissa), exponent - 25);
  }
  return negative ? -magnitude : magnitude;
}

// bfloat16 is the upper half of a float32's bits. Exact.
float bf16_to_float(uint16_t b) {
  const uint32_t bits = static_cast<uint32_t>(b) << 16;
  float f;
  std::memcpy(&f, &bits, sizeof f);
  return f;
}

// Reads element i of a little-endian array of `Int` stored at `bytes`.
template <typename Int>
Int load(const unsigned char* bytes, int64_t i) {
  Int v;
  std::memcpy(&v, bytes + i * static_cast<int64_t>(sizeof(Int)), sizeof v);
  return v;
}

template <typename Int>
void ints_to_double(const unsigned char* bytes, int64_t n, double* dst) {
  for (int64_t i = 0; i < n; ++i) dst[i] = static_cast<double>(load<Int>(bytes, i));
}

// Converts `n` stored elements of dtype `from` at `bytes` into `out` (F32 or F64, as
// the dtype table says). The dtype is picked once, outside the element loops.
void convert(const std::string& from, const unsigned char* bytes, int64_t n, const Tensor& out) {
  if (from == "F16" || from == "BF16") {
    float* dst = out.mutable_data<float>();
    if (from == "F16")
      for (int64_t i = 0; i < n; ++i) dst[i] = half_to_float(load<uint16_t>(bytes, i));
    else
      for (int64_t i = 0; i < n; ++i) dst[i] = bf16_to_float(load<uint16_t>(bytes, i));
    return;
  }
  double* dst = out.mutable_data<double>();
  if (from == "I64") ints_to_double<int64_t>(bytes, n, dst);  // rounds beyond 2^53
  else if (from == "I32") ints_to_double<int32_t>(bytes, n, dst);
  else if (from == "I16") ints_to_double<int16_t>(bytes, n, dst);
  else if (from == "I8") ints_to_double<int8_t>(bytes, n, dst);
  else if (from == "U8") ints_to_double<uint8_t>(bytes, n, dst);
  else
    for (int64_t i = 0; i < n; ++i) dst[i] = bytes[i] != 0 ? 1.0 : 0.0;  // BOOL
}

// ---- Byte sources: a file or a buffer in memory -----------------------------------

class ByteSource {
 public:
  virtual ~ByteSource() = default;
  virtual uint64_t size() const = 0;
  // Copies bytes [offset, offset + n) to dst. The caller has checked the range.
  virtual void read(uint64_t offset, void* dst, size_t n) = 0;
};

class FileSource : public ByteSource {
 public:
  explicit FileSource(const std::string& path) : path_(path) {
    namespace fs = std::filesystem;
    std::error_code ec;
    const fs::file_status st = fs::status(path, ec);
    if (!fs::exists(st)) {
      const bool missing = !ec || ec == std::errc::no_such_file_or_directory;
      fail_file(path, missing ? "no such file" : "cannot access: " + ec.message());
    }
    if (fs::is_directory(st)) fail_file(path, "is a directory, not a file");
    if (!fs::is_regular_file(st)) fail_file(path, "is not a regular file");
    size_ = fs::file_size(path, ec);
    if (ec) fail_file(path, "cannot read the file size: " + ec.message());
    in_.open(path, std::ios::binary);
    if (!in_) fail_file(path, std::string("cannot open: ") + std::strerror(errno));
  }
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, size_t n) override {
    if (n == 0) return;
    in_.clear();
    in_.seekg(static_cast<std::streamoff>(offset));
    in_.read(static_cast<char*>(dst), static_cast<std::streamsize>(n));
    if (!in_ || in_.gcount() != static_cast<std::streamsize>(n))
      fail_file(path_, "the file ended early (was it changed while being read?)");
  }

 private:
  std::string path_;
  uint64_t size_ = 0;
  std::ifstream in_;
};

class MemorySource : public ByteSource {
 public:
  MemorySource(const void* bytes, size_t size)
      : bytes_(static_cast<const unsigned char*>(bytes)), size_(size) {}
  uint64_t size() const override { return size_; }
  void read(uint64_t offset, void* dst, size_t n) override {
    if (n > 0) std::memcpy(dst, bytes_ + offset, n);
  }

 private:
  const unsigned char* bytes_;
  size_t size_;
};

// ---- Header validation ------------------------------------------------------------

// One tensor of the header, after validation.
struct Entry {
  std::string name;
  const StoredDType* dtype;
  Shape shape;
  uint64_t begin, end;  // byte range in the data section
};

// Parses the header text. Refuses invalid JSON, a non-object, a duplicate key at any
// level (nlohmann::json would silently keep the last one) and nesting deeper than a
// valid header's.
json parse_header(const std::string& file, const std::string& text) {
  std::vector<std::set<std::string>> open_objects;  // keys seen in each enclosing object
  auto watch = [&](int depth, json::parse_event_t event, json& parsed) {
    if (depth > kMaxJsonDepth) fail_file(file, "header JSON is nested too deeply");
    if (event == json::parse_event_t::object_start) {
      open_objects.emplace_back();
    } else if (event == json::parse_event_t::object_end) {
      open_objects.pop_back();
    } else if (event == json::parse_event_t::key) {
      const std::string key = parsed.get<std::string>();
      if (!open_objects.back().insert(key).second)
        fail_file(file, "header has the key \"" + key + "\" twice");
    }
    return true;
  };
  json header;
  try {
    header = json::parse(text, watch);
  } catch (const json::exception& e) {
    fail_file(file, std::string("header is not valid JSON: ") + e.what());
  }
  if (!header.is_object()) fail_file(file, "header is not a JSON object");
  return header;
}

// A non-negative JSON integer as uint64, or an error naming `what`.
uint64_t get_count(const std::string& file, const json& j, const std::string& what) {
  if (j.is_number_unsigned()) return j.get<uint64_t>();
  if (j.is_number_integer()) fail_file(file, what + " is negative (" + j.dump() + ")");
  fail_file(file, what + " is not an integer (" + j.dump() + ")");
}

// a * b, or an error if the product does not fit in 64 bits.
uint64_t checked_mul(const std::string& file, uint64_t a, uint64_t b, const std::string& what) {
  if (b != 0 && a > std::numeric_limits<uint64_t>::max() / b) fail_file(file, what + " overflows");
  return a * b;
}

// Validates one header entry against a data section of `data_size` bytes.
Entry validate_entry(const std::string& file, const std::string& name, const json& info,
                     uint64_t data_size) {
  const std::string where = "tensor \"" + name + "\"";
  if (name.empty()) fail_file(file, "a tensor has an empty name");
  if (!info.is_object()) fail_file(file, where + " is not a JSON object");
  for (const auto& field : info.items())
    if (field.key() != "dtype" && field.key() != "shape" && field.key() != "data_offsets")
      fail_file(file, where + " has an unknown field \"" + field.key() + "\"");
  for (const char* field : {"dtype", "shape", "data_offsets"})
    if (!info.contains(field)) fail_file(file, where + " has no \"" + field + "\"");

  Entry e;
  e.name = name;

  const json& dtype = info["dtype"];
  if (!dtype.is_string()) fail_file(file, where + ": dtype is not a string");
  e.dtype = find_stored_dtype(dtype.get<std::string>());
  if (!e.dtype)
    fail_file(file, where + " has dtype \"" + dtype.get<std::string>() +
                        "\", which this reader does not support (F32, F64, F16, BF16, I64, I32, "
                        "I16, I8, U8, BOOL)");

  // numel = product of the sizes. The product of the non-zero sizes must fit in an
  // int64 even when a zero size makes numel 0 (strides are computed from it).
  const json& shape = info["shape"];
  if (!shape.is_array()) fail_file(file, where + ": shape is not an array");
  uint64_t product = 1;
  bool has_zero = false;
  for (const json& s : shape) {
    const uint64_t size = get_count(file, s, where + ": a shape size");
    product = checked_mul(file, product, std::max<uint64_t>(size, 1), where + ": element count");
    if (product > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
      fail_file(file, where + ": element count overflows");
    e.shape.push_back(static_cast<int64_t>(size));
    if (size == 0) has_zero = true;
  }
  const uint64_t numel = has_zero ? 0 : product;
  const uint64_t nbytes = checked_mul(file, numel, e.dtype->size, where + ": byte size");

  const json& offsets = info["data_offsets"];
  if (!offsets.is_array() || offsets.size() != 2)
    fail_file(file, where + ": data_offsets is not an array [begin, end]");
  e.begin = get_count(file, offsets[0], where + ": data_offsets begin");
  e.end = get_count(file, offsets[1], where + ": data_offsets end");
  if (e.begin > e.end)
    fail_file(file, where + ": data_offsets begin " + std::to_string(e.begin) + " > end " +
                        std::to_string(e.end));
  if (e.end > data_size)
    fail_file(file, where + ": data_offsets [" + std::to_string(e.begin) + ", " +
                        std::to_string(e.end) + "] run past the data section (" +
                        std::to_string(data_size) + " bytes)");
  if (e.end - e.begin != nbytes)
    fail_file(file, where + ": data_offsets hold " + std::to_string(e.end - e.begin) +
                        " bytes but shape " + shape_str(e.shape) + " of " + e.dtype->name +
                        " needs " + std::to_string(nbytes));
  return e;
}

// "__metadata__" must map strings to strings.
std::map<std::string, std::string> validate_metadata(const std::string& file, const json& meta) {
  if (!meta.is_object()) fail_file(file, "__metadata__ is not a JSON object");
  std::map<std::string, std::string> out;
  for (const auto& item : meta.items()) {
    if (!item.value().is_string())
      fail_file(file, "__metadata__ value of \"" + item.key() + "\" is not a string (" +
                          item.value().dump() + ")");
    out[item.key()] = item.value().get<std::string>();
  }
  return out;
}

// Refuses two tensors whose byte ranges intersect (empty ranges share nothing).
void check_no_overlap(const std::string& file, std::vector<const Entry*> entries) {
  std::sort(entries.begin(), entries.end(),
            [](const Entry* a, const Entry* b) { return a->begin < b->begin; });
  const Entry* previous = nullptr;
  for (const Entry* e : entries) {
    if (e->begin == e->end) continue;
    if (previous && previous->end > e->begin)
      fail_file(file, "tensors \"" + previous->name + "\" and \"" + e->name +
                          "\" overlap in the data section");
    previous = e;
  }
}

// The three steps of the file comment, on any byte source.
SafetensorsFile read_from(ByteSource& src, const std::string& file) {
  // Step 1: the header length.
  if (src.size() < 8)
    fail_file(file, "too short (" + std::to_string(src.size()) +
                        " bytes) to hold the 8-byte header length");
  uint64_t header_len = 0;
  src.read(0, &header_len, 8);
  if (header_len > kMaxHeaderBytes)
    fail_file(file, "header length " + std::to_string(header_len) + " exceeds the 100 MB limit");
  if (header_len > src.size() - 8)
    fail_file(file, "header length " + std::to_string(header_len) + " runs past the end of the " +
                        std::to_string(src.size()) + "-byte file (truncated?)");
  const uint64_t data_start = 8 + header_len;
  const uint64_t data_size = src.size() - data_start;

  // Step 2: the header.
  std::string text(header_len, '\0');
  src.read(8, text.data(), header_len);
  const json header = parse_header(file, text);

  SafetensorsFile result;
  std::vector<Entry> entries;
  for (const auto& item : header.items()) {
    if (item.key() == "__metadata__") result.metadata = validate_metadata(file, item.value());
    else entries.push_back(validate_entry(file, item.key(), item.value(), data_size));
  }
  std::vector<const Entry*> pointers;
  for (const Entry& e : entries) pointers.push_back(&e);
  check_no_overlap(file, pointers);

  // Step 3: the data (sizes are trusted now: each is at most the file size).
  std::vector<unsigned char> staging;
  for (const Entry& e : entries) {
    Tensor t = Tensor::empty(e.shape, e.dtype->target);
    const size_t nbytes = static_cast<size_t>(e.end - e.begin);
    const std::string stored = e.dtype->name;
    if (stored == "F32" || stored == "F64") {
      if (nbytes > 0) src.read(data_start + e.begin, t.storage()->data(), nbytes);
    } else {
      staging.resize(nbytes);
      src.read(data_start + e.begin, staging.data(), nbytes);
      convert(stored, staging.data(), t.numel(), t);
    }
    result.tensors[e.name] = t;
    result.stored_dtype[e.name] = stored;
  }
  return result;
}

// ---- Writing ------------------------------------------------------------------------

// Writes all n bytes (write() may write fewer and may be interrupted by a signal).
bool write_all(int fd, const void* bytes, size_t n) {
  const char* p = static_cast<const char*>(bytes);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0) {
      if (errno == EINTR) continue;
      return false;
    }
    p += w;
    n -= static_cast<size_t>(w);
  }
  return true;
}

}  // namespace

SafetensorsFile read_safetensors(const std::string& path) {
  FileSource src(path);
  return read_from(src, path);
}

SafetensorsFile read_safetensors_from_memory(const void* bytes, size_t size,
                                             const std::string& name) {
  MemorySource src(bytes, size);
  return read_from(src, name);
}

void write_safetensors(const std::string& path, const std::map<std::string, Tensor>& tensors,
                       const std::map<std::string, std::string>& metadata) {
  // The header, in name order (std::map), with consecutive byte ranges.
  json header = json::object();
  if (!metadata.empty()) header["__metadata__"] = metadata;
  std::vector<Tensor> data;  // contiguous CPU copies (or the tensors themselves)
  uint64_t offset = 0;
  for (const auto& [name, t] : tensors) {
    if (name.empty() || name == "__metadata__")
      fail_file(path, "invalid tensor name \"" + name + "\"");
    if (!t.defined()) fail_file(path, "tensor \"" + name + "\" is undefined");
    if (!t.device().is_cpu())
      fail_file(path, "tensor \"" + name + "\" is on " + t.device().str() + "; copy it to the CPU");
    const Tensor c = t.contiguous();
    const uint64_t nbytes = static_cast<uint64_t>(c.numel()) * dtype_size(c.dtype());
    header[name] = {{"dtype", c.dtype() == DType::F32 ? "F32" : "F64"},
                    {"shape", c.shape()},
                    {"data_offsets", {offset, offset + nbytes}}};
    offset += nbytes;
    data.push_back(c);
  }
  std::string text;
  try {
    text = header.dump();
  } catch (const json::exception& e) {
    fail_file(path, std::string("names and metadata must be valid UTF-8: ") + e.what());
  }
  text.append((8 - text.size() % 8) % 8, ' ');  // the data section starts 8-byte aligned
  const uint64_t header_len = text.size();

  // Write a temporary file next to the target, flush it to disk, then rename it over
  // the target: rename is atomic, so readers see the old file or the new one.
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail_file(path, "cannot create " + tmp + ": " + std::strerror(errno));
  std::string problem;  // the first failure, if any
  bool ok = write_all(fd, &header_len, 8) && write_all(fd, text.data(), text.size());
  for (size_t i = 0; ok && i < data.size(); ++i) {
    const size_t nbytes = static_cast<size_t>(data[i].numel()) * dtype_size(data[i].dtype());
    const void* bytes = nullptr;
    LDAE_DISPATCH(data[i].dtype(), T, { bytes = data[i].data<T>(); });
    if (nbytes > 0) ok = write_all(fd, bytes, nbytes);
  }
  if (!ok) problem = std::string("cannot write ") + tmp + ": " + std::strerror(errno);
  else if (::fsync(fd) != 0) problem = std::string("cannot flush ") + tmp + ": " + std::strerror(errno);
  if (::close(fd) != 0 && problem.empty())
    problem = std::string("cannot close ") + tmp + ": " + std::strerror(errno);
  if (problem.empty() && std::rename(tmp.c_str(), path.c_str()) != 0)
    problem = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
  if (!problem.empty()) {
    ::unlink(tmp.c_str());
    fail_file(path, problem);
  }
  // Make the rename itself durable: fsync the folder (best effort; some file systems refuse).
  std::string folder = std::filesystem::path(path).parent_path().string();
  if (folder.empty()) folder = ".";
  const int dir_fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (dir_fd >= 0) {
    ::fsync(dir_fd);
    ::close(dir_fd);
  }
}

}  // namespace ldae
