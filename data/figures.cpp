#include "data/figures.h"

// stb_easy_font is header-only with static functions; we use two of them.
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wunused-function"
#include <stb/stb_easy_font.h>
#pragma GCC diagnostic pop
#include <stb/stb_image_write.h>

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "data/preprocess.h"
#include "tensor/error.h"

namespace ldae::data {

namespace {

const uint8_t kBackground[3] = {16, 16, 16};
const uint8_t kText[3] = {235, 235, 235};
const uint8_t kLabel[3] = {255, 210, 60};

// Piecewise-linear interpolation through `n` evenly spaced control colours.
void interpolate_colors(const uint8_t (*stops)[3], int n, double t, uint8_t out[3]) {
  t = std::min(1.0, std::max(0.0, std::isfinite(t) ? t : 0.0));
  const double pos = t * (n - 1);
  const int i = std::min(n - 2, static_cast<int>(pos));
  const double f = pos - i;
  for (int c = 0; c < 3; ++c) out[c] = static_cast<uint8_t>(std::lround(stops[i][c] * (1 - f) + stops[i + 1][c] * f));
}

std::string format_value(double v) {
  char buf[32];
  if (v != 0 && (std::abs(v) < 0.01 || std::abs(v) >= 10000))
    std::snprintf(buf, sizeof buf, "%.2e", v);
  else
    std::snprintf(buf, sizeof buf, "%.3g", v);
  return buf;
}

}  // namespace

void Image::set(int64_t x, int64_t y, const uint8_t c[3]) {
  if (x < 0 || y < 0 || x >= width || y >= height) return;
  uint8_t* p = &rgb[static_cast<size_t>(3 * (y * width + x))];
  p[0] = c[0];
  p[1] = c[1];
  p[2] = c[2];
}

void Image::paste(const Image& src, int64_t x0, int64_t y0) {
  for (int64_t y = 0; y < src.height; ++y)
    for (int64_t x = 0; x < src.width; ++x) set(x0 + x, y0 + y, &src.rgb[static_cast<size_t>(3 * (y * src.width + x))]);
}

void Image::fill_rect(int64_t x0, int64_t y0, int64_t w, int64_t h, const uint8_t color[3]) {
  for (int64_t y = y0; y < y0 + h; ++y)
    for (int64_t x = x0; x < x0 + w; ++x) set(x, y, color);
}

void Image::text(int64_t x0, int64_t y0, const std::string& s, const uint8_t color[3], int scale) {
  // stb_easy_font emits axis-aligned quads (4 vertices of 16 bytes: x, y, z floats and
  // a colour); we fill each quad's rectangle, scaled.
  std::vector<char> buf(s.begin(), s.end());
  buf.push_back('\0');
  std::vector<char> vertices(s.size() * 300 + 1000);
  unsigned char unused[4] = {255, 255, 255, 255};
  const int quads = stb_easy_font_print(0, 0, buf.data(), unused, vertices.data(), static_cast<int>(vertices.size()));
  for (int q = 0; q < quads; ++q) {
    const float* v0 = reinterpret_cast<const float*>(vertices.data() + q * 64);
    const float* v2 = reinterpret_cast<const float*>(vertices.data() + q * 64 + 32);
    const int64_t xa = x0 + static_cast<int64_t>(std::lround(v0[0] * scale));
    const int64_t ya = y0 + static_cast<int64_t>(std::lround(v0[1] * scale));
    const int64_t xb = x0 + static_cast<int64_t>(std::lround(v2[0] * scale));
    const int64_t yb = y0 + static_cast<int64_t>(std::lround(v2[1] * scale));
    fill_rect(std::min(xa, xb), std::min(ya, yb), std::abs(xb - xa), std::abs(yb - ya), color);
  }
}

int64_t text_width(const std::string& s, int scale) {
  // stb_easy_font units are pixels at scale 1.
  std::vector<char> buf(s.begin(), s.end());
  buf.push_back('\0');
  return static_cast<int64_t>(stb_easy_font_width(buf.data())) * scale;
}

void write_png(const std::string& path, const Image& image) {
  check(image.width > 0 && image.height > 0, "write_png", path + ": empty image");
  if (!stbi_write_png(path.c_str(), static_cast<int>(image.width), static_cast<int>(image.height), 3,
                      image.rgb.data(), static_cast<int>(3 * image.width)))
    fail("write_png", path + ": cannot write the file (missing folder or no permission?)");
}

void color_of(ColorMap map, double t, uint8_t out[3]) {
  static const uint8_t gray[2][3] = {{0, 0, 0}, {255, 255, 255}};
  // Samples of matplotlib's "inferno" and of ColorBrewer's RdBu (reversed: blue = low).
  static const uint8_t inferno[6][3] = {{0, 0, 4}, {66, 10, 104}, {147, 38, 103}, {221, 81, 58}, {252, 165, 10}, {252, 255, 164}};
  static const uint8_t diverging[5][3] = {{33, 102, 172}, {146, 197, 222}, {247, 247, 247}, {244, 165, 130}, {178, 24, 43}};
  switch (map) {
    case ColorMap::Gray: interpolate_colors(gray, 2, t, out); break;
    case ColorMap::Inferno: interpolate_colors(inferno, 6, t, out); break;
    case ColorMap::Diverging: interpolate_colors(diverging, 5, t, out); break;
  }
}

void display_range(const Volume& v, const Display& d, double* vmin, double* vmax) {
  if (d.vmin != d.vmax) {
    *vmin = d.vmin;
    *vmax = d.vmax;
    return;
  }
  if (d.map == ColorMap::Diverging) {
    const Tensor a = v.voxels.contiguous();
    Tensor absval = Tensor::empty(a.shape());
    const float* p = a.data<float>();
    float* q = absval.mutable_data<float>();
    for (int64_t i = 0; i < a.numel(); ++i) q[i] = std::abs(p[i]);
    double m = percentile(absval, 99.5);
    if (m <= 0) m = 1e-6;
    *vmin = -m;
    *vmax = m;
    return;
  }
  *vmin = percentile(v.voxels, 0.5);
  *vmax = percentile(v.voxels, 99.5);
  if (*vmax <= *vmin) *vmax = *vmin + 1e-6;
}

Image triplanar(const Volume& v, const Display& display, const std::vector<int64_t>& centre, double mm) {
  check(v.voxels.defined() && v.voxels.dim() == 3, "triplanar", "needs an (X, Y, Z) volume");
  const Tensor t = v.voxels.contiguous();
  const int64_t X = t.size(0), Y = t.size(1), Z = t.size(2);
  const Vec3 sp = v.spacing();
  if (mm <= 0) mm = std::min({sp[0], sp[1], sp[2]}) / 2;
  int64_t c[3] = {X / 2, Y / 2, Z / 2};
  for (size_t a = 0; a < std::min<size_t>(3, centre.size()); ++a)
    if (centre[a] >= 0) c[a] = std::min(centre[a], t.size(static_cast<int64_t>(a)) - 1);
  double vmin, vmax;
  display_range(v, display, &vmin, &vmax);
  const float* p = t.data<float>();
  auto value = [&](int64_t x, int64_t y, int64_t z) { return p[(x * Y + y) * Z + z]; };
  auto pixels = [&](int64_t n, double s) { return std::max<int64_t>(1, std::lround(n * s / mm)); };
  auto index = [&](int64_t pix, double s, int64_t n) {
    return std::min(n - 1, std::max<int64_t>(0, static_cast<int64_t>(std::floor((pix + 0.5) * mm / s))));
  };
  // Panel sizes: sagittal (Y wide, Z tall), coronal (X wide, Z tall), axial (X wide, Y tall).
  const int64_t wy = pixels(Y, sp[1]), wx = pixels(X, sp[0]), hz = pixels(Z, sp[2]), hy = pixels(Y, sp[1]);
  const int64_t gap = 4, height = std::max(hz, hy);
  Image img(wy + wx + wx + 2 * gap, height, kBackground[0]);
  uint8_t col[3];
  auto shade = [&](float val) {
    color_of(display.map, (val - vmin) / (vmax - vmin), col);
    return col;
  };
  // Sagittal: anterior on the left (radiology habit), superior up.
  for (int64_t r = 0; r < hz; ++r)
    for (int64_t u = 0; u < wy; ++u)
      img.set(u, r, shade(value(c[0], Y - 1 - index(u, sp[1], Y), Z - 1 - index(r, sp[2], Z))));
  // Coronal: subject's right on the right (neurological), superior up.
  const int64_t ox = wy + gap;
  for (int64_t r = 0; r < hz; ++r)
    for (int64_t u = 0; u < wx; ++u)
      img.set(ox + u, r, shade(value(index(u, sp[0], X), c[1], Z - 1 - index(r, sp[2], Z))));
  // Axial: right on the right, anterior up.
  const int64_t ox2 = ox + wx + gap;
  for (int64_t r = 0; r < hy; ++r)
    for (int64_t u = 0; u < wx; ++u)
      img.set(ox2 + u, r, shade(value(index(u, sp[0], X), Y - 1 - index(r, sp[1], Y), c[2])));
  // Orientation letters.
  img.text(2, hz / 2 - 3, "A", kLabel, 1);
  img.text(wy - 7, hz / 2 - 3, "P", kLabel, 1);
  img.text(ox + 2, hz / 2 - 3, "L", kLabel, 1);
  img.text(ox + wx - 7, hz / 2 - 3, "R", kLabel, 1);
  img.text(ox + wx / 2 - 2, 2, "S", kLabel, 1);
  img.text(ox2 + 2, hy / 2 - 3, "L", kLabel, 1);
  img.text(ox2 + wx - 7, hy / 2 - 3, "R", kLabel, 1);
  img.text(ox2 + wx / 2 - 2, 2, "A", kLabel, 1);
  return img;
}

Image figure_grid(const std::vector<Volume>& volumes, const std::vector<Display>& displays, double mm) {
  check(!volumes.empty() && volumes.size() == displays.size(), "figure_grid",
        "needs one Display per volume and at least one volume");
  std::vector<Volume> ras;
  for (const auto& v : volumes) ras.push_back(reorient_to_ras(v));
  if (mm <= 0) {
    mm = 1e9;
    for (const auto& v : ras) {
      const Vec3 s = v.spacing();
      mm = std::min({mm, s[0] / 2, s[1] / 2, s[2] / 2});
    }
    mm = std::max(mm, 0.5);
  }
  std::vector<Image> rows;
  int64_t width = 0;
  for (size_t r = 0; r < ras.size(); ++r) {
    rows.push_back(triplanar(ras[r], displays[r], {}, mm));
    width = std::max(width, rows.back().width);
  }
  const int64_t margin = 10, title_h = 22, bar_w = 14, label_w = 80;
  int64_t total_w = margin + width + margin + bar_w + 6 + label_w;
  for (const auto& d : displays) total_w = std::max(total_w, 2 * margin + text_width(d.title, 2));
  int64_t total_h = margin;
  for (const auto& row : rows) total_h += title_h + row.height + margin;
  Image out(total_w, total_h, kBackground[0]);
  int64_t y = margin;
  for (size_t r = 0; r < rows.size(); ++r) {
    out.text(margin, y + 3, displays[r].title, kText, 2);
    y += title_h;
    out.paste(rows[r], margin, y);
    // Colour bar: top = vmax, bottom = vmin.
    double vmin, vmax;
    display_range(ras[r], displays[r], &vmin, &vmax);
    const int64_t bx = margin + width + margin, h = rows[r].height;
    uint8_t col[3];
    for (int64_t i = 0; i < h; ++i) {
      color_of(displays[r].map, 1.0 - static_cast<double>(i) / std::max<int64_t>(1, h - 1), col);
      out.fill_rect(bx, y + i, bar_w, 1, col);
    }
    out.text(bx + bar_w + 4, y, format_value(vmax), kText, 1);
    out.text(bx + bar_w + 4, y + h - 8, format_value(vmin), kText, 1);
    if (displays[r].map == ColorMap::Diverging) out.text(bx + bar_w + 4, y + h / 2 - 4, "0", kText, 1);
    y += h + margin;
  }
  return out;
}

Volume difference(const Volume& a, const Volume& b) {
  check(a.voxels.shape() == b.voxels.shape(), "difference",
        "volumes of different shapes " + shape_str(a.voxels.shape()) + " and " + shape_str(b.voxels.shape()));
  const Tensor ta = a.voxels.contiguous(), tb = b.voxels.contiguous();
  Tensor d = Tensor::empty(ta.shape());
  const float* pa = ta.data<float>();
  const float* pb = tb.data<float>();
  float* pd = d.mutable_data<float>();
  for (int64_t i = 0; i < ta.numel(); ++i) pd[i] = pb[i] - pa[i];
  Volume r = a;
  r.voxels = d;
  return r;
}

Image comparison_figure(const Volume& a, const Volume& b, const std::string& title_a, const std::string& title_b) {
  Display da, db, dd;
  da.title = title_a;
  db.title = title_b;
  // Both images on one grey scale, so that they compare.
  double lo_a, hi_a, lo_b, hi_b;
  display_range(a, da, &lo_a, &hi_a);
  display_range(b, db, &lo_b, &hi_b);
  da.vmin = db.vmin = std::min(lo_a, lo_b);
  da.vmax = db.vmax = std::max(hi_a, hi_b);
  dd.map = ColorMap::Diverging;
  dd.title = "difference (" + title_b + ") - (" + title_a + ")";
  return figure_grid({a, b, difference(a, b)}, {da, db, dd});
}

}  // namespace ldae::data
