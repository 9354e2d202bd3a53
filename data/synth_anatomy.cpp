#include "data/synth_anatomy.h"

#include <algorithm>
#include <array>
#include <cmath>
#include <deque>

#include "data/nifti.h"
#include "data/preprocess.h"
#include "tensor/error.h"

namespace ldae::data {

namespace {

// 0 below -0.75, 1 above +0.75, linear between: a partial-volume edge about 1.5 mm wide
// when x is a distance in mm.
inline double ramp(double x) { return std::min(1.0, std::max(0.0, 0.5 + x / 1.5)); }

// Ellipsoid with its long axis along unit vector u (semi-axis a) and the two other axes
// of semi-axis b: returns the "radius" rho (1 on the surface).
double ellipsoid_rho(const Vec3& p, const Vec3& c, const Vec3& u, double a, double b) {
  const Vec3 d = {p[0] - c[0], p[1] - c[1], p[2] - c[2]};
  const double along = d[0] * u[0] + d[1] * u[1] + d[2] * u[2];
  const double all = d[0] * d[0] + d[1] * d[1] + d[2] * d[2];
  return std::sqrt(along * along / (a * a) + std::max(0.0, all - along * along) / (b * b));
}

// Axis-aligned ellipsoid radius.
double rho3(const Vec3& p, const Vec3& c, const Vec3& r) {
  double s = 0;
  for (int a = 0; a < 3; ++a) s += (p[a] - c[a]) * (p[a] - c[a]) / (r[a] * r[a]);
  return std::sqrt(s);
}

// A soft inside-ness of an ellipsoid given rho and a typical radius in mm.
double inside(double rho, double radius_mm) { return ramp((1.0 - rho) * radius_mm); }

// MNI positions shared by the phantom and the template: hippocampi (head to tail along
// a tilted axis) and the regions the labels are defined on.
const Vec3 kHippoCentre[2] = {{-24.5, -24, -10}, {24.5, -24, -10}};
Vec3 hippo_axis(int side) {
  const double x = side == 0 ? 5 : -5, y = -32, z = 20, n = std::sqrt(x * x + y * y + z * z);
  return {x / n, y / n, z / n};
}
constexpr double kHippoHalfLength = 19, kHippoHalfWidth = 5.5;

// Hippocampus label: the ellipsoid slightly enlarged, so that partial-volume voxels count.
double hippocampus_label(const Vec3& p) {
  double best = 0;
  for (int s = 0; s < 2; ++s)
    best = std::max(best, inside(ellipsoid_rho(p, kHippoCentre[s], hippo_axis(s), kHippoHalfLength + 1.5,
                                               kHippoHalfWidth + 1.5),
                                 kHippoHalfWidth + 1.5));
  return best;
}

// Separable box blur (radius r voxels) of one channel, in place, along each axis.
void box_blur(std::vector<float>& f, int64_t nx, int64_t ny, int64_t nz, int r) {
  std::vector<float> tmp(f.size());
  const int64_t n[3] = {nx, ny, nz};
  const int64_t stride[3] = {ny * nz, nz, 1};
  for (int axis = 0; axis < 3; ++axis) {
    const int64_t len = n[axis], st = stride[axis];
    const int64_t lines = nx * ny * nz / len;
#pragma omp parallel for schedule(static)
    for (int64_t line = 0; line < lines; ++line) {
      // The start of line number `line` along `axis`.
      int64_t base;
      if (axis == 0) base = line;  // (j, k) flattened
      else if (axis == 1) base = (line / nz) * ny * nz + line % nz;
      else base = line * nz;
      for (int64_t i = 0; i < len; ++i) {
        double s = 0;
        int cnt = 0;
        for (int64_t d = std::max<int64_t>(0, i - r); d <= std::min(len - 1, i + r); ++d, ++cnt) s += f[static_cast<size_t>(base + d * st)];
        tmp[static_cast<size_t>(base + i * st)] = static_cast<float>(s / cnt);
      }
    }
    f.swap(tmp);
  }
}

// Fills the sulcal channel: where grey matter lies near (non-ventricular) CSF.
void fill_sulcal(Anatomy& a) {
  const size_t n = static_cast<size_t>(a.nx * a.ny * a.nz);
  std::vector<float> c(n);
  for (size_t v = 0; v < n; ++v) c[v] = a.maps[v * kChannels + kCSF] * (1.0f - a.maps[v * kChannels + kVentricle]);
  const Vec3 sp = a.affine.spacing();
  const int r = std::max(1, static_cast<int>(std::lround(2.0 / sp[0])));
  box_blur(c, a.nx, a.ny, a.nz, r);
  box_blur(c, a.nx, a.ny, a.nz, r);
  for (size_t v = 0; v < n; ++v) a.maps[v * kChannels + kSulcal] = std::min(1.0f, 2.0f * c[v]);
}

}  // namespace

void Anatomy::sample(const Vec3& w, const Affine& world_to_voxel, float out[kChannels]) const {
  const Vec3 p = world_to_voxel.apply(w);
  for (int c = 0; c < kChannels; ++c) out[c] = 0;
  if (!(p[0] > -1 && p[1] > -1 && p[2] > -1 && p[0] < nx && p[1] < ny && p[2] < nz)) return;
  const int64_t i0 = static_cast<int64_t>(std::floor(p[0])), j0 = static_cast<int64_t>(std::floor(p[1])),
                k0 = static_cast<int64_t>(std::floor(p[2]));
  const float fx = static_cast<float>(p[0] - i0), fy = static_cast<float>(p[1] - j0),
              fz = static_cast<float>(p[2] - k0);
  for (int corner = 0; corner < 8; ++corner) {
    const int64_t i = i0 + (corner & 1), j = j0 + ((corner >> 1) & 1), k = k0 + ((corner >> 2) & 1);
    if (i < 0 || j < 0 || k < 0 || i >= nx || j >= ny || k >= nz) continue;
    const float wgt = ((corner & 1) ? fx : 1 - fx) * (((corner >> 1) & 1) ? fy : 1 - fy) *
                      (((corner >> 2) & 1) ? fz : 1 - fz);
    const float* v = voxel(i, j, k);
    for (int c = 0; c < kChannels; ++c) out[c] += wgt * v[c];
  }
}

Anatomy phantom_anatomy(double spacing) {
  check(spacing > 0.4 && spacing < 5, "phantom_anatomy", "spacing must be in (0.4, 5) mm");
  Anatomy a;
  a.source = "phantom";
  const Vec3 lo = {-78, -114, -66}, hi = {78, 78, 90};
  a.nx = static_cast<int64_t>(std::ceil((hi[0] - lo[0]) / spacing)) + 1;
  a.ny = static_cast<int64_t>(std::ceil((hi[1] - lo[1]) / spacing)) + 1;
  a.nz = static_cast<int64_t>(std::ceil((hi[2] - lo[2]) / spacing)) + 1;
  a.affine = Affine::scaling({spacing, spacing, spacing}, lo);
  a.maps.assign(static_cast<size_t>(a.nx * a.ny * a.nz * kChannels), 0.0f);

  const Vec3 brain_c = {0, -18, 12}, brain_r = {68, 88, 66};
  // Cortical folding: the zero set of a sum of plane waves forms curved sheets (sulci).
  const double k = 2 * M_PI / 30.0;
  const Vec3 dirs[5] = {{0.8, 0.6, 0}, {-0.3, 0.5, 0.81}, {0.6, -0.2, 0.77}, {0.1, 0.95, -0.3}, {-0.7, 0.1, 0.7}};
  const double phase[5] = {0.3, 1.7, 2.9, 4.1, 5.3};
  const double grad = k * std::sqrt(5.0 / 2.0);  // typical |grad f|: turns |f| into mm
  const Vec3 vent_c[2] = {{-9, -12, 16}, {9, -12, 16}}, vent_r = {6, 26, 10};
  const Vec3 thal_c[2] = {{-11, -18, 5}, {11, -18, 5}}, thal_r = {8, 12, 8};
  const Vec3 caud_c[2] = {{-15, 10, 12}, {15, 10, 12}}, caud_r = {4.5, 11, 7};
  a.brain_centre = brain_c;
  for (int s = 0; s < 2; ++s) {
    a.ventricle_centre[s] = vent_c[s];
    a.hippocampus_centre[s] = kHippoCentre[s];
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < a.nx; ++i)
    for (int64_t j = 0; j < a.ny; ++j)
      for (int64_t kk = 0; kk < a.nz; ++kk) {
        const Vec3 p = a.affine.apply({double(i), double(j), double(kk)});
        const double depth = (1.0 - rho3(p, brain_c, brain_r)) * 66.0;  // mm below the surface (approx)
        const double in_brain = ramp(depth);
        float* v = a.voxel(i, j, kk);
        if (in_brain <= 0) continue;
        double f = 0;
        for (int w = 0; w < 5; ++w) f += std::sin(k * (dirs[w][0] * p[0] + dirs[w][1] * p[1] + dirs[w][2] * p[2]) + phase[w]);
        const double d_sulcus = std::abs(f) / grad;  // mm from the middle of the nearest sulcus
        double vent = 0, deep = 0, hippo = 0;
        for (int s = 0; s < 2; ++s) {
          vent = std::max(vent, inside(rho3(p, vent_c[s], vent_r), 6));
          deep = std::max(deep, inside(rho3(p, thal_c[s], thal_r), 8));
          deep = std::max(deep, inside(rho3(p, caud_c[s], caud_r), 4.5));
          hippo = std::max(hippo, inside(ellipsoid_rho(p, kHippoCentre[s], hippo_axis(s), kHippoHalfLength,
                                                       kHippoHalfWidth),
                                         kHippoHalfWidth));
        }
        const double csf_outer = 1 - ramp(depth - 1.5);
        const double csf_sulcus = (1 - ramp(d_sulcus - 1.0)) * (1 - ramp(depth - 16));
        const double csf_fissure = (1 - ramp(std::abs(p[0]) - 1.2)) * (1 - ramp(depth - 28));
        const double csf = std::max({csf_outer, csf_sulcus, csf_fissure, vent});
        const double gm_cortex = std::max(1 - ramp(depth - 6.5), (1 - ramp(d_sulcus - 4.5)) * (1 - ramp(depth - 20)));
        const double gm = std::max({gm_cortex, deep, hippo}) * (1 - csf);
        const double wm = std::max(0.0, 1 - csf - gm);
        v[kGM] = static_cast<float>(gm * in_brain);
        v[kWM] = static_cast<float>(wm * in_brain);
        v[kCSF] = static_cast<float>(csf * in_brain);
        v[kVentricle] = static_cast<float>(std::max(vent, 0.0));
        v[kHippocampus] = static_cast<float>(hippocampus_label(p));
      }
  fill_sulcal(a);
  return a;
}

Anatomy template_anatomy(const std::string& t1_path, const std::string& gm_path, const std::string& wm_path) {
  const std::string op = "template_anatomy";
  ReadOptions quiet;
  quiet.quiet = true;
  const Volume t1 = reorient_to_ras(read_nifti(t1_path, quiet));
  const Volume gm = reorient_to_ras(read_nifti(gm_path, quiet));
  const Volume wm = reorient_to_ras(read_nifti(wm_path, quiet));
  for (const Volume* v : {&gm, &wm}) {
    bool same = v->voxels.shape() == t1.voxels.shape();
    for (int r = 0; r < 3 && same; ++r)
      for (int c = 0; c < 4; ++c) same = same && std::abs(v->affine.m[r][c] - t1.affine.m[r][c]) < 1e-3;
    check(same, op, "the grey/white matter maps must share the T1's grid (" + t1_path + ": " +
                        shape_str(t1.voxels.shape()) + ")");
  }
  Anatomy a;
  a.source = t1_path;
  a.affine = t1.affine;
  a.nx = t1.voxels.size(0);
  a.ny = t1.voxels.size(1);
  a.nz = t1.voxels.size(2);
  const size_t n = static_cast<size_t>(a.nx * a.ny * a.nz);
  a.maps.assign(n * kChannels, 0.0f);
  auto scale_of = [](const Volume& v) {
    const float* p = v.voxels.data<float>();
    const float mx = *std::max_element(p, p + v.voxels.numel());
    return mx > 1.001f ? 1.0f / std::max(255.0f, mx) : 1.0f;
  };
  const float sg = scale_of(gm), sw = scale_of(wm);
  const float* pt = t1.voxels.data<float>();
  const float* pg = gm.voxels.data<float>();
  const float* pw = wm.voxels.data<float>();
  double cx = 0, cy = 0, cz = 0, cnt = 0;
  for (int64_t i = 0; i < a.nx; ++i)
    for (int64_t j = 0; j < a.ny; ++j)
      for (int64_t k = 0; k < a.nz; ++k) {
        const size_t v = static_cast<size_t>((i * a.ny + j) * a.nz + k);
        const float mask = pt[v] > 0 ? 1.0f : 0.0f;
        const float g = std::min(1.0f, pg[v] * sg) * mask, w = std::min(1.0f, pw[v] * sw) * mask;
        float* o = &a.maps[v * kChannels];
        o[kGM] = g;
        o[kWM] = w;
        o[kCSF] = std::max(0.0f, mask - g - w);
        if (mask > 0) {
          cx += static_cast<double>(i);
          cy += static_cast<double>(j);
          cz += static_cast<double>(k);
          cnt += 1;
        }
      }
  check(cnt > 0, op, t1_path + ": the T1 has no voxel above 0 (expected a brain-extracted image)");
  a.brain_centre = a.affine.apply({cx / cnt, cy / cnt, cz / cnt});

  // Ventricles: flood fill of CSF-dominated voxels from the two MNI seed points, inside a
  // central box that keeps the fill out of the sulci.
  const Affine to_vox = a.affine.inverse();
  std::vector<uint8_t> label(n, 0);
  auto in_box = [&](int64_t i, int64_t j, int64_t k) {
    const Vec3 w = a.affine.apply({double(i), double(j), double(k)});
    return std::abs(w[0]) < 28 && w[1] > -46 && w[1] < 30 && w[2] > -6 && w[2] < 34;
  };
  auto csf_at = [&](int64_t i, int64_t j, int64_t k) { return a.maps[static_cast<size_t>((i * a.ny + j) * a.nz + k) * kChannels + kCSF]; };
  for (int side = 0; side < 2; ++side) {
    // Seed: the most CSF-like voxel within 6 mm of the usual position.
    const Vec3 guess = {side == 0 ? -7.0 : 7.0, -10, 20};
    const Vec3 g = to_vox.apply(guess);
    int64_t best[3] = {-1, -1, -1};
    float best_csf = 0.5f;
    for (int64_t i = std::lround(g[0]) - 6; i <= std::lround(g[0]) + 6; ++i)
      for (int64_t j = std::lround(g[1]) - 6; j <= std::lround(g[1]) + 6; ++j)
        for (int64_t k = std::lround(g[2]) - 6; k <= std::lround(g[2]) + 6; ++k)
          if (i >= 0 && j >= 0 && k >= 0 && i < a.nx && j < a.ny && k < a.nz && csf_at(i, j, k) > best_csf) {
            best_csf = csf_at(i, j, k);
            best[0] = i, best[1] = j, best[2] = k;
          }
    check(best[0] >= 0, op, "no ventricle found near MNI (" + std::to_string(guess[0]) +
                                ", -10, 20): is the template in MNI space?");
    std::deque<std::array<int64_t, 3>> queue{{best[0], best[1], best[2]}};
    label[static_cast<size_t>((best[0] * a.ny + best[1]) * a.nz + best[2])] = 1;
    while (!queue.empty()) {
      const auto c = queue.front();
      queue.pop_front();
      static const int nb[6][3] = {{1, 0, 0}, {-1, 0, 0}, {0, 1, 0}, {0, -1, 0}, {0, 0, 1}, {0, 0, -1}};
      for (const auto& d : nb) {
        const int64_t i = c[0] + d[0], j = c[1] + d[1], k = c[2] + d[2];
        if (i < 0 || j < 0 || k < 0 || i >= a.nx || j >= a.ny || k >= a.nz) continue;
        const size_t v = static_cast<size_t>((i * a.ny + j) * a.nz + k);
        if (label[v] || csf_at(i, j, k) <= 0.5f || !in_box(i, j, k)) continue;
        label[v] = 1;
        queue.push_back({i, j, k});
      }
    }
  }
  // One voxel of dilation takes in the partial-volume rim; centroids per hemisphere.
  double sum[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};
  for (int64_t i = 1; i + 1 < a.nx; ++i)
    for (int64_t j = 1; j + 1 < a.ny; ++j)
      for (int64_t k = 1; k + 1 < a.nz; ++k) {
        const size_t v = static_cast<size_t>((i * a.ny + j) * a.nz + k);
        const bool near = label[v] || label[v + 1] || label[v - 1] || label[v + a.nz] || label[v - a.nz] ||
                          label[v + a.ny * a.nz] || label[v - a.ny * a.nz];
        if (!near) continue;
        a.maps[v * kChannels + kVentricle] = 1.0f;
        if (label[v]) {
          const Vec3 w = a.affine.apply({double(i), double(j), double(k)});
          const int side = w[0] < 0 ? 0 : 1;
          for (int c = 0; c < 3; ++c) sum[side][c] += w[c];
          sum[side][3] += 1;
        }
      }
  for (int side = 0; side < 2; ++side) {
    check(sum[side][3] > 0, op, "empty ventricle on one side: is the template in MNI space?");
    for (int c = 0; c < 3; ++c) a.ventricle_centre[side][c] = sum[side][c] / sum[side][3];
    a.hippocampus_centre[side] = kHippoCentre[side];
  }
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < a.nx; ++i)
    for (int64_t j = 0; j < a.ny; ++j)
      for (int64_t k = 0; k < a.nz; ++k)
        a.voxel(i, j, k)[kHippocampus] =
            static_cast<float>(hippocampus_label(a.affine.apply({double(i), double(j), double(k)})));
  fill_sulcal(a);
  return a;
}

}  // namespace ldae::data
