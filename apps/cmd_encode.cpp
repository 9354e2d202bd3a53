// ldae encode --run RUN3 (--image FILE | --data MANIFEST) --out DIR: the semantic code y_sem
// and the DDIM-inverted x_T of every scan as OUT/codes/<name>.safetensors, and for a
// manifest OUT/features.csv (subject,session,diagnosis,age,split,y0,...) for `ldae probe`
// (ldae/inference_stages.h).
#include <cstdio>
#include <memory>

#include "apps/command.h"
#include "apps/inference_args.h"
#include "ldae/inference_stages.h"

namespace {

struct EncodeArgs {
  ldae::app::InferenceArgs common;
  std::string image, data, out;
  bool no_xT = false;
};

void run_encode(const EncodeArgs& a) {
  if (a.image.empty() == a.data.empty())
    throw CLI::ValidationError("--image/--data", "give exactly one of --image FILE and --data MANIFEST");
  if (a.out.empty()) throw CLI::RequiredError("--out");
  if (!a.image.empty()) ldae::app::require_file("--image", a.image);  // before loading the networks
  if (!a.data.empty()) ldae::app::require_file("--data", a.data);
  ldae::stages::EncodeRequest req;
  req.image = a.image;
  req.manifest = a.data;
  req.out = a.out;
  req.with_xT = !a.no_xT;
  req.sampler = ldae::app::sampler_of(a.common);
  req.progress = !a.common.quiet;
  ldae::infer::LdaeModel model = ldae::app::load_model(a.common, &req.provenance);
  const ldae::stages::EncodeResult r = ldae::stages::encode_scans(model, req);
  std::printf("%s: %lld scan(s) encoded (y_sem%s)%s%s\n", a.out.c_str(), static_cast<long long>(r.count),
              req.with_xT ? " and x_T" : "", r.features.empty() ? "" : "; features: ", r.features.c_str());
}

void add_encode_command(CLI::App& app) {
  auto a = std::make_shared<EncodeArgs>();
  CLI::App* sub = app.add_subcommand(
      "encode",
      "Encode scans with a trained LDAE (RUN3): y_sem (the semantic code) and x_T (shifted DDIM inversion) per "
      "scan as OUT/codes/<name>.safetensors; with --data also OUT/features.csv "
      "(subject,session,diagnosis,age,split,y0,...; split from the manifest's split column when present)");
  sub->add_option("--image", a->image, "One scan (.nii/.nii.gz)");
  sub->add_option("--data", a->data, "A manifest.csv; the latent cache's LAT/manifest.csv has the split column that features.csv and "
                  "'ldae probe' need (another manifest gives an empty split)");
  sub->add_option("--out", a->out, "Output folder (created); required");
  sub->add_flag("--no-xT", a->no_xT, "Only y_sem (no DDIM inversion: much faster)");
  ldae::app::add_inference_options(sub, a->common);
  sub->callback([a] { run_encode(*a); });
}

const ldae::app::Registration encode_registration("encode", 81, add_encode_command);

}  // namespace
