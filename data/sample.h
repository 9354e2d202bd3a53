// Trilinear sampling of a contiguous (X, Y, Z) float grid at fractional voxel indices.
// Shared by the resampler and the synthetic cohort generator; inline because it sits in
// their innermost loops.
#pragma once
#include <algorithm>
#include <cmath>
#include <cstdint>

namespace ldae::data {

struct VoxelGrid {
  const float* p;  // (nx, ny, nz) row-major: z fastest
  int64_t nx, ny, nz;

  float at(int64_t i, int64_t j, int64_t k) const { return p[(i * ny + j) * nz + k]; }

  // Index coordinates clamped to the grid: the nearest edge value outside.
  float sample_border(double x, double y, double z) const {
    x = std::min(std::max(x, 0.0), double(nx - 1));
    y = std::min(std::max(y, 0.0), double(ny - 1));
    z = std::min(std::max(z, 0.0), double(nz - 1));
    return interpolate(x, y, z);
  }

  // Zero beyond the grid: neighbours outside count as 0 (so the value fades to 0 within
  // one voxel of the edge, like grid_sample's "zeros" padding).
  float sample_zero(double x, double y, double z) const {
    if (x <= -1 || y <= -1 || z <= -1 || x >= nx || y >= ny || z >= nz) return 0.0f;
    if (x >= 0 && y >= 0 && z >= 0 && x <= nx - 1 && y <= ny - 1 && z <= nz - 1) return interpolate(x, y, z);
    const int64_t i0 = static_cast<int64_t>(std::floor(x)), j0 = static_cast<int64_t>(std::floor(y)),
                  k0 = static_cast<int64_t>(std::floor(z));
    const double fx = x - i0, fy = y - j0, fz = z - k0;
    double s = 0;
    for (int c = 0; c < 8; ++c) {
      const int64_t i = i0 + (c & 1), j = j0 + ((c >> 1) & 1), k = k0 + ((c >> 2) & 1);
      if (i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz) continue;
      const double w = ((c & 1) ? fx : 1 - fx) * (((c >> 1) & 1) ? fy : 1 - fy) * (((c >> 2) & 1) ? fz : 1 - fz);
      s += w * at(i, j, k);
    }
    return static_cast<float>(s);
  }

  // Requires 0 <= x <= nx - 1 (and likewise y, z).
  float interpolate(double x, double y, double z) const {
    int64_t i0 = static_cast<int64_t>(x), j0 = static_cast<int64_t>(y), k0 = static_cast<int64_t>(z);
    // At the upper edge use the last cell with weight 1 on its far corner.
    i0 = std::min(i0, nx - 2 < 0 ? 0 : nx - 2);
    j0 = std::min(j0, ny - 2 < 0 ? 0 : ny - 2);
    k0 = std::min(k0, nz - 2 < 0 ? 0 : nz - 2);
    const double fx = x - i0, fy = y - j0, fz = z - k0;
    const int64_t i1 = std::min(i0 + 1, nx - 1), j1 = std::min(j0 + 1, ny - 1), k1 = std::min(k0 + 1, nz - 1);
    const double c00 = at(i0, j0, k0) * (1 - fz) + at(i0, j0, k1) * fz;
    const double c01 = at(i0, j1, k0) * (1 - fz) + at(i0, j1, k1) * fz;
    const double c10 = at(i1, j0, k0) * (1 - fz) + at(i1, j0, k1) * fz;
    const double c11 = at(i1, j1, k0) * (1 - fz) + at(i1, j1, k1) * fz;
    const double c0 = c00 * (1 - fy) + c01 * fy, c1 = c10 * (1 - fy) + c11 * fy;
    return static_cast<float>(c0 * (1 - fx) + c1 * fx);
  }
};

}  // namespace ldae::data
