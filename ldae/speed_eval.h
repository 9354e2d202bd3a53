// The inference-speed comparison of the paper's "20x faster than a voxel-space DAE" claim
// (ldae-reference 8): LDAE (diffusion on the autoencoder's latent) against an image-space
// diffusion autoencoder built from the same pieces, on this CPU.
//
// The image-space DAE: the same 2.5D semantic encoder, the same schedule and DDIM
// encode/decode, and a ShiftUNet with the LDAE ShiftUNet's options except
//   input_channel 1 (the image has one channel), isotropic_resampling true (2x2x2),
// applied to the image (tiny 1x1x16x20x16, course 1x1x64x80x64). The preset's level count
// divides both images (tiny: 2 levels, ds 2; course: 3 levels, ds 4), and its
// attention_resolutions are kept, so the coarsest level attends over (D H W) / ds^3 tokens
// (tiny 640, course 5120; the latent ShiftUNet: 320 at course). Its weights are freshly
// initialised: the time of a network call does not depend on the weights' values.
//
// What is measured, with steady_clock, under NoGrad, the networks in eval mode (as the
// inference code runs), batch 1, float32:
//   semantic encoder  y_sem = Enc(axial slices of the image)           (both models)
//   AE encode         scaled posterior mean of the image               (LDAE)
//   AE decode         image from a scaled latent                       (LDAE)
//   LDAE step         one ShiftUNet call (eps and shift) on the latent, with y_sem
//   image DAE step    one image ShiftUNet call on the image, with y_sem
// each `repetitions` times (the image step `image_repetitions` times), the median kept.
// A pass that counts multiply-adds (tensor/cost_counter.h, products skipped) runs each
// network once before the timed calls and serves as the warm-up. Per volume at S DDIM
// steps (encode S + decode S network calls), composed from the medians:
//   LDAE      = encoder + AE encode + 2 S x LDAE step + AE decode
//   image DAE = encoder + 2 S x image DAE step
// (the DDIM arithmetic between network calls is elementwise and left out). With
// end_to_end, one whole infer::reconstruct (encoded mode) at the smallest S is timed too,
// next to its composed estimate.
//
// The JSON (results.json "speed", ldae/report.h; `ldae speed --out`):
//   summary                        one line for the report
//   method, note                   how the numbers were obtained (text)
//   weights                        which weights each side used (text)
//   machine {cpu, threads}
//   image_shape [1,1,D,H,W], latent_shape [1,C,d,h,w]
//   image_dae_network {input_channel, isotropic_resampling, levels, attention_resolutions,
//                      attention_tokens}
//   repetitions {components, image_step}
//   macs {semantic_encoder, ae_encode, ae_decode, ldae_step, image_dae_step, ratio_per_step}
//   components_s {semantic_encoder, ae_encode, ae_decode}       medians, seconds
//   ldae {per_step_s}, image_dae {per_step_s}, ratio_per_step   image DAE / LDAE
//   per_volume {"<S>": {ldae_s, image_dae_s, ratio, ldae_macs, image_dae_macs, macs_ratio}}
//   end_to_end {steps, ldae_s, ldae_composed_s}                  only with end_to_end
//   paper_ratio 20
//   table [[header...], [row...]...]                             the report's table (strings)
// Every key holding a time (…_s, ratio, ratio_per_step, table, summary) differs from run to
// run; the rest is deterministic.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "ldae/autoencoding.h"

namespace ldae::stages {

struct SpeedRequest {
  std::string preset = "tiny";           // tiny, course or paper
  std::vector<int64_t> steps = {10, 20, 50, 100};  // DDIM step counts per pass
  int64_t repetitions = 3;               // timed calls of each component but the image step
  int64_t image_repetitions = 1;         // timed image-space ShiftUNet calls (seconds each at course)
  bool end_to_end = false;               // also time one infer::reconstruct at min(steps)
  uint64_t seed = 0;                     // fresh weights and the random inputs
  // The trained LDAE for the latent side (its networks, schedule and scale factor); null:
  // freshly initialised networks at the preset. The image DAE is always fresh.
  infer::LdaeModel* model = nullptr;
  bool progress = false;                 // one line per measured component on stderr
  // Where the networks run (a GPU: each timed call ends with a synchronisation, and one real
  // call warms each component up first). A model given above is moved there.
  Device device = cpu_device();
};

// Measures and returns the JSON above. Throws ldae::Error("speed: ...") for an unknown
// preset, an empty step list, a step count outside 1..1000 or repetitions < 1, before any
// network is built; and for a model whose image_shape differs from the preset's.
nlohmann::ordered_json measure_speed(const SpeedRequest& request);

// The first "model name" of /proc/cpuinfo (Linux), else "unknown CPU".
std::string cpu_name();

}  // namespace ldae::stages
