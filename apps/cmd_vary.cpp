// ldae vary --run RUN3 --image FILE --count K --out DIR [--seed N]: stochastic variations of
// one scan: its y_sem decoded from K draws x_T ~ N(0, I) (ldae/inference_stages.h).
#include <cstdio>
#include <memory>

#include "apps/command.h"
#include "apps/inference_args.h"
#include "ldae/inference_stages.h"

namespace {

struct VaryArgs {
  ldae::app::InferenceArgs common;
  std::string image, out;
  int64_t count = 4;
  uint64_t seed = 0;
};

void run_vary(const VaryArgs& a) {
  if (a.image.empty()) throw CLI::RequiredError("--image");
  if (a.out.empty()) throw CLI::RequiredError("--out");
  ldae::app::require_file("--image", a.image);  // before loading the networks
  ldae::stages::VaryRequest req;
  req.image = a.image;
  req.out = a.out;
  req.count = a.count;
  req.seed = a.seed;
  req.sampler = ldae::app::sampler_of(a.common);
  req.progress = !a.common.quiet;
  ldae::infer::LdaeModel model = ldae::app::load_model(a.common, &req.provenance);
  const ldae::stages::VaryResult r = ldae::stages::vary_scan(model, req);
  std::printf("%s: %lld variations; mean per-voxel std across them %.6f\n", a.out.c_str(),
              static_cast<long long>(a.count), r.mean_voxel_std);
}

void add_vary_command(CLI::App& app) {
  auto a = std::make_shared<VaryArgs>();
  CLI::App* sub = app.add_subcommand(
      "vary",
      "Stochastic variations of a scan with a trained LDAE (RUN3): one y_sem, K draws x_T ~ N(0, I), each "
      "decoded. Writes OUT/variation_<k>.nii.gz, OUT/variation_std.nii.gz, OUT/figure.png and OUT/vary.json");
  sub->add_option("--image", a->image, "The scan (.nii/.nii.gz); required");
  sub->add_option("--count", a->count, "Number of variations K")->check(CLI::Range(1, 64))->capture_default_str();
  sub->add_option("--out", a->out, "Output folder (created); required");
  sub->add_option("--seed", a->seed, "Seed of the x_T draws")->capture_default_str();
  ldae::app::add_inference_options(sub, a->common);
  sub->callback([a] { run_vary(*a); });
}

const ldae::app::Registration vary_registration("vary", 82, add_vary_command);

}  // namespace
