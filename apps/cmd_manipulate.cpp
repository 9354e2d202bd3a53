// ldae manipulate --run RUN3 --image SCAN.nii.gz --probe PROBES.safetensors --out DIR
// [--alphas -2,-1,0,1,2] [--steps N] ...: moves one scan along the AD-vs-CN probe's direction
// (ldae/inference_stages.h): one volume per alpha, figure.png and manipulate.json.
#include <cstdio>
#include <memory>

#include "apps/command.h"
#include "apps/inference_args.h"
#include "ldae/inference_stages.h"

namespace {

struct ManipulateArgs {
  ldae::app::InferenceArgs common;
  std::string image, probe, out;
  std::vector<double> alphas = {-2, -1, 0, 1, 2};
};

void run_manipulate(const ManipulateArgs& a) {
  if (a.image.empty()) throw CLI::RequiredError("--image");
  if (a.probe.empty()) throw CLI::RequiredError("--probe");
  if (a.out.empty()) throw CLI::RequiredError("--out");
  ldae::app::require_file("--image", a.image);  // before loading the networks
  ldae::app::require_file("--probe", a.probe);
  ldae::stages::ManipulateRequest req;
  req.image = a.image;
  req.probe = a.probe;
  req.out = a.out;
  req.alphas = a.alphas;
  req.sampler = ldae::app::sampler_of(a.common);
  req.progress = !a.common.quiet;
  ldae::infer::LdaeModel model = ldae::app::load_model(a.common, &req.provenance);
  const ldae::stages::ManipulateResult r = ldae::stages::manipulate_scan(model, req);
  std::printf("%s: input P(AD) %.3f; re-encoded P(AD) and mean |change| vs alpha 0 per alpha:", a.out.c_str(),
              r.input_ad_probability);
  for (const auto& m : r.images) std::printf(" %+.2f: %.3f, %.5f;", m.alpha, m.ad_probability, m.mean_abs_change);
  std::printf("\n");
}

void add_manipulate_command(CLI::App& app) {
  auto a = std::make_shared<ManipulateArgs>();
  CLI::App* sub = app.add_subcommand(
      "manipulate",
      "Move a scan along the AD-vs-CN probe's direction with a trained LDAE (RUN3): y' = y + alpha sqrt(E) w/|w| "
      "(on the probe's z-scored codes; alpha > 0 towards AD), decoded from the scan's own x_T. Writes "
      "OUT/manipulated_alpha_<alpha>.nii.gz, OUT/figure.png (with the difference map) and OUT/manipulate.json "
      "(per alpha: the probe's P(AD) of the re-encoded image, the mean change against alpha 0)");
  sub->add_option("--image", a->image, "The scan (.nii/.nii.gz); required");
  sub->add_option("--probe", a->probe,
                  "The probes.safetensors of 'ldae probe' on this run's features (or OUT/evaluation/probe_ldae/ of "
                  "'ldae evaluate'); required");
  sub->add_option("--alphas", a->alphas, "Comma-separated alphas (> 0 towards AD)")
      ->delimiter(',')
      ->capture_default_str();
  sub->add_option("--out", a->out, "Output folder (created); required");
  ldae::app::add_inference_options(sub, a->common);
  sub->callback([a] { run_manipulate(*a); });
}

const ldae::app::Registration manipulate_registration("manipulate", 83, add_manipulate_command);

}  // namespace
