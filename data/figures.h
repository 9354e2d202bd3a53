// PNG figures of volumes (stb_image_write): tri-planar views, grids of several volumes
// with titles, and difference maps with a colour map and a labelled colour bar.
//
// Conventions: volumes are shown in RAS (reoriented exactly first), in the neurological
// convention (the subject's right on the right of the image), superior and anterior up.
// Slices are scaled to square pixels in millimetres, so anisotropic voxels look right.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "data/nifti.h"

namespace ldae::data {

// An 8-bit RGB image, row-major, top row first.
struct Image {
  int64_t width = 0, height = 0;
  std::vector<uint8_t> rgb;  // 3 * width * height

  Image() = default;
  Image(int64_t w, int64_t h, uint8_t grey = 0) : width(w), height(h), rgb(static_cast<size_t>(3 * w * h), grey) {}
  void set(int64_t x, int64_t y, const uint8_t c[3]);
  // Pastes `src` with its top-left corner at (x, y) (clipped to this image).
  void paste(const Image& src, int64_t x, int64_t y);
  // Draws `text` (ASCII) with its top-left at (x, y); `scale` is the pixel size of the
  // built-in font (about 7 * scale pixels tall).
  void text(int64_t x, int64_t y, const std::string& text, const uint8_t color[3], int scale = 2);
  void fill_rect(int64_t x, int64_t y, int64_t w, int64_t h, const uint8_t color[3]);
};

// The width in pixels of `text` drawn by Image::text at `scale`.
int64_t text_width(const std::string& text, int scale = 2);

// Writes a PNG; throws Error if the file cannot be written.
void write_png(const std::string& path, const Image& image);

enum class ColorMap {
  Gray,       // black to white
  Inferno,    // dark purple to yellow: magnitudes (e.g. |difference|, error maps)
  Diverging,  // blue - white - red: signed values centred on 0 (e.g. b - a)
};

// Maps t in [0, 1] to a colour.
void color_of(ColorMap map, double t, uint8_t out[3]);

// How to show one volume: value range [vmin, vmax] mapped through `map`.
struct Display {
  ColorMap map = ColorMap::Gray;
  double vmin = 0, vmax = 0;  // vmin == vmax: automatic (0.5 / 99.5 percentiles;
                              // symmetric +-99.5 percentile of |v| for Diverging)
  std::string title;
};

// The display range a Display resolves to for `v` (the automatic rule above).
void display_range(const Volume& v, const Display& d, double* vmin, double* vmax);

// Sagittal | coronal | axial slices through `centre` (voxel indices of the RAS volume;
// negative: the middle), each scaled to `mm_per_pixel` (0: the smallest spacing / 2).
Image triplanar(const Volume& ras_volume, const Display& display, const std::vector<int64_t>& centre = {},
                double mm_per_pixel = 0);

// A grid figure: one row per volume (tri-planar views), with its title on the left of
// the row and a colour bar with its value range on the right. Volumes are reoriented
// to RAS first. All rows use the same millimetre scale.
Image figure_grid(const std::vector<Volume>& volumes, const std::vector<Display>& displays,
                  double mm_per_pixel = 0);

// b - a voxel by voxel (same shape required; the affine of `a` is kept).
Volume difference(const Volume& a, const Volume& b);

// The usual comparison figure: a, b and the signed difference b - a (diverging colour
// map, symmetric range) with titles.
Image comparison_figure(const Volume& a, const Volume& b, const std::string& title_a, const std::string& title_b);

}  // namespace ldae::data
