// ldae interpolate --run RUN3 --data MANIFEST --subject ID --out DIR [--from M] [--to M]
// [--at M,M] [--steps N] ...: fills in a subject's visits between two of its scans
// (ldae/inference_stages.h): one volume per predicted time, figure.png and interpolate.json
// with the scores against the real scans and the two model-free baselines.
#include <cstdio>
#include <memory>

#include "apps/command.h"
#include "apps/inference_args.h"
#include "ldae/inference_stages.h"

namespace {

struct InterpolateArgs {
  ldae::app::InferenceArgs common;
  std::string data, subject, out;
  int64_t from = -1, to = -1;
  std::vector<int64_t> at;
};

void run_interpolate(const InterpolateArgs& a) {
  if (a.data.empty()) throw CLI::RequiredError("--data");
  if (a.subject.empty()) throw CLI::RequiredError("--subject");
  if (a.out.empty()) throw CLI::RequiredError("--out");
  ldae::app::require_file("--data", a.data);  // before loading the networks
  ldae::stages::InterpolateRequest req;
  req.manifest = a.data;
  req.subject = a.subject;
  req.from = a.from;
  req.to = a.to;
  req.at = a.at;
  req.out = a.out;
  req.sampler = ldae::app::sampler_of(a.common);
  req.progress = !a.common.quiet;
  ldae::infer::LdaeModel model = ldae::app::load_model(a.common, &req.provenance);
  const ldae::stages::InterpolateResult r = ldae::stages::interpolate_visits(model, req);
  std::printf("%s: %s between %lld and %lld months:", a.out.c_str(), a.subject.c_str(),
              static_cast<long long>(r.from), static_cast<long long>(r.to));
  for (const auto& v : r.visits) {
    if (v.scored)
      std::printf(" %lld months SSIM LDAE %.4f, nearest visit %.4f, linear blend %.4f;",
                  static_cast<long long>(v.months), v.ldae.ssim, v.nearest_visit.ssim, v.linear_blend.ssim);
    else
      std::printf(" %lld months (no real scan to score);", static_cast<long long>(v.months));
  }
  std::printf("\n");
}

void add_interpolate_command(CLI::App& app) {
  auto a = std::make_shared<InterpolateArgs>();
  CLI::App* sub = app.add_subcommand(
      "interpolate",
      "Fill in a subject's visits between two of its scans with a trained LDAE (RUN3): LERP of y_sem and SLERP of "
      "x_T at the true time fraction, decoded. Writes OUT/interpolated_ses-M<MM>.nii.gz, OUT/figure.png and "
      "OUT/interpolate.json (SSIM, PSNR, MSE against the real scan where there is one, next to the nearer known "
      "visit and the linear blend of the two scans)");
  sub->add_option("--data", a->data, "The cohort's manifest.csv (subject, session, path columns); required");
  sub->add_option("--subject", a->subject, "The subject, as in the manifest; required");
  sub->add_option("--from", a->from, "The first known visit, in months (default: the subject's first)");
  sub->add_option("--to", a->to, "The second known visit, in months (default: the subject's last)");
  sub->add_option("--at", a->at, "Comma-separated months to predict (default: the subject's visits between)")
      ->delimiter(',');
  sub->add_option("--out", a->out, "Output folder (created); required");
  ldae::app::add_inference_options(sub, a->common);
  sub->callback([a] { run_interpolate(*a); });
}

const ldae::app::Registration interpolate_registration("interpolate", 84, add_interpolate_command);

}  // namespace
