// ldae synth: generate the synthetic longitudinal cohort (images, manifest.csv with the
// ground truth, overview.png) on the shipped MNI template (default), a template the user
// passes, or the procedural phantom (--phantom).
#include <cstdio>
#include <iostream>
#include <memory>

#include "apps/command.h"
#include "data/synth.h"

namespace {

struct SynthArgs {
  ldae::data::SynthOptions options;
  std::string shape = "64,80,64";
  std::string visits = "0,6,12,24";
  bool phantom = false;
};

void run_synth(SynthArgs& a) {
  const auto shape = ldae::app::parse_int_list(a.shape, "--shape", 3);
  a.options.shape = {shape[0], shape[1], shape[2]};
  a.options.visits = ldae::app::parse_int_list(a.visits, "--visits", 0, true);
  a.options.progress = true;
  if (!a.phantom && a.options.t1.empty() && a.options.gm.empty() && a.options.wm.empty()) {
    const ldae::data::TemplateFiles t = ldae::data::shipped_template();
    a.options.t1 = t.t1;
    a.options.gm = t.gm;
    a.options.wm = t.wm;
  }
  std::fprintf(stderr, "anatomy: %s\n", a.phantom ? "procedural phantom" : a.options.t1.c_str());
  const ldae::data::SynthSummary s = ldae::data::generate_cohort(a.options);
  std::printf("wrote %lld scans of %lld subjects (CN %lld, MCI %lld, AD %lld) in %.1f s\n",
              static_cast<long long>(s.scans), static_cast<long long>(a.options.subjects),
              static_cast<long long>(s.counts[0]), static_cast<long long>(s.counts[1]),
              static_cast<long long>(s.counts[2]), s.seconds);
  std::printf("manifest: %s\n", s.manifest.c_str());
  if (s.auc_hippocampus > 0)
    std::printf("baseline AD vs CN AUC of the true volumes: hippocampi %.3f, ventricles %.3f\n", s.auc_hippocampus,
                s.auc_ventricles);
}

void add_synth_command(CLI::App& app) {
  auto a = std::make_shared<SynthArgs>();
  CLI::App* sub = app.add_subcommand(
      "synth", "Generate a synthetic longitudinal AD cohort with ground truth (NIfTI scans, manifest.csv, overview.png), "
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
  sub->add_flag("!--no-overview", a->options.overview, "Do not write overview.png");
  sub->callback([a] { run_synth(*a); });
}

const ldae::app::Registration reg("synth", 30, add_synth_command);

}  // namespace
