#include "ldae/synth_cohort.h"

#include <cmath>
#include <filesystem>

#include "ldae/run/run_folder.h"
#include "tensor/error.h"

namespace ldae::stages {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

// The generator's default voxel size for a grid of X voxels across (its 192 mm field of view).
double default_spacing(const Shape& shape) { return 192.0 / static_cast<double>(shape[0]); }

bool same_file(const std::string& a, const std::string& b) {
  std::error_code ec;
  return fs::weakly_canonical(a, ec) == fs::weakly_canonical(b, ec) && !ec;
}

// True when the three files are the template shipped in data/template/ (false when none is shipped).
bool is_shipped_template(const data::SynthOptions& o) {
  try {
    const data::TemplateFiles t = data::shipped_template();
    return same_file(o.t1, t.t1) && same_file(o.gm, t.gm) && same_file(o.wm, t.wm);
  } catch (const Error&) {
    return false;
  }
}

}  // namespace

ordered_json synth_cohort_record(const data::SynthOptions& o) {
  check(o.shape.size() == 3 && o.shape[0] > 0, "synth", "the cohort's shape must have 3 sizes");
  ordered_json record = {{"seed", o.seed}, {"subjects", o.subjects}, {"shape", o.shape}, {"visits", o.visits}};
  if (o.spacing > 0 && o.spacing != default_spacing(o.shape)) record["spacing"] = o.spacing;
  const data::DiagnosisMix d;
  if (o.mix.cn != d.cn || o.mix.mci != d.mci || o.mix.ad != d.ad) record["diagnosis_mix"] = {o.mix.cn, o.mix.mci, o.mix.ad};
  if (o.preprocessing == data::Preprocessing::registered) record["registered"] = true;
  if (o.preprocessing == data::Preprocessing::full) record["preprocessed"] = true;
  if (o.t1.empty()) {
    record["anatomy"] = "phantom";
    record["phantom_spacing"] = o.phantom_spacing;
  } else if (!is_shipped_template(o)) {
    record["anatomy"] = {{"t1", fs::absolute(o.t1).lexically_normal().string()},
                         {"gm", fs::absolute(o.gm).lexically_normal().string()},
                         {"wm", fs::absolute(o.wm).lexically_normal().string()}};
  }
  return record;
}

void write_synth_cohort_record(const data::SynthOptions& o) {
  run::write_json_atomic((fs::path(o.out_dir) / "cohort.json").string(), synth_cohort_record(o));
}

bool find_synthetic_cohort(const std::string& folder, SynthCohort* cohort, std::string* why) {
  const fs::path marker = fs::path(folder) / "cohort.json";
  std::error_code ec;
  if (folder.empty() || !fs::is_regular_file(marker, ec)) {
    *why = "the cohort is not a known synthetic one (no " + marker.string() +
           ", which `ldae synth` and `ldae demo` write), so there is no ground truth to measure the manipulation with";
    return false;
  }
  json c;
  try {
    c = run::read_json(marker.string());
  } catch (const Error& e) {
    *why = e.what();
    return false;
  }
  if (!c.is_object() || !c.contains("seed") || !c["seed"].is_number_integer() || !c.contains("shape") ||
      !c["shape"].is_array() || c["shape"].size() != 3) {
    *why = marker.string() + " lacks the seed or a 3-size shape";
    return false;
  }
  SynthCohort found;
  for (const json& n : c["shape"]) {
    if (!n.is_number_integer() || n.get<int64_t>() < 2) {
      *why = marker.string() + ": the shape is not three sizes > 1";
      return false;
    }
  }
  found.folder = folder;
  found.seed = c["seed"].get<uint64_t>();
  found.shape = c["shape"].get<std::vector<int64_t>>();
  found.spacing = default_spacing(found.shape);
  if (c.contains("spacing")) {
    if (!c["spacing"].is_number() || !(c["spacing"].get<double>() > 0)) {
      *why = marker.string() + ": spacing is not a positive number of mm";
      return false;
    }
    found.spacing = c["spacing"].get<double>();
  }
  if (c.contains("diagnosis_mix")) {
    const json& m = c["diagnosis_mix"];
    if (!m.is_array() || m.size() != 3 || !m[0].is_number() || !m[1].is_number() || !m[2].is_number()) {
      *why = marker.string() + ": diagnosis_mix is not three numbers (CN, MCI, AD)";
      return false;
    }
    found.mix = {m[0].get<double>(), m[1].get<double>(), m[2].get<double>()};
    try {
      data::check_diagnosis_mix(found.mix);
    } catch (const Error& e) {
      *why = marker.string() + ": " + e.what();
      return false;
    }
  }
  for (const char* key : {"registered", "preprocessed"}) {
    if (c.contains(key) && !c[key].is_boolean()) {
      *why = marker.string() + ": " + key + " is not true or false";
      return false;
    }
  }
  if (c.value("registered", false)) found.preprocessing = data::Preprocessing::registered;
  if (c.value("preprocessed", false)) found.preprocessing = data::Preprocessing::full;
  if (c.contains("anatomy")) {
    const json& a = c["anatomy"];
    if (a.is_string() && a.get<std::string>() == "phantom") {
      found.phantom = true;
      if (c.contains("phantom_spacing")) {
        if (!c["phantom_spacing"].is_number() || !(c["phantom_spacing"].get<double>() > 0)) {
          *why = marker.string() + ": phantom_spacing is not a positive number of mm";
          return false;
        }
        found.phantom_spacing = c["phantom_spacing"].get<double>();
      }
    } else if (a.is_object() && a.contains("t1") && a["t1"].is_string() && a.contains("gm") && a["gm"].is_string() &&
               a.contains("wm") && a["wm"].is_string()) {
      found.template_files = {a["t1"].get<std::string>(), a["gm"].get<std::string>(), a["wm"].get<std::string>()};
    } else {
      *why = marker.string() + ": anatomy is neither \"phantom\" nor the three template files {\"t1\", \"gm\", \"wm\"}";
      return false;
    }
  }
  *cohort = found;
  return true;
}

data::Anatomy synth_cohort_anatomy(const SynthCohort& cohort) {
  if (cohort.phantom) return data::phantom_anatomy(cohort.phantom_spacing);
  const data::TemplateFiles t = cohort.template_files.t1.empty() ? data::shipped_template() : cohort.template_files;
  return data::template_anatomy(t.t1, t.gm, t.wm);
}

}  // namespace ldae::stages
