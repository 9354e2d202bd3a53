#include "ldae/run/checkpoint_values.h"

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <vector>

#include "tensor/error.h"

namespace ldae::run {

std::string file_fingerprint(const std::string& path, const std::string& op) {
  std::ifstream in(path, std::ios::binary);
  check(static_cast<bool>(in), op, "cannot read " + path);
  uint64_t h = 1469598103934665603ull;  // FNV-1a 64 offset basis
  std::vector<char> buf(1 << 20);
  while (in.read(buf.data(), static_cast<std::streamsize>(buf.size())) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) {
      h ^= static_cast<unsigned char>(buf[static_cast<size_t>(i)]);
      h *= 1099511628211ull;  // FNV-1a 64 prime
    }
  }
  char out[17];
  std::snprintf(out, sizeof out, "%016llx", static_cast<unsigned long long>(h));
  return out;
}

std::string exact(double v) {
  char b[64];
  std::snprintf(b, sizeof b, "%a", v);
  return b;
}

namespace {
const std::string& entry(const std::map<std::string, std::string>& meta, const std::string& key,
                         const std::string& op) {
  auto it = meta.find(key);
  check(it != meta.end(), op, "the checkpoint lacks metadata \"" + key + "\"");
  return it->second;
}
}  // namespace

double parse_exact(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& op) {
  return std::strtod(entry(meta, key, op).c_str(), nullptr);
}

int64_t parse_count(const std::map<std::string, std::string>& meta, const std::string& key, const std::string& op) {
  return std::stoll(entry(meta, key, op));
}

}  // namespace ldae::run
