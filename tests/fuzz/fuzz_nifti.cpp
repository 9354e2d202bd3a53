// libFuzzer target for the NIfTI reader: any byte string, written to a file, must either
// read or be refused with ldae::Error (never crash, hang or allocate without bound).
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <string>

#include "data/nifti.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  // The reader takes a path; gzip or not is decided by the content, not the name.
  static const std::string path = "/tmp/ldae_fuzz_nifti_" + std::to_string(::getpid()) + ".nii";
  FILE* f = std::fopen(path.c_str(), "wb");
  if (!f) return 0;
  std::fwrite(data, 1, size, f);
  std::fclose(f);
  ldae::data::ReadOptions options;
  options.quiet = true;
  options.max_voxels = int64_t(1) << 24;  // keep single inputs within the fuzzer's memory limit
  try {
    const ldae::data::Volume v = ldae::data::read_nifti(path, options);
    (void)v.affine.orientation();
  } catch (const ldae::Error&) {
    // refused cleanly: fine
  }
  return 0;
}
