// Figures: colour maps, tri-planar layout and orientation, grids with colour bars,
// difference maps, text, and PNG writing.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "data/figures.h"

namespace fs = std::filesystem;
using namespace ldae;
using namespace ldae::data;

namespace {

// A volume that is 1 in the subject's right half (x > middle), 0 elsewhere.
Volume right_half(const Shape& s, const Affine& a) {
  Tensor t = Tensor::zeros(s);
  for (int64_t i = s[0] / 2; i < s[0]; ++i)
    for (int64_t j = 0; j < s[1]; ++j)
      for (int64_t k = 0; k < s[2]; ++k) t.mutable_data<float>()[(i * s[1] + j) * s[2] + k] = 1;
  return make_volume(t, a);
}

const uint8_t* pixel(const Image& im, int64_t x, int64_t y) { return &im.rgb[static_cast<size_t>(3 * (y * im.width + x))]; }

}  // namespace

TEST(Figures, ColorMapEnds) {
  uint8_t c[3];
  color_of(ColorMap::Gray, 0, c);
  EXPECT_EQ(c[0] + c[1] + c[2], 0);
  color_of(ColorMap::Gray, 1, c);
  EXPECT_EQ(c[0], 255);
  color_of(ColorMap::Diverging, 0.5, c);  // white in the middle
  EXPECT_GT(c[0], 240);
  EXPECT_GT(c[2], 240);
  color_of(ColorMap::Diverging, 0, c);  // blue for low
  EXPECT_GT(c[2], c[0]);
  color_of(ColorMap::Diverging, 1, c);  // red for high
  EXPECT_GT(c[0], c[2]);
  color_of(ColorMap::Inferno, 2.0, c);  // clamped
  uint8_t d[3];
  color_of(ColorMap::Inferno, 1.0, d);
  EXPECT_EQ(c[0], d[0]);
}

TEST(Figures, TriplanarShowsTheRightOnTheRight) {
  // X=16 voxels of 2 mm, Y=6 of 1 mm, Z=20 of 1 mm; at 1 mm per pixel the panels are
  // sagittal 6x20, coronal 32x20, axial 32x6 pixels, 4 pixels apart.
  const Volume v = right_half({16, 6, 20}, Affine::scaling({2, 1, 1}));
  Display d;
  d.vmin = 0;
  d.vmax = 1;
  const Image im = triplanar(v, d, {}, 1.0);
  EXPECT_EQ(im.width, 6 + 32 + 32 + 8);
  EXPECT_EQ(im.height, 20);
  // Coronal panel starts at x = 10: its left half dark, right half bright (row 18 is
  // clear of the orientation letters).
  EXPECT_EQ(pixel(im, 10 + 8, 18)[0], 0);
  EXPECT_EQ(pixel(im, 10 + 24, 18)[0], 255);
  // An LAS copy of the same data shows the same picture: figures reorient to RAS.
  const Affine las = Affine::scaling({-2, 1, 1}, {30, 0, 0});
  Tensor flipped = Tensor::zeros({16, 6, 20});
  for (int64_t i = 0; i < 8; ++i)  // voxels i = 0..7 lie at world x = 30..16: the right half
    for (int64_t j = 0; j < 6; ++j)
      for (int64_t k = 0; k < 20; ++k) flipped.mutable_data<float>()[(i * 6 + j) * 20 + k] = 1;
  Display g;
  g.vmin = 0;
  g.vmax = 1;
  const Image a = figure_grid({v}, {g}), b = figure_grid({make_volume(flipped, las)}, {g});
  EXPECT_EQ(a.rgb, b.rgb);
}

TEST(Figures, GridDifferenceAndPng) {
  const Volume a = right_half({10, 12, 8}, Affine::identity());
  Volume b = a;
  b.voxels = a.voxels.clone();
  b.voxels.mutable_data<float>()[0] = 5;
  const Volume d = difference(a, b);
  EXPECT_FLOAT_EQ(d.voxels.data<float>()[0], 5.0f);
  EXPECT_FLOAT_EQ(d.voxels.data<float>()[1], 0.0f);
  Display dd;
  dd.map = ColorMap::Diverging;
  double lo, hi;
  display_range(d, dd, &lo, &hi);
  EXPECT_DOUBLE_EQ(lo, -hi);  // symmetric around 0
  const Image im = comparison_figure(a, b, "a", "b");
  EXPECT_GT(im.width, 50);
  EXPECT_GT(im.height, 3 * 12);
  const fs::path p = fs::temp_directory_path() / ("ldae_fig_" + std::to_string(::getpid()) + ".png");
  write_png(p.string(), im);
  std::ifstream f(p, std::ios::binary);
  char sig[8];
  f.read(sig, 8);
  EXPECT_EQ(std::string(sig + 1, 3), "PNG");
  fs::remove(p);
  EXPECT_THROW(write_png("/nonexistent/folder/x.png", im), Error);
  EXPECT_THROW(difference(a, make_volume(Tensor::zeros({2, 2, 2}), Affine::identity())), Error);
}

TEST(Figures, TextDrawsPixels) {
  Image im(60, 20, 0);
  const uint8_t white[3] = {255, 255, 255};
  im.text(2, 2, "AD 0.5", white, 1);
  int lit = 0;
  for (size_t i = 0; i < im.rgb.size(); i += 3) lit += im.rgb[i] == 255;
  EXPECT_GT(lit, 20);
}
