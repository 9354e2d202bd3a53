// ldae demo [--preset tiny|course|paper] [--seed N] [--out DIR] [--registered|--preprocessed] [--device D]: the whole LDAE pipeline on
// the built-in synthetic cohort, from the scans to the evaluation report (ldae/demo.h).
// Running it again continues where it stopped.
#include <cstdio>
#include <memory>

#include "apps/cohort_args.h"
#include "apps/command.h"
#include "apps/stage_args.h"
#include "ldae/demo.h"
#include "ldae/presets.h"
#include "ldae/report_claims.h"
#include "nn/progress.h"

namespace {

struct DemoArgs {
  ldae::stages::DemoRequest request;
  std::string device = "cpu";
  bool quiet = false;
};

void run_demo_command(const DemoArgs& a) {
  ldae::stages::DemoRequest req = a.request;
  req.progress = !a.quiet;
  req.device = ldae::parse_device("--device", a.device);
  const ldae::stages::DemoResult r = ldae::stages::run_demo(req);
  std::printf("demo finished in %s: %s, %s, %s, %s\n", ldae::nn::Progress::format_duration(r.seconds).c_str(),
              r.report_md.c_str(), r.report_html.c_str(), r.results_json.c_str(), r.features_csv.c_str());
  // What the run found: the readings of the report's first table, one line per relation.
  std::printf("The paper's relations on this run (the numbers and rules: %s):\n%s", r.report_md.c_str(),
              ldae::report::claims_readings(r.results).c_str());
}

void add_demo_command(CLI::App& app) {
  auto a = std::make_shared<DemoArgs>();
  CLI::App* sub = app.add_subcommand(
      "demo",
      "The whole LDAE pipeline on the built-in synthetic cohort: generate the cohort, train the three stages "
      "(autoencoder, latent diffusion model, semantic encoder), evaluate them (reconstructions, linear probes, "
      "baselines) and write OUT/report.md, OUT/report.html, OUT/results.json and OUT/features.csv. Running it "
      "again resumes where it stopped");
  sub->add_option("--preset", a->request.preset, "Network and cohort sizes: tiny (CI, minutes), course, paper")
      ->check(CLI::IsMember(ldae::nets::preset_names()))
      ->capture_default_str();
  sub->add_option("--seed", a->request.seed, "Seed of the cohort and of every stage (same seed, same results)")
      ->capture_default_str();
  sub->add_option("--out", a->request.out, "Output folder")->capture_default_str();
  sub->add_flag_callback("--image-dae", [a] { a->request.image_dae = 1; },
                         "Also train the image-space diffusion autoencoder baseline (the paper's DAE) and evaluate "
                         "it (default: only at preset tiny; at course and paper it takes hours on a CPU)");
  ldae::app::add_preprocessing_flags(sub, a->request.preprocessing);  // the cohort's scans
  ldae::app::add_device_option(sub, a->device,
                               "Where the training stages run (the cohort, the latent cache and the evaluation "
                               "stay on the CPU)");
  sub->add_flag("--quiet", a->quiet,
                "No progress bars or per-step lines on stderr (each stage still prints the line that names the run "
                "it starts or resumes)");
  sub->callback([a] { run_demo_command(*a); });
}

const ldae::app::Registration demo_registration("demo", 5, add_demo_command);

}  // namespace
