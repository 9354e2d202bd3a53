// ldae reconstruct --run RUN3 --image SCAN.nii.gz --out DIR [--mode encoded|semantic]
// [--steps N] [--seed N] [--faithful] ...: the LDAE reconstruction of one scan
// (ldae/inference_stages.h): reconstruction.nii.gz (the input's affine), the autoencoder's
// own reconstruction, figure.png (input / reconstruction / |difference|) and metrics.json.
#include <cstdio>
#include <memory>

#include "apps/command.h"
#include "apps/inference_args.h"
#include "ldae/inference_stages.h"

namespace {

struct ReconstructArgs {
  ldae::app::InferenceArgs common;
  std::string image, out, mode = "encoded";
  uint64_t seed = 0;
  bool no_shift = false;
};

void run_reconstruct(const ReconstructArgs& a) {
  if (a.image.empty()) throw CLI::RequiredError("--image");
  if (a.out.empty()) throw CLI::RequiredError("--out");
  ldae::app::require_file("--image", a.image);  // before loading the networks
  ldae::stages::ReconstructRequest req;
  req.image = a.image;
  req.out = a.out;
  req.mode = ldae::infer::parse_mode(a.mode);
  req.sampler = ldae::app::sampler_of(a.common);
  req.sampler.semantic_shift = !a.no_shift;
  req.seed = a.seed;
  req.progress = !a.common.quiet;
  ldae::infer::LdaeModel model = ldae::app::load_model(a.common, &req.provenance);
  const ldae::stages::ReconstructResult r = ldae::stages::reconstruct_scan(model, req);
  if (model.space().image_space()) {  // the image-space DAE baseline: no autoencoder to compare with
    std::printf("%s: image-space DAE (%s, %s sampler) vs input: SSIM %.4f, PSNR %.2f dB, MSE %.6f\n", a.out.c_str(),
                a.mode.c_str(), req.sampler.name().c_str(), r.vs_input.ssim, r.vs_input.psnr, r.vs_input.mse);
    return;
  }
  const char* what = a.no_shift ? "latent DDIM without the shift" : "LDAE";
  std::printf("%s: %s (%s, %s sampler) vs input: SSIM %.4f, PSNR %.2f dB, MSE %.6f; vs the autoencoder's "
              "reconstruction: SSIM %.4f; autoencoder vs input: SSIM %.4f\n",
              a.out.c_str(), what, a.mode.c_str(), req.sampler.name().c_str(), r.vs_input.ssim, r.vs_input.psnr,
              r.vs_input.mse, r.vs_autoencoder.ssim, r.autoencoder_vs_input.ssim);
}

void add_reconstruct_command(CLI::App& app) {
  auto a = std::make_shared<ReconstructArgs>();
  CLI::App* sub = app.add_subcommand(
      "reconstruct",
      "Reconstruct a scan with a trained LDAE (RUN3 from 'ldae train-repr'): semantic code y_sem, shifted DDIM "
      "inversion to x_T (mode encoded) or x_T ~ N(0, I) (mode semantic), shifted DDIM sampling, autoencoder "
      "decoding. Writes OUT/reconstruction.nii.gz, OUT/autoencoder_reconstruction.nii.gz, OUT/figure.png and "
      "OUT/metrics.json (SSIM, PSNR, MSE against the input and against the autoencoder's reconstruction)");
  sub->add_option("--image", a->image, "The scan (.nii/.nii.gz, on the grid the networks were trained on); required");
  sub->add_option("--out", a->out, "Output folder (created); required");
  sub->add_option("--mode", a->mode, "encoded (x_T from the DDIM inversion) or semantic (y_sem only)")
      ->check(CLI::IsMember({"encoded", "semantic"}))
      ->capture_default_str();
  sub->add_option("--seed", a->seed, "Seed of x_T in semantic mode")->capture_default_str();
  sub->add_flag("--no-shift", a->no_shift,
                "Leave the semantic shift out of the inversion and the sampling: the stage-2 latent DDIM alone "
                "(y_sem unused), to see what the shift adds");
  ldae::app::add_inference_options(sub, a->common);
  sub->callback([a] { run_reconstruct(*a); });
}

const ldae::app::Registration reconstruct_registration("reconstruct", 80, add_reconstruct_command);

}  // namespace
