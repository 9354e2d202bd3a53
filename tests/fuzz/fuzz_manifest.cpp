// libFuzzer target for the manifest CSV reader and the subject split: any text must parse
// or be refused with ldae::Error.
#include <cstdint>
#include <string>

#include "data/manifest.h"
#include "tensor/error.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string text(reinterpret_cast<const char*>(data), size);
  ldae::data::ManifestOptions options;
  options.check_files = false;
  try {
    const ldae::data::Manifest m = ldae::data::parse_manifest(text, "fuzz.csv", "/data", options);
    if (!m.rows.empty()) ldae::data::split_by_subject(m, 0.2, 0.1, size);
  } catch (const ldae::Error&) {
  }
  return 0;
}
