// `ldae cache-latents`: the stage-1 autoencoder's latents of every scan of a cohort, written
// once so that stages 2 and 3 train on them without running the encoder again
// (ldae-reference 2.5).
//
//   LAT/manifest.csv      every column of the input manifest (image paths made absolute), then
//                         `split` (train|val|test: the subject-level split of stage 1, from
//                         RUN1's val_fraction, test_fraction and split_seed) and `latent_path`
//                         (relative to LAT, e.g. latents/sub-0001_ses-M00.safetensors)
//   LAT/latents/*.safetensors  one tensor "latent", float32 (C, D, H, W), UNSCALED: the
//                         posterior mean mu (default) or the published single sample
//                         z = mu + sigma eps (--sample; eps from the seed, per row)
//   LAT/latents.json      written last (atomically): its presence means the cache is complete.
//                         {"stage": "cache-latents", "complete": true, "autoencoder_run",
//                          "autoencoder_checkpoint", "preset", "mode", "scale_factor",
//                          "scale_source", "latent_shape", "count", "split", "request"}
//
// Image space (--image-space, for the image-space diffusion autoencoder baseline, the
// paper's "DAE"): RUN1 gives only the manifest, the preset and the subject split (its
// weights are not loaded), and each "latent" is the volume itself mapped to [-1, 1]
// (2 x - 1, infer::image_to_diffusion), shape (1, X, Y, Z), scale factor 1; latents.json has
// "mode": "image" and "space": "image" (latent caches: "space": "latent" or absent).
//
// The scale factor s: 1 / std of every element of the training split's latents (the LDM
// paper's rule; the published code hard-codes 0.8730, ldae-reference 10.1 item 8), or a
// forced value (--scale). The later stages train on s * latent and decode latent / s.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "data/manifest.h"
#include "tensor/tensor.h"

namespace ldae::stages {

struct CacheLatentsRequest {
  std::string ae_run;           // RUN1, a finished `ldae train-ae` run
  std::string out;              // LAT
  std::string manifest;         // empty: RUN1's config.json data.manifest
  std::string which = "best";   // the autoencoder checkpoint: "best" or "last"
  bool sample = false;          // true: one stochastic sample per scan (the published latents)
  uint64_t seed = 42;           // the samples' noise (sample mode only)
  double scale = 0;             // > 0: forced scale factor; 0: 1 / std of the training latents
  bool image_space = false;     // true: the images in [-1, 1] instead of latents (no --sample, --scale)
  bool progress = true;         // a progress line with ETA on stderr
};

struct CacheLatentsResult {
  bool already_complete = false;  // the folder held the same complete cache: nothing done
  double scale_factor = 0;
  Shape latent_shape;             // (C, D, H, W)
  int64_t count = 0;              // latents written (= rows of the manifest)
  double latent_std = 0;          // std of the training latents (also when the scale is forced)
};

// Encodes every row of the manifest with RUN1's autoencoder (preset from RUN1's config).
// Everything that can be refused is checked before any latent is written: RUN1 not a
// finished train-ae run, which not best/last, a negative or non-finite scale, the manifest
// unreadable, a volume whose shape differs from the one RUN1 was trained on, an empty
// training split, --sample or --scale with image_space, and LAT holding a complete cache made
// with other arguments. Throws
// ldae::Error ("cache-latents: ...") for those and for I/O failures.
CacheLatentsResult cache_latents(const CacheLatentsRequest& request);

// A complete latent cache, opened for reading.
struct LatentCache {
  std::string folder;              // LAT (absolute)
  data::Manifest manifest;         // LAT/manifest.csv (with `split` and `latent_path`)
  double scale_factor = 1;
  Shape latent_shape;              // (C, D, H, W)
  std::string autoencoder_run, preset;
  bool image_space = false;        // latents.json "space": "image": the "latents" are 2 x - 1
  nlohmann::json info;             // latents.json
};

// Opens LAT. Throws ldae::Error naming the problem when the folder or latents.json is
// missing (an unfinished or absent cache), not complete, or its manifest lacks the
// `split` / `latent_path` columns. The image files are not checked here.
LatentCache open_latent_cache(const std::string& folder);

// The stored latent of `row` (C, D, H, W), unscaled. Throws ldae::Error when the file is
// missing, lacks "latent" or has another shape than latent_shape.
Tensor read_latent(const LatentCache& cache, size_t row);
// read_latent(...) * scale_factor: what stages 2 and 3 train on. (C, D, H, W) f32.
Tensor read_scaled_latent(const LatentCache& cache, size_t row);
// The rows whose `split` is `split` ("train", "val" or "test"; ldae::Error otherwise), in
// manifest order.
std::vector<size_t> rows_of_split(const LatentCache& cache, const std::string& split);

}  // namespace ldae::stages
