#include "data/preprocess.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "data/sample.h"
#include "tensor/error.h"

namespace ldae::data {

Volume reorient_to_ras(const Volume& v) {
  check(v.voxels.defined() && v.voxels.dim() == 3, "reorient_to_ras", "the volume has no (X, Y, Z) voxels");
  const AxisCodes c = axis_codes(v.affine);
  const Shape in = v.voxels.shape();
  // Output axis w holds input axis src[w].
  int src[3];
  for (int n = 0; n < 3; ++n) src[c.world_axis[n]] = n;
  const Shape out_shape = {in[src[0]], in[src[1]], in[src[2]]};

  // in_index = M * out_index: M[n][w] = +-1 where w = world_axis[n]; flipped axes count
  // down from the end, so their translation is size - 1.
  Affine m;
  for (int r = 0; r < 3; ++r)
    for (int col = 0; col < 4; ++col) m.m[r][col] = 0;
  for (int n = 0; n < 3; ++n) {
    m.m[n][c.world_axis[n]] = c.flipped[n] ? -1.0 : 1.0;
    m.m[n][3] = c.flipped[n] ? static_cast<double>(in[n] - 1) : 0.0;
  }

  Tensor out = Tensor::empty(out_shape, DType::F32);
  const Tensor src_t = v.voxels.contiguous();
  const float* ip = src_t.data<float>();
  float* op = out.mutable_data<float>();
  const int64_t istride[3] = {in[1] * in[2], in[2], 1};
  // Input stride and start offset for each output axis.
  int64_t step[3], start = 0;
  for (int w = 0; w < 3; ++w) {
    const int n = src[w];
    step[w] = c.flipped[n] ? -istride[n] : istride[n];
    if (c.flipped[n]) start += (in[n] - 1) * istride[n];
  }
  const int64_t X = out_shape[0], Y = out_shape[1], Z = out_shape[2];
#pragma omp parallel for schedule(static)
  for (int64_t x = 0; x < X; ++x)
    for (int64_t y = 0; y < Y; ++y) {
      const int64_t base = start + x * step[0] + y * step[1];
      float* row = op + (x * Y + y) * Z;
      for (int64_t z = 0; z < Z; ++z) row[z] = ip[base + z * step[2]];
    }
  Volume r = v;
  r.voxels = out;
  r.affine = v.affine * m;
  return r;
}

Volume resample_to_grid(const Volume& v, const Affine& out_affine, const Shape& out_shape, Padding padding) {
  const std::string op = "resample_to_grid";
  check(out_shape.size() == 3 && out_shape[0] > 0 && out_shape[1] > 0 && out_shape[2] > 0, op,
        "output shape must be 3 positive sizes, got " + shape_str(out_shape));
  // Output voxel -> input voxel: in = A_in^-1 * A_out * out. Being affine, it is linear
  // in the output index, so we step along z by a constant increment.
  const Affine to_in = v.affine.inverse() * out_affine;
  const Tensor src = v.voxels.contiguous();
  const VoxelGrid grid{src.data<float>(), src.size(0), src.size(1), src.size(2)};
  Tensor out = Tensor::empty(out_shape, DType::F32);
  float* op_ = out.mutable_data<float>();
  const int64_t X = out_shape[0], Y = out_shape[1], Z = out_shape[2];
  const Vec3 dz = to_in.apply_linear({0, 0, 1});
  const bool border = padding == Padding::Border;
#pragma omp parallel for schedule(static)
  for (int64_t x = 0; x < X; ++x)
    for (int64_t y = 0; y < Y; ++y) {
      Vec3 p = to_in.apply({static_cast<double>(x), static_cast<double>(y), 0.0});
      float* row = op_ + (x * Y + y) * Z;
      for (int64_t z = 0; z < Z; ++z) {
        row[z] = border ? grid.sample_border(p[0], p[1], p[2]) : grid.sample_zero(p[0], p[1], p[2]);
        p[0] += dz[0];
        p[1] += dz[1];
        p[2] += dz[2];
      }
    }
  Volume r = v;
  r.voxels = out;
  r.affine = out_affine;
  return r;
}

Volume resample_isotropic(const Volume& v, double spacing, Padding padding) {
  check(std::isfinite(spacing) && spacing > 0, "resample_isotropic",
        "spacing must be positive, got " + std::to_string(spacing));
  const Shape in = v.voxels.shape();
  // World bounding box of the 8 corner voxel centres.
  Vec3 lo = {1e300, 1e300, 1e300}, hi = {-1e300, -1e300, -1e300};
  for (int corner = 0; corner < 8; ++corner) {
    const Vec3 idx = {(corner & 1) ? double(in[0] - 1) : 0.0, (corner & 2) ? double(in[1] - 1) : 0.0,
                      (corner & 4) ? double(in[2] - 1) : 0.0};
    const Vec3 w = v.affine.apply(idx);
    for (int a = 0; a < 3; ++a) {
      lo[a] = std::min(lo[a], w[a]);
      hi[a] = std::max(hi[a], w[a]);
    }
  }
  Shape out_shape(3);
  Vec3 origin;
  for (int a = 0; a < 3; ++a) {
    const double extent = hi[a] - lo[a];
    out_shape[a] = static_cast<int64_t>(std::ceil(extent / spacing - 1e-6)) + 1;
    // Centre the output grid on the input's box.
    origin[a] = 0.5 * (lo[a] + hi[a]) - 0.5 * spacing * static_cast<double>(out_shape[a] - 1);
  }
  return resample_to_grid(v, Affine::scaling({spacing, spacing, spacing}, origin), out_shape, padding);
}

Volume crop_or_pad(const Volume& v, const Shape& shape, double pad_value) {
  const std::string op = "crop_or_pad";
  check(shape.size() == 3 && shape[0] > 0 && shape[1] > 0 && shape[2] > 0, op,
        "target shape must be 3 positive sizes, got " + shape_str(shape));
  const Tensor src = v.voxels.contiguous();
  const Shape in = src.shape();
  if (std::isnan(pad_value)) {
    const float* p = src.data<float>();
    pad_value = src.numel() > 0 ? *std::min_element(p, p + src.numel()) : 0.0;
  }
  // Output index o maps to input index o + shift (shift > 0: crop, < 0: pad).
  int64_t shift[3];
  for (int a = 0; a < 3; ++a)
    shift[a] = in[a] >= shape[a] ? (in[a] - shape[a]) / 2 : -((shape[a] - in[a]) / 2);
  Tensor out = Tensor::full(shape, pad_value, DType::F32);
  const float* ip = src.data<float>();
  float* o = out.mutable_data<float>();
#pragma omp parallel for schedule(static)
  for (int64_t x = 0; x < shape[0]; ++x) {
    const int64_t ix = x + shift[0];
    if (ix < 0 || ix >= in[0]) continue;
    for (int64_t y = 0; y < shape[1]; ++y) {
      const int64_t iy = y + shift[1];
      if (iy < 0 || iy >= in[1]) continue;
      for (int64_t z = 0; z < shape[2]; ++z) {
        const int64_t iz = z + shift[2];
        if (iz >= 0 && iz < in[2]) o[(x * shape[1] + y) * shape[2] + z] = ip[(ix * in[1] + iy) * in[2] + iz];
      }
    }
  }
  Volume r = v;
  r.voxels = out;
  // world(o) = A * (o + shift): the new translation is A applied to the shift.
  const Vec3 t = v.affine.apply({double(shift[0]), double(shift[1]), double(shift[2])});
  for (int a = 0; a < 3; ++a) r.affine.m[a][3] = t[a];
  return r;
}

double percentile(const Tensor& voxels, double p) {
  check(voxels.numel() > 0, "percentile", "empty tensor");
  check(p >= 0 && p <= 100, "percentile", "p must be in [0, 100], got " + std::to_string(p));
  const Tensor c = voxels.to(DType::F32).contiguous();
  std::vector<float> values(c.data<float>(), c.data<float>() + c.numel());
  const double pos = p / 100.0 * static_cast<double>(values.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(lo), values.end());
  const double a = values[lo];
  if (lo + 1 >= values.size()) return a;
  const double b = *std::min_element(values.begin() + static_cast<std::ptrdiff_t>(lo) + 1, values.end());
  return a + (pos - static_cast<double>(lo)) * (b - a);
}

Volume normalize_intensity(const Volume& v, const NormalizeOptions& options) {
  const std::string op = "normalize_intensity";
  check(options.mode == "minmax" || options.mode == "percentile", op,
        "unknown mode '" + options.mode + "' (expected minmax or percentile)");
  const Tensor src = v.voxels.contiguous();
  const float* p = src.data<float>();
  const int64_t n = src.numel();
  check(n > 0, op, "empty volume");
  double lo, hi;
  if (options.mode == "percentile") {
    check(options.low_percentile >= 0 && options.low_percentile < options.high_percentile &&
              options.high_percentile <= 100,
          op, "percentiles must satisfy 0 <= low < high <= 100");
    lo = percentile(src, options.low_percentile);
    hi = percentile(src, options.high_percentile);
  } else {
    const auto mm = std::minmax_element(p, p + n);
    lo = *mm.first;
    hi = *mm.second;
  }
  Tensor out = Tensor::empty(src.shape(), DType::F32);
  float* o = out.mutable_data<float>();
  const double scale = hi > lo ? 1.0 / (hi - lo) : 0.0;
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < n; ++i) {
    const double c = std::min(std::max(static_cast<double>(p[i]), lo), hi);
    o[i] = static_cast<float>((c - lo) * scale);
  }
  Volume r = v;
  r.voxels = out;
  return r;
}

Volume preprocess(const Volume& v, const PreprocessOptions& options) {
  Volume r = reorient_to_ras(v);
  if (options.spacing > 0) r = resample_isotropic(r, options.spacing, options.padding);
  if (!options.shape.empty()) r = crop_or_pad(r, options.shape);
  if (options.do_normalize) r = normalize_intensity(r, options.normalize);
  return r;
}

}  // namespace ldae::data
