#include "ldae/roc_figure.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "tensor/error.h"

namespace ldae::probe {

namespace {

// A line of the given thickness (a square brush stepped along the longer axis); with
// dash > 0, dashes of `dash` pixels separated by gaps of the same length.
void draw_line(data::Image& img, double x0, double y0, double x1, double y1, const uint8_t color[3],
               int thickness = 1, int dash = 0) {
  const double dx = x1 - x0, dy = y1 - y0;
  const int64_t steps = std::max<int64_t>(1, static_cast<int64_t>(std::ceil(std::max(std::abs(dx), std::abs(dy)))));
  const int64_t half = thickness / 2;
  for (int64_t s = 0; s <= steps; ++s) {
    if (dash > 0 && (s / dash) % 2 == 1) continue;
    const double t = static_cast<double>(s) / static_cast<double>(steps);
    const int64_t x = std::lround(x0 + t * dx), y = std::lround(y0 + t * dy);
    img.fill_rect(x - half, y - half, thickness, thickness, color);
  }
}

}  // namespace

data::Image roc_figure(const std::vector<RocPoint>& curve, const std::string& title, const std::string& x_label,
                       const std::string& y_label) {
  check(curve.size() >= 2, "roc_figure", "needs at least 2 points, got " + std::to_string(curve.size()));
  for (const RocPoint& p : curve)
    check(p.fpr >= 0 && p.fpr <= 1 && p.tpr >= 0 && p.tpr <= 1, "roc_figure", "points must lie in [0, 1] x [0, 1]");
  const int64_t plot = 400;              // the square's side in pixels
  const int64_t left = 70, top = 74, right = 30, bottom = 60;
  const int64_t width = std::max(left + plot + right, data::text_width(title, 2) + 20);
  const int64_t height = top + plot + bottom;
  data::Image img(width, height, 255);
  const uint8_t black[3] = {0, 0, 0}, grey[3] = {150, 150, 150}, light[3] = {225, 225, 225};
  const uint8_t blue[3] = {31, 119, 180};
  auto px = [&](double fpr) { return static_cast<double>(left) + fpr * static_cast<double>(plot); };
  auto py = [&](double tpr) { return static_cast<double>(top + plot) - tpr * static_cast<double>(plot); };
  // Grid, ticks and tick labels.
  for (int i = 0; i <= 4; ++i) {
    const double v = 0.25 * i;
    draw_line(img, px(v), py(0), px(v), py(1), light);
    draw_line(img, px(0), py(v), px(1), py(v), light);
    draw_line(img, px(v), py(0), px(v), py(0) + 6, black);
    draw_line(img, px(0) - 6, py(v), px(0), py(v), black);
    char buf[16];
    std::snprintf(buf, sizeof buf, "%.2g", v);
    const std::string label = buf;
    img.text(static_cast<int64_t>(px(v)) - data::text_width(label, 2) / 2, static_cast<int64_t>(py(0)) + 10, label,
             black, 2);
    img.text(static_cast<int64_t>(px(0)) - 12 - data::text_width(label, 2), static_cast<int64_t>(py(v)) - 7, label,
             black, 2);
  }
  // Chance diagonal, axes (a box), the curve.
  draw_line(img, px(0), py(0), px(1), py(1), grey, 1, 6);
  draw_line(img, px(0), py(0), px(1), py(0), black);
  draw_line(img, px(0), py(1), px(1), py(1), black);
  draw_line(img, px(0), py(0), px(0), py(1), black);
  draw_line(img, px(1), py(0), px(1), py(1), black);
  for (size_t i = 1; i < curve.size(); ++i)
    draw_line(img, px(curve[i - 1].fpr), py(curve[i - 1].tpr), px(curve[i].fpr), py(curve[i].tpr), blue, 3);
  // Labels: title on top, x label below, y label above the axis (the font has no rotation).
  img.text((width - data::text_width(title, 2)) / 2, 12, title, black, 2);
  img.text(left + (plot - data::text_width(x_label, 2)) / 2, top + plot + 34, x_label, black, 2);
  img.text(8, top - 34, y_label, black, 2);
  return img;
}

}  // namespace ldae::probe
