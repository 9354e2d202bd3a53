// The options the inference commands share (`ldae reconstruct`, `ldae encode`, `ldae vary`,
// `ldae manipulate`, `ldae interpolate`):
// the trained stage-3 run, which checkpoint, and the DDIM sampler (published or fixed), and
// how they become an infer::LdaeModel and infer::AutoencodingOptions.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <string>

#include <nlohmann/json.hpp>

#include "ldae/autoencoding.h"

namespace ldae::app {

struct InferenceArgs {
  std::string run;             // RUN3, a finished `ldae train-repr` folder
  std::string which = "last";  // checkpoint: last or best
  bool no_ema = false;         // the raw weights instead of the EMA ones
  int64_t steps = 100;         // DDIM steps of both passes unless given separately
  int64_t encode_steps = 0, decode_steps = 0;  // 0: `steps`
  bool faithful = false;       // the published sampler (x0 clamp [-1, 1], reference coefficient)
  std::string clamp;           // "off", "dynamic" or a value; empty: as the sampler says
  std::string shift_coefficient;  // "training" or "reference"; empty: as the sampler says
  bool quiet = false;
};

// Adds --run, --which, --no-ema, --steps, --encode-steps, --decode-steps, --faithful, --clamp,
// --shift-coefficient and --quiet to `sub`.
void add_inference_options(CLI::App* sub, InferenceArgs& args);

// The sampler the options describe: fixed(steps) (our default) or published(steps) with
// --faithful, then --encode-steps / --decode-steps / --clamp / --shift-coefficient on top.
// Bad values are CLI::ValidationError (exit 2).
infer::AutoencodingOptions sampler_of(const InferenceArgs& args);

// Throws ldae::Error("<option>: <path>: no such file") unless `path` is a regular file.
void require_file(const std::string& option, const std::string& path);

// Loads RUN3 with stages::load_trained_ldae(run, which, !no_ema) as an LdaeModel (image_shape
// from the run's preset) and fills `provenance` (run, checkpoint, ema, preset, scale_factor).
// Throws ldae::Error when the run cannot be loaded.
infer::LdaeModel load_model(const InferenceArgs& args, nlohmann::ordered_json* provenance);

}  // namespace ldae::app
