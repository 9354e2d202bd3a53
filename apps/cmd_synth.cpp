// ldae synth: generate the synthetic longitudinal cohort (images, manifest.csv with the
// ground truth, overview.png, and cohort.json, the record that lets `ldae evaluate` rebuild
// each subject's ground truth) on the shipped MNI template (default), a template the user
// passes, or the procedural phantom (--phantom).
#include <cstdio>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "apps/cohort_args.h"
#include "apps/command.h"
#include "data/synth.h"
#include "ldae/synth_cohort.h"

namespace {

struct SynthArgs {
  ldae::data::SynthOptions options;
  std::string shape = "64,80,64";
  std::string visits = "0,6,12,24";
  std::string mix = "0.40,0.35,0.25";
  bool phantom = false;
};

// "0.4,0.2,0.4" -> the CN, MCI and AD fractions; a usage error unless three numbers in [0, 1]
// that sum to 1.
ldae::data::DiagnosisMix parse_mix(const std::string& text) {
  std::vector<double> f;
  std::stringstream ss(text);
  std::string item;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    double v = -1;
    try {
      v = std::stod(item, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != item.size()) break;
    f.push_back(v);
  }
  try {
    if (f.size() != 3) throw std::invalid_argument("not three numbers");
    const ldae::data::DiagnosisMix mix{f[0], f[1], f[2]};
    ldae::data::check_diagnosis_mix(mix);
    return mix;
  } catch (const std::exception&) {
    throw CLI::ValidationError("--diagnosis-mix", "'" + text +
                                   "' is not three fractions CN,MCI,AD in [0, 1] that sum to 1 (e.g. 0.40,0.35,0.25)");
  }
}

void run_synth(SynthArgs& a) {
  const auto shape = ldae::app::parse_int_list(a.shape, "--shape", 3);
  a.options.shape = {shape[0], shape[1], shape[2]};
  a.options.visits = ldae::app::parse_int_list(a.visits, "--visits", 0, true);
  a.options.mix = parse_mix(a.mix);
  a.options.progress = true;
  if (!a.phantom && a.options.t1.empty() && a.options.gm.empty() && a.options.wm.empty()) {
    const ldae::data::TemplateFiles t = ldae::data::shipped_template();
    a.options.t1 = t.t1;
    a.options.gm = t.gm;
    a.options.wm = t.wm;
  }
  std::fprintf(stderr, "anatomy: %s\n", a.phantom ? "procedural phantom" : a.options.t1.c_str());
  const ldae::data::SynthSummary s = ldae::data::generate_cohort(a.options);
  ldae::stages::write_synth_cohort_record(a.options);
  std::printf("wrote %lld scans of %lld subjects (CN %lld, MCI %lld, AD %lld) in %.1f s\n",
              static_cast<long long>(s.scans), static_cast<long long>(a.options.subjects),
              static_cast<long long>(s.counts[0]), static_cast<long long>(s.counts[1]),
              static_cast<long long>(s.counts[2]), s.seconds);
  if (a.options.preprocessing != ldae::data::Preprocessing::none)
    std::printf("preprocessing already applied: %s\n", ldae::data::preprocessing_name(a.options.preprocessing));
  std::printf("manifest: %s\n", s.manifest.c_str());
  std::printf("record (seed, grid, anatomy): %s/cohort.json\n", a.options.out_dir.c_str());
  if (s.auc_hippocampus > 0)
    std::printf("baseline AD vs CN AUC of the true volumes: hippocampi %.3f, ventricles %.3f\n", s.auc_hippocampus,
                s.auc_ventricles);
}

void add_synth_command(CLI::App& app) {
  auto a = std::make_shared<SynthArgs>();
  CLI::App* sub = app.add_subcommand(
      "synth", "Generate a synthetic longitudinal AD cohort with ground truth (NIfTI scans, manifest.csv, overview.png, "
      "cohort.json), "
      "on the shipped MNI ICBM152 2009a template unless --template/--gm/--wm or --phantom say otherwise");
  sub->add_option("--out", a->options.out_dir, "Output folder")->required();
  sub->add_option("--subjects", a->options.subjects, "Number of subjects")->check(CLI::Range(1, 100000))->capture_default_str();
  sub->add_option("--seed", a->options.seed, "Random seed (same seed, same cohort byte for byte)")->capture_default_str();
  auto* t1 = sub->add_option("--template", a->options.t1,
                              "Template T1 (brain-extracted, MNI space), e.g. mni_icbm152_2009a_t1.nii.gz "
                              "(default: the MNI ICBM152 2009a copy at 2 mm shipped in data/template/)");
  auto* gm = sub->add_option("--gm", a->options.gm, "The template's grey-matter probability map");
  auto* wm = sub->add_option("--wm", a->options.wm, "The template's white-matter probability map");
  sub->add_flag("--phantom", a->phantom, "Use the built-in procedural phantom instead of a template")
      ->excludes(t1)
      ->excludes(gm)
      ->excludes(wm);
  sub->add_option("--spacing", a->options.spacing, "Voxel size in mm (default: 192 mm / X)")->check(CLI::PositiveNumber);
  sub->add_option("--shape", a->shape, "Volume shape X,Y,Z")->capture_default_str();
  sub->add_option("--visits", a->visits, "Visit months, increasing")->capture_default_str();
  sub->add_option("--diagnosis-mix", a->mix,
                  "Fractions of CN, MCI and AD subjects (each subject drawn independently; they sum to 1)")
      ->capture_default_str();
  ldae::app::add_preprocessing_flags(sub, a->options.preprocessing);
  sub->add_flag("!--no-overview", a->options.overview, "Do not write overview.png");
  sub->callback([a] { run_synth(*a); });
}

const ldae::app::Registration synth_registration("synth", 30, add_synth_command);

}  // namespace
