// ldae figure: PNG figures of volumes (tri-planar views, one row per volume; --diff adds
// the difference of two volumes with a diverging colour map and colour bar).
#include <iostream>
#include <memory>
#include <sstream>

#include "apps/command.h"
#include "data/figures.h"
#include "data/nifti.h"

namespace {

struct FigureArgs {
  std::vector<std::string> volumes;
  std::string out;
  bool diff = false;
  std::string titles;
  double vmin = 0, vmax = 0;
  double mm = 0;
};

void run_figure(const FigureArgs& a) {
  using namespace ldae::data;
  std::vector<std::string> titles;
  if (!a.titles.empty()) {
    std::stringstream ss(a.titles);
    std::string t;
    while (std::getline(ss, t, ',')) titles.push_back(t);
    if (titles.size() != a.volumes.size())
      throw CLI::ValidationError("--titles", "give one title per volume (" + std::to_string(a.volumes.size()) + ")");
  }
  if (a.diff && a.volumes.size() != 2) throw CLI::ValidationError("--diff", "needs exactly two volumes");
  std::vector<Volume> vols;
  std::vector<Display> displays;
  for (size_t i = 0; i < a.volumes.size(); ++i) {
    vols.push_back(read_nifti(a.volumes[i]));
    Display d;
    d.vmin = a.vmin;
    d.vmax = a.vmax;
    d.title = titles.empty() ? a.volumes[i] : titles[i];
    displays.push_back(d);
  }
  Image img;
  if (a.diff) {
    img = comparison_figure(vols[0], vols[1], displays[0].title, displays[1].title);
  } else {
    img = figure_grid(vols, displays, a.mm);
  }
  write_png(a.out, img);
  std::cout << "wrote " << a.out << " (" << img.width << "x" << img.height << ")\n";
}

void add_figure_command(CLI::App& app) {
  auto a = std::make_shared<FigureArgs>();
  CLI::App* sub = app.add_subcommand(
      "figure", "Draw volumes as a PNG: sagittal, coronal and axial slices, one row per volume (--diff: two "
                "volumes and their difference with a colour bar)");
  sub->add_option("VOLUME", a->volumes, "One or more .nii/.nii.gz files")->required();
  sub->add_option("--out", a->out, "Output PNG file")->required();
  sub->add_flag("--diff", a->diff, "Add the difference VOLUME2 - VOLUME1 (needs exactly two volumes)");
  sub->add_option("--titles", a->titles, "Comma-separated row titles (default: the file names)");
  sub->add_option("--vmin", a->vmin, "Lower end of the grey scale (default: 0.5th percentile)");
  sub->add_option("--vmax", a->vmax, "Upper end of the grey scale (default: 99.5th percentile)");
  sub->add_option("--mm-per-pixel", a->mm, "Image scale (default: half the smallest voxel size)")->check(CLI::PositiveNumber);
  sub->callback([a] { run_figure(*a); });
}

const ldae::app::Registration figure_registration("figure", 40, add_figure_command);

}  // namespace
