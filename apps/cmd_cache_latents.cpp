// ldae cache-latents --ae RUN1 --out LAT [--data MANIFEST] [--sample [--seed N]] [--scale X]
// [--which best|last] [--image-space]: the latents of every scan, encoded once by the stage-1 autoencoder,
// with the subject-level split of stage 1 and the scale factor (ldae/latent_cache.h); with
// --image-space the images themselves in [-1, 1] (the image-space DAE baseline).
#include <cstdio>
#include <memory>

#include "apps/command.h"
#include "ldae/latent_cache.h"

namespace {

struct CacheLatentsArgs {
  std::string ae, out, data, which = "best";
  bool sample = false, quiet = false, image_space = false;
  uint64_t seed = 42;
  double scale = 0;
};

void run_cache_latents(const CacheLatentsArgs& a) {
  ldae::stages::CacheLatentsRequest req;
  req.ae_run = a.ae;
  req.out = a.out;
  req.manifest = a.data;
  req.which = a.which;
  req.sample = a.sample;
  req.seed = a.seed;
  req.scale = a.scale;
  req.image_space = a.image_space;
  req.progress = !a.quiet;
  const ldae::stages::CacheLatentsResult r = ldae::stages::cache_latents(req);
  std::printf("%s: %s%lld %s of %s, scale factor %.6g (training latents' std %.6g)\n", a.out.c_str(),
              r.already_complete ? "already complete, " : "", static_cast<long long>(r.count),
              a.image_space ? "image-space volumes" : "latents",
              ldae::shape_str(r.latent_shape).c_str(), r.scale_factor, r.latent_std);
}

void add_cache_latents_command(CLI::App& app) {
  auto a = std::make_shared<CacheLatentsArgs>();
  CLI::App* sub = app.add_subcommand(
      "cache-latents",
      "Encode every scan of the cohort with a trained stage-1 autoencoder and store the latents (the posterior "
      "mean, or one sample with --sample) in OUT: manifest.csv (with the stage-1 split and each latent's file), "
      "latents/*.safetensors and latents.json (the scale factor 1/std of the training latents, or --scale). "
      "Input of train-ldm and train-repr");
  sub->add_option("--ae", a->ae, "A finished 'ldae train-ae' run folder")->required();
  sub->add_option("--out", a->out, "The latent cache folder to write (new or empty, or a cache to complete)")
      ->required();
  sub->add_option("--data", a->data, "The cohort's manifest.csv (default: the one the autoencoder was trained on)");
  sub->add_option("--which", a->which, "The autoencoder checkpoint: best or last")
      ->check(CLI::IsMember({"best", "last"}))
      ->capture_default_str();
  sub->add_flag("--sample", a->sample,
                "Store one stochastic sample z = mu + sigma eps per scan (the published latents) instead of mu");
  sub->add_option("--seed", a->seed, "The samples' noise (with --sample)")->capture_default_str();
  sub->add_option("--scale", a->scale,
                  "Force the scale factor (e.g. the published 0.873) instead of 1/std of the training latents")
      ->check(CLI::PositiveNumber);
  sub->add_flag("--image-space", a->image_space,
                "Store the images themselves mapped to [-1, 1] (2x - 1, scale factor 1) for the image-space "
                "diffusion autoencoder baseline; --ae gives only the manifest, preset and split (its weights are not "
                "used). Not with --sample or --scale");
  sub->add_flag("--quiet", a->quiet, "No progress line on stderr");
  sub->callback([a] { run_cache_latents(*a); });
}

const ldae::app::Registration cache_latents_registration("cache-latents", 61, add_cache_latents_command);

}  // namespace
