// Preprocessing of a volume for the networks: reorient to RAS, resample (trilinear) to an
// isotropic spacing on a RAS grid, centre crop/pad to a shape, scale intensities to
// [0, 1]. Every step returns a new Volume whose affine is updated, so that the result
// overlays its input in world coordinates in any viewer.
//
// Skull stripping, bias-field correction and registration to MNI space are done by
// established tools (e.g. ANTs) before this step, as in the reference pipeline.
#pragma once
#include <cmath>
#include <string>

#include "data/nifti.h"

namespace ldae::data {

// What to do with samples that fall outside the input grid.
enum class Padding {
  Border,  // the nearest edge voxel (the reference pipeline's MONAI "border" mode)
  Zero,    // zeros beyond the grid, blended trilinearly at the edge
};

// Exact reorientation (axis permutation and flips only, no interpolation) so that index
// axes i, j, k point to Right, Anterior, Superior as closely as the affine allows.
// Oblique affines stay oblique (only the nearest axis order is fixed); resample() makes
// them axis-aligned. Ensures: orientation() == "RAS" and world positions unchanged.
Volume reorient_to_ras(const Volume& v);

// Trilinear resampling of `v` onto an arbitrary grid: output voxel o gets the input's
// value at world position out_affine.apply(o). out_shape: (X, Y, Z).
Volume resample_to_grid(const Volume& v, const Affine& out_affine, const Shape& out_shape,
                        Padding padding = Padding::Border);

// Trilinear resampling onto an axis-aligned RAS grid with isotropic `spacing` mm that
// covers the input's voxel centres (any input orientation, oblique included). Along each
// world axis the grid has ceil(extent / spacing) + 1 voxels and is centred on the input.
// Requires spacing > 0.
Volume resample_isotropic(const Volume& v, double spacing, Padding padding = Padding::Border);

// Centre crop and/or pad to `shape` (X, Y, Z), padding with `pad_value` (NaN: the
// volume's minimum, as the reference pipeline does). For each axis with size n and
// target t: crop starts at (n - t) / 2; padding puts (t - n) / 2 voxels before. The
// affine is shifted so that every kept voxel stays at its world position.
Volume crop_or_pad(const Volume& v, const Shape& shape, double pad_value = NAN);

// Intensity scaling to [0, 1]. "minmax": (v - min) / (max - min). "percentile": clip to
// the [low, high] percentiles first, then min-max. A constant volume becomes all zeros.
struct NormalizeOptions {
  std::string mode = "minmax";  // "minmax" or "percentile"
  double low_percentile = 0.5;
  double high_percentile = 99.5;
};
Volume normalize_intensity(const Volume& v, const NormalizeOptions& options = {});

// The value at percentile p in [0, 100] of all voxels (linear interpolation between
// order statistics, like numpy.percentile).
double percentile(const Tensor& voxels, double p);

struct PreprocessOptions {
  double spacing = 0;  // mm; 0: keep the voxel grid (reorientation only)
  Shape shape;         // (X, Y, Z); empty: no crop/pad
  NormalizeOptions normalize;
  bool do_normalize = true;
  Padding padding = Padding::Border;
};

// The whole chain: reorient_to_ras -> resample_isotropic (if spacing > 0) -> crop_or_pad
// (if shape given) -> normalize_intensity (if do_normalize).
Volume preprocess(const Volume& v, const PreprocessOptions& options);

}  // namespace ldae::data
