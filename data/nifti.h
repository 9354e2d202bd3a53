// NIfTI-1 / NIfTI-2 reading and writing (.nii and .nii.gz) through nifticlib, and the
// Volume type the whole data layer works with.
//
// Voxel layout. A Volume's voxels are a contiguous f32 tensor of shape (X, Y, Z) =
// (dim[1], dim[2], dim[3]) of the file: voxels.at({i, j, k}) is the file's voxel
// (i, j, k), whose centre lies at world position affine.apply({i, j, k}). (The file
// itself stores i fastest; the reader transposes.) This is the [X, Y, Z] order the
// reference pipeline uses, so a 128x160x128 volume is X=128, Y=160, Z=128, and the
// networks see it as (N, 1, D, H, W) with D = X, H = Y, W = Z.
#pragma once
#include <cstdint>
#include <string>

#include "data/affine.h"
#include "tensor/tensor.h"

namespace ldae::data {

// What the file said, beside the voxels (for `ldae info` and for messages).
struct NiftiMeta {
  int version = 1;                  // 1 or 2
  std::string datatype = "float32"; // stored type: uint8, int16, float32, ...
  int64_t dim[8] = {3, 1, 1, 1, 1, 1, 1, 1};
  double scl_slope = 1.0, scl_inter = 0.0;  // as applied (slope 1, inter 0 if absent)
  std::string affine_source = "sform";      // "sform", "qform" or "pixdim"
  int64_t nonfinite_replaced = 0;           // NaN/inf voxels set to 0 (see ReadOptions)
};

struct Volume {
  Tensor voxels;    // (X, Y, Z) f32, contiguous, file voxel order
  Affine affine;    // voxel index -> world mm (RAS+)
  // NIfTI code of the world space written into sform_code and qform_code:
  // 1 scanner, 2 aligned, 3 Talairach, 4 MNI-152.
  int space_code = 1;
  NiftiMeta meta;

  // Voxel spacing in mm along i, j, k (the column lengths of the affine).
  Vec3 spacing() const { return affine.spacing(); }
  Shape shape() const { return voxels.shape(); }
};

struct ReadOptions {
  // NaN and infinite voxels: by default they are replaced with 0 and a one-line warning
  // goes to stderr (unless quiet); with refuse_nonfinite the file is refused instead.
  bool refuse_nonfinite = false;
  bool quiet = false;
  // Refuse volumes with more voxels than this (a guard against absurd headers).
  int64_t max_voxels = int64_t(1) << 30;
};

// Reads a single 3D volume (a 4D+ file is accepted when every axis past the third has
// size 1). Applies scl_slope/scl_inter (slope 0 or non-finite means "no scaling").
// The affine is the sform when sform_code > 0, else the qform when qform_code > 0, else
// diag(pixdim[1..3]) (the old ANALYZE convention).
// Throws ldae::Error with a one-line message "read_nifti: <path>: <problem>" for every
// malformed input: missing file, directory, empty or truncated file or gzip stream, bad
// magic, bad dim[0], more than one volume, dimensions inconsistent with the file size,
// unknown or unsupported datatype, non-positive or non-finite spacing, singular affine.
Volume read_nifti(const std::string& path, const ReadOptions& options = {});

// Reads only the header (no voxel data): meta, affine, shape. The returned Volume's
// voxels tensor is undefined. Same checks on the header as read_nifti.
Volume read_nifti_header(const std::string& path);

struct WriteOptions {
  // "float32": exact. "uint8": 256 levels from the volume's minimum to its maximum, kept
  // as scl_slope/scl_inter (readers get the values back to within (max - min) / 510);
  // exact for volumes of whole numbers in 0..255 (e.g. uint8 templates, resampled with
  // rounding). uint8 files are gzipped at level 9 (smallest; for files to ship), float32
  // at level 1 (fast). uint8 refuses volumes with NaN or infinite voxels.
  std::string datatype = "float32";
};

// Writes `volume` as NIfTI-1 (float32 unless options say uint8); ".nii.gz" (gzip) or
// ".nii" by the path's ending. The affine goes into the sform (exact) and the qform (its
// closest rigid + scaling form), both with code volume.space_code. Throws Error on failure
// (e.g. missing folder, unknown datatype).
void write_nifti(const std::string& path, const Volume& volume, const WriteOptions& options = {});

// Builds a volume from (X, Y, Z) voxels (any float dtype; converted to f32, made
// contiguous) and an affine.
Volume make_volume(const Tensor& voxels, const Affine& affine, int space_code = 1);

}  // namespace ldae::data
