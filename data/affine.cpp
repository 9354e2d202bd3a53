#include "data/affine.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <string>

#include "tensor/error.h"

namespace ldae::data {

Affine Affine::scaling(const Vec3& spacing, const Vec3& origin) {
  Affine a;
  for (int r = 0; r < 3; ++r) {
    a.m[r][r] = spacing[r];
    a.m[r][3] = origin[r];
  }
  return a;
}

Vec3 Affine::apply(const Vec3& p) const {
  Vec3 w;
  for (int r = 0; r < 3; ++r) w[r] = m[r][0] * p[0] + m[r][1] * p[1] + m[r][2] * p[2] + m[r][3];
  return w;
}

Vec3 Affine::apply_linear(const Vec3& v) const {
  Vec3 w;
  for (int r = 0; r < 3; ++r) w[r] = m[r][0] * v[0] + m[r][1] * v[1] + m[r][2] * v[2];
  return w;
}

Affine Affine::operator*(const Affine& o) const {
  Affine c;
  for (int r = 0; r < 4; ++r)
    for (int col = 0; col < 4; ++col) {
      double s = 0;
      for (int k = 0; k < 4; ++k) s += m[r][k] * o.m[k][col];
      c.m[r][col] = s;
    }
  return c;
}

double Affine::det3() const {
  return m[0][0] * (m[1][1] * m[2][2] - m[1][2] * m[2][1]) -
         m[0][1] * (m[1][0] * m[2][2] - m[1][2] * m[2][0]) +
         m[0][2] * (m[1][0] * m[2][1] - m[1][1] * m[2][0]);
}

Affine Affine::inverse() const {
  // [A t; 0 1]^-1 = [A^-1  -A^-1 t; 0 1], with A^-1 from the adjugate.
  const double d = det3();
  check(std::isfinite(d) && std::abs(d) > 1e-12, "Affine::inverse",
        "the 3x3 part is singular (determinant " + std::to_string(d) + ")");
  Affine inv;
  inv.m[0][0] = (m[1][1] * m[2][2] - m[1][2] * m[2][1]) / d;
  inv.m[0][1] = (m[0][2] * m[2][1] - m[0][1] * m[2][2]) / d;
  inv.m[0][2] = (m[0][1] * m[1][2] - m[0][2] * m[1][1]) / d;
  inv.m[1][0] = (m[1][2] * m[2][0] - m[1][0] * m[2][2]) / d;
  inv.m[1][1] = (m[0][0] * m[2][2] - m[0][2] * m[2][0]) / d;
  inv.m[1][2] = (m[0][2] * m[1][0] - m[0][0] * m[1][2]) / d;
  inv.m[2][0] = (m[1][0] * m[2][1] - m[1][1] * m[2][0]) / d;
  inv.m[2][1] = (m[0][1] * m[2][0] - m[0][0] * m[2][1]) / d;
  inv.m[2][2] = (m[0][0] * m[1][1] - m[0][1] * m[1][0]) / d;
  for (int r = 0; r < 3; ++r)
    inv.m[r][3] = -(inv.m[r][0] * m[0][3] + inv.m[r][1] * m[1][3] + inv.m[r][2] * m[2][3]);
  return inv;
}

Vec3 Affine::spacing() const {
  Vec3 s;
  for (int c = 0; c < 3; ++c) s[c] = std::sqrt(m[0][c] * m[0][c] + m[1][c] * m[1][c] + m[2][c] * m[2][c]);
  return s;
}

bool Affine::is_valid() const {
  for (const auto& row : m)
    for (double v : row)
      if (!std::isfinite(v)) return false;
  return m[3][0] == 0 && m[3][1] == 0 && m[3][2] == 0 && m[3][3] == 1;
}

AxisCodes axis_codes(const Affine& a) {
  // Score each of the 6 assignments index axis -> world axis by the sum of the
  // normalised components along the assigned world axes; keep the best.
  static const int perms[6][3] = {{0, 1, 2}, {0, 2, 1}, {1, 0, 2}, {1, 2, 0}, {2, 0, 1}, {2, 1, 0}};
  const Vec3 sp = a.spacing();
  AxisCodes best;
  double best_score = -1;
  for (const auto& p : perms) {
    double score = 0;
    for (int n = 0; n < 3; ++n) score += sp[n] > 0 ? std::abs(a.m[p[n]][n]) / sp[n] : 0;
    if (score > best_score + 1e-12) {
      best_score = score;
      for (int n = 0; n < 3; ++n) {
        best.world_axis[n] = p[n];
        best.flipped[n] = a.m[p[n]][n] < 0;
      }
    }
  }
  return best;
}

std::string Affine::orientation() const {
  static const char pos[3] = {'R', 'A', 'S'}, neg[3] = {'L', 'P', 'I'};
  const AxisCodes c = axis_codes(*this);
  std::string s(3, '?');
  for (int n = 0; n < 3; ++n) s[n] = c.flipped[n] ? neg[c.world_axis[n]] : pos[c.world_axis[n]];
  return s;
}

std::string Affine::str(int precision) const {
  std::string out;
  char buf[64];
  for (int r = 0; r < 4; ++r) {
    out += "[";
    for (int c = 0; c < 4; ++c) {
      std::snprintf(buf, sizeof buf, "%*.*f", precision + 6, precision, m[r][c] == 0 ? 0.0 : m[r][c]);
      out += buf;
    }
    out += " ]";
    if (r < 3) out += "\n";
  }
  return out;
}

}  // namespace ldae::data
