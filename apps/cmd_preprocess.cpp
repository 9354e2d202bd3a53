// ldae preprocess: reorient to RAS, resample to an isotropic spacing, centre crop/pad and
// normalise one file (IN OUT) or every file of a manifest (--manifest CSV --out-dir DIR,
// which also writes DIR/manifest.csv pointing at the new files). The batch form names its
// outputs with data::preprocess_output_names() (by subject and session).
#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "apps/command.h"
#include "data/manifest.h"
#include "data/nifti.h"
#include "data/preprocess.h"

namespace fs = std::filesystem;

namespace {

struct PreprocessArgs {
  std::string in, out, manifest, out_dir;
  double spacing = 0;
  std::string shape;
  std::string normalize = "minmax";
  double low = 0.5, high = 99.5;
  ldae::data::WriteOptions write;
};

ldae::data::PreprocessOptions make_options(const PreprocessArgs& a) {
  ldae::data::PreprocessOptions o;
  o.spacing = a.spacing;
  if (!a.shape.empty()) {
    const auto s = ldae::app::parse_int_list(a.shape, "--shape", 3);
    o.shape = {s[0], s[1], s[2]};
  }
  o.do_normalize = a.normalize != "none";
  o.normalize.mode = a.normalize == "none" ? "minmax" : a.normalize;
  o.normalize.low_percentile = a.low;
  o.normalize.high_percentile = a.high;
  return o;
}

// One line per written volume: the result of the single-file form (stdout), progress of
// the batch form (stderr).
void print_result(std::ostream& os, const std::string& in, const std::string& out, const ldae::data::Volume& v) {
  const auto sp = v.spacing();
  os << in << " -> " << out << "  " << v.voxels.size(0) << "x" << v.voxels.size(1) << "x"
            << v.voxels.size(2) << " at " << sp[0] << "x" << sp[1] << "x" << sp[2] << " mm, "
            << v.affine.orientation() << "\n";
}

void run_preprocess(const PreprocessArgs& a) {
  using namespace ldae::data;
  const PreprocessOptions o = make_options(a);
  const bool single = !a.in.empty() || !a.out.empty();
  const bool batch = !a.manifest.empty() || !a.out_dir.empty();
  if (single == batch)
    throw CLI::ValidationError("preprocess", "give either IN OUT, or --manifest CSV --out-dir DIR");
  if (single) {
    if (a.in.empty() || a.out.empty()) throw CLI::ValidationError("preprocess", "give both IN and OUT");
    const Volume v = preprocess(read_nifti(a.in), o);
    write_nifti(a.out, v, a.write);
    print_result(std::cout, a.in, a.out, v);
    return;
  }
  if (a.manifest.empty() || a.out_dir.empty())
    throw CLI::ValidationError("preprocess", "the batch form needs both --manifest and --out-dir");
  Manifest m = read_manifest(a.manifest);
  // Every output name is decided (and collisions refused) before anything is written.
  const std::vector<std::string> new_paths = preprocess_output_names(m, a.out_dir);
  fs::create_directories(a.out_dir);
  const auto t0 = std::chrono::steady_clock::now();
  for (size_t r = 0; r < m.rows.size(); ++r) {
    const ManifestRow& row = m.rows[r];
    const fs::path out = fs::path(a.out_dir) / new_paths[r];
    fs::create_directories(out.parent_path());
    const Volume v = preprocess(read_nifti(row.full_path), o);
    write_nifti(out.string(), v, a.write);
    std::cerr << "[" << r + 1 << "/" << m.rows.size() << "] ";
    print_result(std::cerr, row.full_path, out.string(), v);
  }
  m.set_column("path", new_paths);
  const std::string out_manifest = (fs::path(a.out_dir) / "manifest.csv").string();
  write_manifest(out_manifest, m);
  const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  std::cout << "wrote " << m.rows.size() << " volumes and " << out_manifest << " in " << s << " s\n";
}

void add_preprocess_command(CLI::App& app) {
  auto a = std::make_shared<PreprocessArgs>();
  CLI::App* sub = app.add_subcommand(
      "preprocess",
      "Reorient to RAS, resample to isotropic spacing, centre crop/pad and normalise to [0, 1]: one file "
      "(IN OUT) or every file of a manifest (--manifest CSV --out-dir DIR). The batch form writes "
      "DIR/<subject>/<subject>_ses-M<MM>_T1w.nii.gz per row (MM: the session in months, at least two digits; "
      "characters of the subject other than letters, digits, '-' and '_' become '_') and DIR/manifest.csv "
      "pointing at them; two rows that would share a file are refused before anything is written");
  sub->add_option("IN", a->in, "Input .nii/.nii.gz");
  sub->add_option("OUT", a->out, "Output .nii/.nii.gz (float32 unless --datatype uint8)");
  sub->add_option("--manifest", a->manifest, "Batch form: a manifest CSV (subject,path,diagnosis,session,age); session: months (6, 06) "
                  "or a visit label (M06, m06, ses-M06, bl, sc)");
  sub->add_option("--out-dir", a->out_dir, "Batch form: folder for the outputs and the new manifest.csv");
  sub->add_option("--spacing", a->spacing, "Isotropic voxel size in mm (default: keep the grid, reorient only)")
      ->check(CLI::PositiveNumber);
  sub->add_option("--shape", a->shape, "Centre crop/pad to X,Y,Z voxels, e.g. 128,160,128");
  sub->add_option("--normalize", a->normalize, "Intensity scaling: minmax, percentile or none")
      ->check(CLI::IsMember({"minmax", "percentile", "none"}))
      ->capture_default_str();
  sub->add_option("--low", a->low, "Lower percentile for --normalize percentile")->capture_default_str();
  sub->add_option("--high", a->high, "Upper percentile for --normalize percentile")->capture_default_str();
  sub->add_option("--datatype", a->write.datatype,
                  "Stored type: float32 (exact) or uint8 (256 levels between the volume's min and max, via "
                  "scl_slope; files several times smaller)")
      ->check(CLI::IsMember({"float32", "uint8"}))
      ->capture_default_str();
  sub->callback([a] { run_preprocess(*a); });
}

const ldae::app::Registration preprocess_registration("preprocess", 20, add_preprocess_command);

}  // namespace
