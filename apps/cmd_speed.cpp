// ldae speed --preset P [--steps 10,20,50,100] [--repr RUN3] [--out FILE.json] [--device D]: the inference
// speed of LDAE against an image-space diffusion autoencoder on this machine
// (ldae/speed_eval.h): one DDIM step (one ShiftUNet call) in latent and in image space, and
// per volume at each step count, with the multiply-adds beside the times. Without --repr
// every network is freshly initialised (the time of a call does not depend on the weights).
#include <cstdio>
#include <memory>
#include <string>

#include "apps/command.h"
#include "apps/stage_args.h"
#include "ldae/inference_stages.h"
#include "ldae/presets.h"
#include "ldae/run/run_folder.h"
#include "ldae/speed_eval.h"
#include "ldae/train_repr.h"

namespace {

struct SpeedArgs {
  std::string preset;
  std::string steps = "10,20,50,100";
  std::string repr;
  std::string out;
  int64_t repetitions = 3;
  int64_t image_repetitions = 1;
  bool end_to_end = false;
  uint64_t seed = 0;
  std::string device = "cpu";
  bool quiet = false;
};

void run_speed(const SpeedArgs& a) {
  ldae::stages::SpeedRequest req;
  req.steps = ldae::app::parse_int_list(a.steps, "--steps");
  req.repetitions = a.repetitions;
  req.image_repetitions = a.image_repetitions;
  req.end_to_end = a.end_to_end;
  req.seed = a.seed;
  req.progress = !a.quiet;
  req.device = ldae::parse_device("--device", a.device);
  ldae::infer::LdaeModel model;
  if (!a.repr.empty()) {
    const nlohmann::json config = ldae::run::require_finished_stage(a.repr, "train-repr");
    const std::string run_preset = config.value("preset", std::string("tiny"));
    if (!a.preset.empty() && a.preset != run_preset)
      throw CLI::ValidationError("--preset", "'" + a.preset + "' but the run " + a.repr + " is '" + run_preset + "'");
    req.preset = run_preset;
    model = ldae::stages::model_from_trained(ldae::stages::load_trained_ldae(a.repr, "last", /*ema=*/true));
    req.model = &model;
  } else {
    if (a.preset.empty()) throw CLI::RequiredError("--preset (or --repr)");
    req.preset = a.preset;
  }
  const nlohmann::ordered_json result = ldae::stages::measure_speed(req);
  if (!a.out.empty()) ldae::run::write_json_atomic(a.out, result);
  std::printf("%s\n\n", result["summary"].get<std::string>().c_str());
  for (const auto& row : result["table"]) {
    std::string line = "|";
    for (const auto& cell : row) line += " " + cell.get<std::string>() + " |";
    std::printf("%s\n", line.c_str());
  }
  const auto& c = result["components_s"];
  std::printf("\nsemantic encoder %.3f s, AE encode %.3f s, AE decode %.3f s (medians); %s\n",
              c["semantic_encoder"].get<double>(), c["ae_encode"].get<double>(), c["ae_decode"].get<double>(),
              result["weights"].get<std::string>().c_str());
  if (result.contains("end_to_end"))
    std::printf("end to end: one LDAE reconstruction at %d steps took %.2f s (composed estimate %.2f s)\n",
                result["end_to_end"]["steps"].get<int>(), result["end_to_end"]["ldae_s"].get<double>(),
                result["end_to_end"]["ldae_composed_s"].get<double>());
  if (!a.out.empty()) std::printf("wrote %s\n", a.out.c_str());
}

void add_speed_command(CLI::App& app) {
  auto a = std::make_shared<SpeedArgs>();
  CLI::App* sub = app.add_subcommand(
      "speed",
      "Inference speed of LDAE vs an image-space diffusion autoencoder (ldae-reference 8, the paper's 20x): one DDIM "
      "step in latent and in image space, and per volume (semantic encoder, AE encode, S + S DDIM steps, AE decode "
      "vs semantic encoder and S + S image steps), composed from the median time of each component, with the "
      "multiply-adds. The image-space ShiftUNet (1 channel, isotropic 2x2x2 resampling) is freshly initialised; "
      "without --repr the LDAE networks are too. Timings depend on the machine and its load.");
  sub->add_option("--preset", a->preset, "tiny (16x20x16), course (64x80x64) or paper (128x160x128); with --repr: "
                                         "the run's")
      ->check(CLI::IsMember(ldae::nets::preset_names()));
  sub->add_option("--steps", a->steps, "DDIM step counts per pass, comma-separated")->capture_default_str();
  sub->add_option("--repr", a->repr, "A finished `ldae train-repr` run: time its trained LDAE (EMA weights)");
  sub->add_option("--out", a->out, "Also write the measurements as JSON (results.json's `speed` layout)");
  sub->add_option("--repetitions", a->repetitions, "Timed calls of each component (median kept)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_option("--image-repetitions", a->image_repetitions,
                  "Timed calls of the image-space ShiftUNet (seconds each at course)")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  sub->add_flag("--end-to-end", a->end_to_end,
                "Also time one whole LDAE reconstruction at the smallest step count (checks the composition)");
  sub->add_option("--seed", a->seed, "Fresh weights and random inputs")->capture_default_str();
  ldae::app::add_device_option(sub, a->device, "Where the networks run (the times of a GPU: each call synchronised)");
  sub->add_flag("--quiet", a->quiet, "No progress on stderr");
  sub->callback([a] { run_speed(*a); });
}

const ldae::app::Registration speed_registration("speed", 95, add_speed_command);

}  // namespace
