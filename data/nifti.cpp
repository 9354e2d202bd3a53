// NIfTI reading and writing. nifticlib does the byte-level work (header byte swapping,
// the quaternion <-> matrix conversions, writing .nii and .nii.gz); this file does the
// validation, so that a malformed file gives one clear line instead of a crash, a hang
// or a giant allocation. The header is parsed here, field by field, rather than by
// nifti_image_read(), because nifticlib accepts odd files silently (e.g. a missing magic
// means ANALYZE 7.5) and reports problems on stderr instead of returning them.
#include "data/nifti.h"

#include <nifti2_io.h>
#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <limits>
#include <vector>

#include "tensor/error.h"

namespace fs = std::filesystem;

namespace ldae::data {

namespace {

[[noreturn]] void refuse(const std::string& op, const std::string& path, const std::string& what) {
  fail(op, path + ": " + what);
}

bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The stored datatypes we convert to float, with their size in bytes.
struct TypeInfo {
  const char* name;
  int bytes;
};
bool supported_type(int code, TypeInfo* info) {
  switch (code) {
    case DT_UINT8: *info = {"uint8", 1}; return true;
    case DT_INT8: *info = {"int8", 1}; return true;
    case DT_INT16: *info = {"int16", 2}; return true;
    case DT_UINT16: *info = {"uint16", 2}; return true;
    case DT_INT32: *info = {"int32", 4}; return true;
    case DT_UINT32: *info = {"uint32", 4}; return true;
    case DT_INT64: *info = {"int64", 8}; return true;
    case DT_UINT64: *info = {"uint64", 8}; return true;
    case DT_FLOAT32: *info = {"float32", 4}; return true;
    case DT_FLOAT64: *info = {"float64", 8}; return true;
    default: return false;
  }
}
const char* known_unsupported_type(int code) {
  switch (code) {
    case DT_BINARY: return "binary (1 bit)";
    case DT_COMPLEX64: return "complex64";
    case DT_COMPLEX128: return "complex128";
    case DT_COMPLEX256: return "complex256";
    case DT_FLOAT128: return "float128";
    case DT_RGB24: return "rgb24";
    case DT_RGBA32: return "rgba32";
    default: return nullptr;
  }
}

// Everything the reader needs from a header, in one version-independent form.
struct Header {
  int version = 1;
  bool gz = false;
  bool swapped = false;  // file byte order differs from this machine's
  int64_t dim[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int datatype = 0;
  TypeInfo type{"", 0};
  int64_t vox_offset = 0;
  double slope = 1, inter = 0;
  Affine affine;
  int space_code = 0;
  std::string affine_source;
  int64_t nvox = 0;
};

bool is_gzip_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  unsigned char magic[2] = {0, 0};
  f.read(reinterpret_cast<char*>(magic), 2);
  return f.gcount() == 2 && magic[0] == 0x1f && magic[1] == 0x8b;
}

// Opens `path` for reading through zlib (which reads plain files transparently), after
// the checks that need no reading. We use zlib directly rather than nifticlib's znzlib
// wrapper because only zlib reports a damaged stream (gzread returns -1).
gzFile open_checked(const std::string& op, const std::string& path, bool* gz) {
  std::error_code ec;
  const fs::file_status st = fs::status(path, ec);
  if (ec || !fs::exists(st)) refuse(op, path, "no such file");
  if (fs::is_directory(st)) refuse(op, path, "is a directory, not a NIfTI file");
  if (!fs::is_regular_file(st)) refuse(op, path, "is not a regular file");
  if (!ends_with(path, ".nii") && !ends_with(path, ".nii.gz"))
    refuse(op, path, "unsupported file name (expected .nii or .nii.gz; two-file .hdr/.img pairs are not supported)");
  if (fs::file_size(path, ec) == 0) refuse(op, path, "empty file");
  *gz = is_gzip_file(path);
  gzFile fp = gzopen(path.c_str(), "rb");
  if (fp == nullptr) refuse(op, path, "cannot open for reading");
  return fp;
}

// Reads up to `n` bytes; returns how many were read (fewer at the end of the data),
// kTruncatedGzip when the gzip stream ends early, kCorruptGzip when it is damaged.
constexpr int64_t kTruncatedGzip = -2, kCorruptGzip = -1;
int64_t read_some(gzFile fp, void* buf, int64_t n) {
  const int got = gzread(fp, buf, static_cast<unsigned>(n));
  int errnum = Z_OK;
  gzerror(fp, &errnum);
  if (errnum == Z_BUF_ERROR) return kTruncatedGzip;  // zlib: "unexpected end of file"
  return (got < 0 || (errnum != Z_OK && errnum != Z_STREAM_END)) ? kCorruptGzip : got;
}
std::string gzip_problem(int64_t code) {
  return code == kTruncatedGzip ? "truncated gzip stream" : "corrupt gzip stream";
}

int32_t bswap32(int32_t v) {
  uint32_t u = static_cast<uint32_t>(v);
  u = ((u & 0xffu) << 24) | ((u & 0xff00u) << 8) | ((u >> 8) & 0xff00u) | (u >> 24);
  return static_cast<int32_t>(u);
}

// The affine of the header: sform, else qform, else pixdim (see read_nifti's contract).
template <typename H>
void choose_affine(const H& h, Header* out) {
  if (h.sform_code > 0) {
    for (int c = 0; c < 4; ++c) {
      out->affine.m[0][c] = h.srow_x[c];
      out->affine.m[1][c] = h.srow_y[c];
      out->affine.m[2][c] = h.srow_z[c];
    }
    out->space_code = h.sform_code;
    out->affine_source = "sform";
  } else if (h.qform_code > 0) {
    const double qfac = h.pixdim[0] < 0 ? -1.0 : 1.0;  // 0 means 1 by the standard
    const nifti_dmat44 q = nifti_quatern_to_dmat44(h.quatern_b, h.quatern_c, h.quatern_d, h.qoffset_x,
                                                   h.qoffset_y, h.qoffset_z, h.pixdim[1], h.pixdim[2],
                                                   h.pixdim[3], qfac);
    for (int r = 0; r < 4; ++r)
      for (int c = 0; c < 4; ++c) out->affine.m[r][c] = q.m[r][c];
    out->space_code = h.qform_code;
    out->affine_source = "qform";
  } else {
    out->affine = Affine::scaling({h.pixdim[1], h.pixdim[2], h.pixdim[3]});
    out->space_code = 0;
    out->affine_source = "pixdim";
  }
}

// Copies the version-specific header fields into `out` and validates them.
template <typename H>
void fill_header(const std::string& op, const std::string& path, const H& h, Header* out) {
  for (int n = 0; n < 8; ++n) out->dim[n] = h.dim[n];
  const int64_t ndim = h.dim[0];
  if (ndim < 1 || ndim > 7)
    refuse(op, path, "bad dim[0] = " + std::to_string(ndim) + " (must be 1 to 7)");
  // Axes past dim[0] have size 1 by the standard, whatever the file says.
  for (int n = static_cast<int>(ndim) + 1; n < 8; ++n) out->dim[n] = 1;
  for (int n = 1; n <= ndim; ++n)
    if (h.dim[n] < 1)
      refuse(op, path, "bad dim[" + std::to_string(n) + "] = " + std::to_string(h.dim[n]) + " (must be >= 1)");
  int64_t volumes = 1;
  for (int n = 4; n < 8; ++n) {
    if (out->dim[n] > 1 && volumes > std::numeric_limits<int64_t>::max() / out->dim[n]) volumes = -1;
    if (volumes > 0) volumes *= out->dim[n];
  }
  if (volumes != 1)
    refuse(op, path, "holds " + (volumes > 0 ? std::to_string(volumes) : std::string("too many")) +
                         " volumes (dim[4..7] = " + std::to_string(out->dim[4]) + "," + std::to_string(out->dim[5]) +
                         "," + std::to_string(out->dim[6]) + "," + std::to_string(out->dim[7]) +
                         "); only a single 3D volume is supported");
  // Voxel count with an overflow-safe product (each factor is >= 1 here).
  const int64_t limit = int64_t(1) << 40;
  int64_t nvox = 1;
  for (int n = 1; n <= 3; ++n) {
    if (out->dim[n] > limit / nvox) refuse(op, path, "absurd dimensions " + std::to_string(out->dim[1]) + "x" +
                                           std::to_string(out->dim[2]) + "x" + std::to_string(out->dim[3]));
    nvox *= out->dim[n];  // cannot overflow: checked against limit / nvox first
  }
  out->nvox = nvox;

  out->datatype = h.datatype;
  if (!supported_type(h.datatype, &out->type)) {
    if (const char* name = known_unsupported_type(h.datatype))
      refuse(op, path, std::string("unsupported datatype ") + name + " (code " + std::to_string(h.datatype) + ")");
    refuse(op, path, "unknown datatype code " + std::to_string(h.datatype));
  }

  // Spacing of the axes that exist; axes past dim[0] get 1 mm.
  double pix[4] = {h.pixdim[0], h.pixdim[1], h.pixdim[2], h.pixdim[3]};
  for (int n = 1; n <= 3; ++n) {
    if (n > ndim) {
      pix[n] = 1.0;
      continue;
    }
    if (!std::isfinite(pix[n]) || pix[n] <= 0)
      refuse(op, path, "non-positive or non-finite spacing pixdim[" + std::to_string(n) + "] = " +
                           std::to_string(pix[n]));
  }
  H fixed = h;
  for (int n = 1; n <= 3; ++n) fixed.pixdim[n] = pix[n];
  choose_affine(fixed, out);
  if (!out->affine.is_valid()) refuse(op, path, "the " + out->affine_source + " holds non-finite values");
  const double det = out->affine.det3();
  if (!std::isfinite(det) || std::abs(det) < 1e-12)
    refuse(op, path, "the " + out->affine_source + " is singular (zero spacing or collinear axes)");

  const double vox_offset = static_cast<double>(h.vox_offset);
  if (!std::isfinite(vox_offset) || vox_offset < static_cast<double>(h.sizeof_hdr) || vox_offset > 1e12)
    refuse(op, path, "bad vox_offset " + std::to_string(vox_offset) + " (must be >= the header size " +
                         std::to_string(h.sizeof_hdr) + ")");
  out->vox_offset = static_cast<int64_t>(vox_offset);

  // scl_slope == 0 (or non-finite) means "not scaled" (NIfTI standard).
  out->slope = 1.0;
  out->inter = 0.0;
  if (std::isfinite(static_cast<double>(h.scl_slope)) && h.scl_slope != 0) {
    out->slope = h.scl_slope;
    out->inter = std::isfinite(static_cast<double>(h.scl_inter)) ? static_cast<double>(h.scl_inter) : 0.0;
  }
}

// Reads and validates the header; leaves `fp` open at an unspecified position.
Header parse_header(const std::string& op, const std::string& path, gzFile fp, bool gz) {
  // The larger of the two headers, so one read serves both versions.
  unsigned char raw[sizeof(nifti_2_header)];
  std::memset(raw, 0, sizeof raw);
  const int64_t got = read_some(fp, raw, sizeof raw);
  if (got < 0) refuse(op, path, gzip_problem(got) + " in the header");
  if (got < 4)
    refuse(op, path, std::string(gz ? "truncated or empty gzip stream: " : "") + "truncated header (" +
                         std::to_string(got) + " bytes)");
  int32_t sizeof_hdr;
  std::memcpy(&sizeof_hdr, raw, 4);
  Header out;
  out.gz = gz;
  if (sizeof_hdr == 348 || bswap32(sizeof_hdr) == 348) {
    out.version = 1;
  } else if (sizeof_hdr == 540 || bswap32(sizeof_hdr) == 540) {
    out.version = 2;
  } else {
    refuse(op, path, "not a NIfTI file (header size field is " + std::to_string(sizeof_hdr) +
                         ", expected 348 or 540)");
  }
  out.swapped = sizeof_hdr != 348 && sizeof_hdr != 540;
  const int64_t need = out.version == 1 ? 348 : 540;
  if (got < need)
    refuse(op, path, "truncated header (" + std::to_string(got) + " of " + std::to_string(need) + " bytes)");

  if (out.version == 1) {
    nifti_1_header h;
    std::memcpy(&h, raw, sizeof h);
    if (out.swapped) swap_nifti_header(&h, 1);
    if (std::memcmp(h.magic, "ni1\0", 4) == 0)
      refuse(op, path, "two-file NIfTI (magic 'ni1', .hdr/.img) is not supported; convert it to .nii");
    if (std::memcmp(h.magic, "n+1\0", 4) != 0) refuse(op, path, "bad magic (expected 'n+1')");
    fill_header(op, path, h, &out);
  } else {
    nifti_2_header h;
    std::memcpy(&h, raw, sizeof h);
    if (out.swapped) swap_nifti_header(&h, 2);
    if (std::memcmp(h.magic, "ni2\0", 4) == 0)
      refuse(op, path, "two-file NIfTI (magic 'ni2', .hdr/.img) is not supported; convert it to .nii");
    if (std::memcmp(h.magic, "n+2\0", 4) != 0) refuse(op, path, "bad magic (expected 'n+2')");
    if (std::memcmp(h.magic + 4, "\r\n\032\n", 4) != 0)
      refuse(op, path, "bad magic: the NIfTI-2 signature bytes 4-7 are damaged (text-mode transfer?)");
    fill_header(op, path, h, &out);
  }
  return out;
}

void fill_meta(const Header& h, NiftiMeta* meta) {
  meta->version = h.version;
  meta->datatype = h.type.name;
  for (int n = 0; n < 8; ++n) meta->dim[n] = h.dim[n];
  meta->scl_slope = h.slope;
  meta->scl_inter = h.inter;
  meta->affine_source = h.affine_source;
}

// Converts one stored value to double (after byte swapping when needed).
template <typename S>
double load_value(const unsigned char* p, bool swapped) {
  S v;
  if (!swapped) {
    std::memcpy(&v, p, sizeof v);
  } else {
    unsigned char b[sizeof(S)];
    for (size_t n = 0; n < sizeof(S); ++n) b[n] = p[sizeof(S) - 1 - n];
    std::memcpy(&v, b, sizeof v);
  }
  return static_cast<double>(v);
}

// raw: the file's data in file order (i fastest). out: (X, Y, Z) row-major floats.
template <typename S>
int64_t convert(const unsigned char* raw, const Header& h, float* out) {
  const int64_t nx = h.dim[1], ny = h.dim[2], nz = h.dim[3];
  const double slope = h.slope, inter = h.inter;
  int64_t nonfinite = 0;
#pragma omp parallel for schedule(static) reduction(+ : nonfinite)
  for (int64_t i = 0; i < nx; ++i)
    for (int64_t j = 0; j < ny; ++j)
      for (int64_t k = 0; k < nz; ++k) {
        const int64_t f = i + nx * (j + ny * k);
        float v = static_cast<float>(load_value<S>(raw + f * sizeof(S), h.swapped) * slope + inter);
        if (!std::isfinite(v)) {
          ++nonfinite;
          v = 0.0f;
        }
        out[(i * ny + j) * nz + k] = v;
      }
  return nonfinite;
}

}  // namespace

Volume read_nifti_header(const std::string& path) {
  const std::string op = "read_nifti";
  bool gz = false;
  gzFile fp = open_checked(op, path, &gz);
  Header h;
  try {
    h = parse_header(op, path, fp, gz);
  } catch (...) {
    gzclose(fp);
    throw;
  }
  gzclose(fp);
  Volume v;
  v.affine = h.affine;
  v.space_code = h.space_code > 0 ? h.space_code : 1;
  fill_meta(h, &v.meta);
  return v;
}

Volume read_nifti(const std::string& path, const ReadOptions& options) {
  const std::string op = "read_nifti";
  bool gz = false;
  gzFile fp = open_checked(op, path, &gz);
  // Close the file on every exit path (errors throw).
  struct Closer {
    gzFile f;
    ~Closer() { gzclose(f); }
  } closer{fp};

  const Header h = parse_header(op, path, fp, gz);
  if (h.nvox > options.max_voxels)
    refuse(op, path, "too large: " + std::to_string(h.nvox) + " voxels (limit " + std::to_string(options.max_voxels) + ")");
  const int64_t bytes = h.nvox * h.type.bytes;
  const std::string expect = std::to_string(h.dim[1]) + "x" + std::to_string(h.dim[2]) + "x" +
                             std::to_string(h.dim[3]) + " " + h.type.name;

  // An uncompressed file must be long enough before we allocate anything.
  if (!gz) {
    std::error_code ec;
    const auto size = static_cast<int64_t>(fs::file_size(path, ec));
    if (size < h.vox_offset + bytes)
      refuse(op, path, "file has " + std::to_string(size) + " bytes but the header needs " +
                           std::to_string(h.vox_offset + bytes) + " (" + expect + " from offset " +
                           std::to_string(h.vox_offset) + "): truncated or wrong dimensions");
  }
  if (gzseek(fp, static_cast<z_off_t>(h.vox_offset), SEEK_SET) < 0)
    refuse(op, path, "cannot seek to the voxel data at offset " + std::to_string(h.vox_offset) +
                         (gz ? " (truncated or corrupt gzip stream?)" : ""));
  // Read in chunks, so that a gzip file whose header promises more than it holds costs
  // only the memory of what it really holds.
  std::vector<unsigned char> raw;
  raw.reserve(static_cast<size_t>(std::min<int64_t>(bytes, int64_t(64) << 20)));
  const int64_t chunk = int64_t(4) << 20;
  std::vector<unsigned char> buf(static_cast<size_t>(std::min(chunk, bytes)));
  while (static_cast<int64_t>(raw.size()) < bytes) {
    const int64_t want = std::min<int64_t>(chunk, bytes - static_cast<int64_t>(raw.size()));
    const int64_t got = read_some(fp, buf.data(), want);
    if (got < 0) refuse(op, path, gzip_problem(got) + " in the voxel data");
    raw.insert(raw.end(), buf.begin(), buf.begin() + got);
    if (got < want) {
      refuse(op, path, std::string(gz ? "gzip stream ends" : "file ends") + " after " + std::to_string(raw.size()) +
                           " of " + std::to_string(bytes) + " voxel bytes (" + expect +
                           "): truncated or wrong dimensions");
    }
  }

  if (gz) {
    // Reading past the data makes zlib check the stream's CRC trailer when it is there.
    // (A stream cut exactly at its 8-byte trailer, with every data byte intact, passes.)
    unsigned char extra[1];
    const int64_t tail = read_some(fp, extra, 1);
    if (tail < 0) refuse(op, path, gzip_problem(tail) + " after the voxel data (bad CRC?)");
  }

  Volume v;
  v.voxels = Tensor::empty({h.dim[1], h.dim[2], h.dim[3]}, DType::F32);
  float* out = v.voxels.mutable_data<float>();
  int64_t nonfinite = 0;
  switch (h.datatype) {
    case DT_UINT8: nonfinite = convert<uint8_t>(raw.data(), h, out); break;
    case DT_INT8: nonfinite = convert<int8_t>(raw.data(), h, out); break;
    case DT_INT16: nonfinite = convert<int16_t>(raw.data(), h, out); break;
    case DT_UINT16: nonfinite = convert<uint16_t>(raw.data(), h, out); break;
    case DT_INT32: nonfinite = convert<int32_t>(raw.data(), h, out); break;
    case DT_UINT32: nonfinite = convert<uint32_t>(raw.data(), h, out); break;
    case DT_INT64: nonfinite = convert<int64_t>(raw.data(), h, out); break;
    case DT_UINT64: nonfinite = convert<uint64_t>(raw.data(), h, out); break;
    case DT_FLOAT32: nonfinite = convert<float>(raw.data(), h, out); break;
    case DT_FLOAT64: nonfinite = convert<double>(raw.data(), h, out); break;
    default: refuse(op, path, "unsupported datatype");  // unreachable: checked in the header
  }
  if (nonfinite > 0) {
    if (options.refuse_nonfinite)
      refuse(op, path, std::to_string(nonfinite) + " voxels are NaN or infinite");
    if (!options.quiet)
      std::cerr << "warning: " << path << ": " << nonfinite << " NaN or infinite voxels were set to 0\n";
  }
  v.affine = h.affine;
  v.space_code = h.space_code > 0 ? h.space_code : 1;
  fill_meta(h, &v.meta);
  v.meta.nonfinite_replaced = nonfinite;
  return v;
}

Volume make_volume(const Tensor& voxels, const Affine& affine, int space_code) {
  check(voxels.defined() && voxels.dim() == 3, "make_volume",
        "voxels must be a 3-d tensor (X, Y, Z), got " + (voxels.defined() ? shape_str(voxels.shape()) : "undefined"));
  Volume v;
  v.voxels = voxels.to(DType::F32).contiguous();
  if (v.voxels.same_storage(voxels)) v.voxels = v.voxels.clone();
  v.affine = affine;
  v.space_code = space_code;
  v.meta = NiftiMeta{};
  for (int n = 1; n <= 3; ++n) v.meta.dim[n] = v.voxels.size(n - 1);
  return v;
}

void write_nifti(const std::string& path, const Volume& volume, const WriteOptions& options) {
  const std::string op = "write_nifti";
  check(volume.voxels.defined() && volume.voxels.dim() == 3, op,
        path + ": voxels must be a 3-d tensor (X, Y, Z)");
  if (!ends_with(path, ".nii") && !ends_with(path, ".nii.gz"))
    refuse(op, path, "unsupported file name (expected .nii or .nii.gz)");
  const bool as_uint8 = options.datatype == "uint8";
  if (!as_uint8 && options.datatype != "float32")
    refuse(op, path, "unsupported datatype '" + options.datatype + "' for writing (float32 or uint8)");
  if (!volume.affine.is_valid() || std::abs(volume.affine.det3()) < 1e-12)
    refuse(op, path, "the affine is singular or not finite");
  const fs::path parent = fs::path(path).parent_path();
  std::error_code ec;
  if (!parent.empty() && !fs::is_directory(parent, ec))
    refuse(op, path, "folder " + parent.string() + " does not exist");
  if (fs::is_directory(path, ec)) refuse(op, path, "is a directory");
  fs::remove(path, ec);  // so that a failed write cannot leave an old file looking fine

  const Tensor vox = volume.voxels.to(DType::F32).contiguous();
  const int64_t nx = vox.size(0), ny = vox.size(1), nz = vox.size(2);
  // File order: i fastest.
  std::vector<float> data(static_cast<size_t>(nx * ny * nz));
  const float* src = vox.data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t k = 0; k < nz; ++k)
    for (int64_t j = 0; j < ny; ++j)
      for (int64_t i = 0; i < nx; ++i) data[static_cast<size_t>(i + nx * (j + ny * k))] = src[(i * ny + j) * nz + k];

  // uint8: stored = round((value - inter) / slope); whole numbers in 0..255 stay as they are.
  std::vector<uint8_t> bytes;
  double slope = 1.0, inter = 0.0;
  if (as_uint8) {
    double lo = INFINITY, hi = -INFINITY;
    bool whole = true;
    for (float x : data) {
      if (!std::isfinite(x)) refuse(op, path, "uint8 output needs finite voxels (found NaN or infinity)");
      lo = std::min(lo, double(x));
      hi = std::max(hi, double(x));
      whole = whole && x == std::round(x);
    }
    if (!(whole && lo >= 0 && hi <= 255)) {
      inter = lo;
      slope = hi > lo ? (hi - lo) / 255.0 : 1.0;
    }
    bytes.resize(data.size());
    for (size_t v = 0; v < data.size(); ++v)
      bytes[v] = static_cast<uint8_t>(std::clamp(std::lround((data[v] - inter) / slope), 0L, 255L));
  }

  nifti_set_debug_level(0);
  const int64_t dims[8] = {3, nx, ny, nz, 1, 1, 1, 1};
  nifti_image* nim = nifti_make_new_nim(dims, as_uint8 ? DT_UINT8 : DT_FLOAT32, 0);
  if (!nim) refuse(op, path, "nifticlib could not create the image");
  nim->nifti_type = NIFTI_FTYPE_NIFTI1_1;
  const Affine& a = volume.affine;
  nifti_dmat44 m;
  for (int r = 0; r < 4; ++r)
    for (int c = 0; c < 4; ++c) m.m[r][c] = a.m[r][c];
  // sform: the exact affine.
  nim->sform_code = volume.space_code;
  nim->sto_xyz = m;
  nim->sto_ijk = nifti_dmat44_inverse(m);
  // qform: nifticlib finds the closest rotation + spacing + qfac form.
  double qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac;
  nifti_dmat44_to_quatern(m, &qb, &qc, &qd, &qx, &qy, &qz, &dx, &dy, &dz, &qfac);
  nim->qform_code = volume.space_code;
  nim->quatern_b = qb;
  nim->quatern_c = qc;
  nim->quatern_d = qd;
  nim->qoffset_x = qx;
  nim->qoffset_y = qy;
  nim->qoffset_z = qz;
  nim->qfac = qfac;
  nim->qto_xyz = nifti_quatern_to_dmat44(qb, qc, qd, qx, qy, qz, dx, dy, dz, qfac);
  nim->qto_ijk = nifti_dmat44_inverse(nim->qto_xyz);
  const Vec3 sp = a.spacing();
  nim->dx = nim->pixdim[1] = sp[0];
  nim->dy = nim->pixdim[2] = sp[1];
  nim->dz = nim->pixdim[3] = sp[2];
  nim->pixdim[0] = qfac;
  nim->xyz_units = NIFTI_UNITS_MM;
  nim->scl_slope = slope;
  nim->scl_inter = inter;
  std::snprintf(nim->descrip, sizeof nim->descrip, "ldae");
  if (nifti_set_filenames(nim, path.c_str(), 0, 1) != 0) {
    nifti_image_free(nim);
    refuse(op, path, "nifticlib refused the file name");
  }
  nim->data = as_uint8 ? static_cast<void*>(bytes.data()) : static_cast<void*>(data.data());
  // As nifti_image_write(), but float32 with gzip level 1 ("wb1"): several times faster
  // than the default level on noisy float images, for files about 10% larger.
  nifti_image_write_hdr_img(nim, 1, as_uint8 ? "wb9" : "wb1");
  nim->data = nullptr;  // owned by `data`
  nifti_image_free(nim);

  // nifti_image_write returns nothing: check the result on disk.
  const auto size = fs::file_size(path, ec);
  if (ec || size == 0) refuse(op, path, "writing failed (disk full or no permission?)");
  const int64_t expected = 352 + (as_uint8 ? 1 : 4) * nx * ny * nz;
  if (!ends_with(path, ".gz") && static_cast<int64_t>(size) != expected)
    refuse(op, path, "writing failed: the file has " + std::to_string(size) + " bytes, expected " +
                         std::to_string(expected));
}

}  // namespace ldae::data
