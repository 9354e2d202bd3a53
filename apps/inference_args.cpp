#include "apps/inference_args.h"

#include <cmath>
#include <filesystem>

#include "ldae/inference_stages.h"
#include "ldae/train_repr.h"
#include "tensor/error.h"

namespace ldae::app {

void add_inference_options(CLI::App* sub, InferenceArgs& a) {
  sub->add_option("--run", a.run, "A finished 'ldae train-repr' run folder (RUN3); required");
  sub->add_option("--which", a.which, "Checkpoint of RUN3: last or best")
      ->check(CLI::IsMember({"last", "best"}))
      ->capture_default_str();
  sub->add_flag("--no-ema", a.no_ema, "Use the raw weights instead of the EMA weights");
  sub->add_option("--steps", a.steps, "DDIM steps of the inversion and of the sampling (published: 10, 20, 50, 100)")
      ->check(CLI::Range(1, 999))
      ->capture_default_str();
  sub->add_option("--encode-steps", a.encode_steps, "DDIM steps of the inversion (default: --steps)")
      ->check(CLI::Range(1, 999));
  sub->add_option("--decode-steps", a.decode_steps, "DDIM steps of the sampling (default: --steps)")
      ->check(CLI::Range(1, 999));
  sub->add_flag("--faithful", a.faithful,
                "The published sampler: predicted x0 clamped to [-1, 1] and the shift scaled by "
                "-sqrt(1 - alpha_bar_t) (ldae-reference 6.2, 10.1). Default: the shift scaled by the "
                "coefficient it was trained with (k_t); x0 clamped to [-1, 1] only in image space (the "
                "image-space DAE), never in latent space");
  sub->add_option("--clamp", a.clamp, "Clamp of the predicted x0: off, a positive value v ([-v, v]) or dynamic (per sample the 99.5th "
                  "percentile of |x0|, at least 1); overrides the sampler's (also its image-space clamp)");
  sub->add_option("--shift-coefficient", a.shift_coefficient,
                  "training (k_t) or reference (-sqrt(1 - alpha_bar_t)) (overrides the sampler's)")
      ->check(CLI::IsMember({"training", "reference"}));
  sub->add_flag("--quiet", a.quiet, "No progress on stderr");
}

infer::AutoencodingOptions sampler_of(const InferenceArgs& a) {
  infer::AutoencodingOptions o =
      a.faithful ? infer::AutoencodingOptions::published(a.steps) : infer::AutoencodingOptions::fixed(a.steps);
  if (a.encode_steps > 0) o.encode_steps = a.encode_steps;
  if (a.decode_steps > 0) o.decode_steps = a.decode_steps;
  if (!a.clamp.empty()) {
    o.clamp_images = false;  // the clamp given applies in both spaces
    if (a.clamp == "off") {
      o.clamp = diffusion::X0Clamp::off();
    } else if (a.clamp == "dynamic") {
      o.clamp = diffusion::X0Clamp::dynamic(0.995);  // per sample 99.5th percentile of |x0|, at least 1
    } else {
      double v = 0;
      try {
        size_t used = 0;
        v = std::stod(a.clamp, &used);
        if (used != a.clamp.size()) v = 0;
      } catch (const std::exception&) {
        v = 0;
      }
      if (!(v > 0) || !std::isfinite(v)) throw CLI::ValidationError("--clamp", "give off, dynamic or a positive number, not '" + a.clamp + "'");
      o.clamp = diffusion::X0Clamp::at(v);
    }
  }
  if (a.shift_coefficient == "training") o.shift_coefficient = diffusion::ShiftCoefficient::Training;
  if (a.shift_coefficient == "reference") o.shift_coefficient = diffusion::ShiftCoefficient::Reference;
  return o;
}

void require_file(const std::string& option, const std::string& path) {
  if (!std::filesystem::is_regular_file(path)) fail(option, path + ": no such file");
}

infer::LdaeModel load_model(const InferenceArgs& a, nlohmann::ordered_json* provenance) {
  if (a.run.empty()) throw CLI::RequiredError("--run");
  stages::TrainedLdae t = stages::load_trained_ldae(a.run, a.which, !a.no_ema);
  infer::LdaeModel m = stages::model_from_trained(t);
  if (provenance) {
    (*provenance)["run"] = std::filesystem::absolute(a.run).lexically_normal().string();
    (*provenance)["checkpoint"] = a.which;
    (*provenance)["ema"] = !a.no_ema;
    (*provenance)["preset"] = t.preset;
    (*provenance)["scale_factor"] = t.scale_factor;
  }
  return m;
}

}  // namespace ldae::app
