// Affines: the 4x4 matrices that map voxel indices (i, j, k) to world coordinates
// (x, y, z) in millimetres. NIfTI's world is RAS+: x grows to the subject's Right,
// y to Anterior, z to Superior. A voxel's centre has integer indices; the affine's
// last row is always (0, 0, 0, 1).
//
//   [x]   [a b c tx] [i]
//   [y] = [d e f ty] [j]
//   [z]   [g h m tz] [k]
//   [1]   [0 0 0 1 ] [1]
//
// Column n of the 3x3 part is the world step of one voxel along index axis n, so its
// length is the voxel spacing along that axis.
#pragma once
#include <array>
#include <string>

namespace ldae::data {

using Vec3 = std::array<double, 3>;

struct Affine {
  double m[4][4] = {{1, 0, 0, 0}, {0, 1, 0, 0}, {0, 0, 1, 0}, {0, 0, 0, 1}};

  static Affine identity() { return Affine{}; }
  // diag(sx, sy, sz) with the given translation: an axis-aligned RAS grid.
  static Affine scaling(const Vec3& spacing, const Vec3& origin = {0, 0, 0});

  // World coordinates of the (possibly fractional) voxel index p.
  Vec3 apply(const Vec3& p) const;
  // The 3x3 part applied to a direction (no translation).
  Vec3 apply_linear(const Vec3& v) const;
  // this * other (apply `other` first).
  Affine operator*(const Affine& other) const;
  // The inverse map (world -> voxel). Requires a non-singular 3x3 part (throws Error).
  Affine inverse() const;
  // Determinant of the 3x3 part (negative: the index axes form a left-handed frame).
  double det3() const;
  // Lengths of the three columns of the 3x3 part: the voxel spacing in mm along i, j, k.
  Vec3 spacing() const;
  // All 16 entries finite and the last row (0, 0, 0, 1).
  bool is_valid() const;
  // The 3-letter orientation code: which world direction each index axis points to
  // most, e.g. "RAS" (i to Right, j to Anterior, k to Superior) or "LPS".
  std::string orientation() const;
  // Multi-line readable form, 4 rows.
  std::string str(int precision = 4) const;
};

// The closest axis-aligned reading of an affine: index axis n points mostly along world
// axis world_axis[n] (0 = x, 1 = y, 2 = z), in the + direction unless flipped[n]. The
// three world axes are distinct (the best of the 6 permutations, so oblique affines at
// 45 degrees still get a valid answer).
struct AxisCodes {
  std::array<int, 3> world_axis{{0, 1, 2}};
  std::array<bool, 3> flipped{{false, false, false}};
};
AxisCodes axis_codes(const Affine& a);

}  // namespace ldae::data
