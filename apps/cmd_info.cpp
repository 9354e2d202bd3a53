// ldae info FILE: what a NIfTI file holds (dimensions, spacing, datatype, orientation,
// affine, intensity range).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <memory>

#include "apps/command.h"
#include "data/nifti.h"

namespace {

const char* space_name(int code) {
  switch (code) {
    case 1: return "scanner";
    case 2: return "aligned";
    case 3: return "Talairach";
    case 4: return "MNI-152";
    case 5: return "template";
    default: return "unknown";
  }
}

void run_info(const std::string& path) {
  using namespace ldae::data;
  ReadOptions o;
  o.quiet = true;
  const Volume v = read_nifti(path, o);
  const auto sp = v.spacing();
  const float* p = v.voxels.data<float>();
  const int64_t n = v.voxels.numel();
  const auto mm = std::minmax_element(p, p + n);
  double sum = 0;
  int64_t nonzero = 0;
  for (int64_t i = 0; i < n; ++i) {
    sum += p[i];
    nonzero += p[i] != 0;
  }
  std::printf("file:         %s\n", path.c_str());
  std::printf("format:       NIfTI-%d, stored as %s\n", v.meta.version, v.meta.datatype.c_str());
  std::printf("dimensions:   %lld x %lld x %lld", static_cast<long long>(v.voxels.size(0)),
              static_cast<long long>(v.voxels.size(1)), static_cast<long long>(v.voxels.size(2)));
  if (v.meta.dim[0] > 3) std::printf("  (dim[0] = %lld, single volume)", static_cast<long long>(v.meta.dim[0]));
  std::printf("\nspacing:      %.4g x %.4g x %.4g mm\n", sp[0], sp[1], sp[2]);
  std::printf("orientation:  %s (affine from the %s, space: %s)\n", v.affine.orientation().c_str(),
              v.meta.affine_source.c_str(), space_name(v.space_code));
  std::printf("affine:\n%s\n", v.affine.str(4).c_str());
  std::printf("scaling:      scl_slope %.6g, scl_inter %.6g\n", v.meta.scl_slope, v.meta.scl_inter);
  std::printf("intensity:    min %.6g, max %.6g, mean %.6g, nonzero %.1f%%\n", *mm.first, *mm.second,
              sum / static_cast<double>(n), 100.0 * static_cast<double>(nonzero) / static_cast<double>(n));
  if (v.meta.nonfinite_replaced > 0)
    std::printf("warning:      %lld NaN or infinite voxels (set to 0 when read)\n",
                static_cast<long long>(v.meta.nonfinite_replaced));
}

void add_info_command(CLI::App& app) {
  auto path = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand("info", "Show a NIfTI file's dimensions, spacing, datatype, orientation, "
                                             "affine and intensity range");
  sub->add_option("FILE", *path, "A .nii or .nii.gz file")->required();
  sub->callback([path] { run_info(*path); });
}

const ldae::app::Registration info_registration("info", 10, add_info_command);

}  // namespace
