// Stage 3 of LDAE, `ldae train-repr`: representation learning (ldae-reference 5). The
// semantic encoder Enc (AttentionSemanticEncoder on the image's axial slices) and the
// ShiftUNet's shift branch G are trained with the PDAE objective (ldae/pdae_step.h) on
// top of the stage-2 UNet, which is frozen: it is loaded from RUN2's last checkpoint, EMA
// weights, and gets no gradient and no optimizer state.
//
// Inputs: RUN2 (a finished train-ldm run at the same preset); the latent cache LAT named
// in RUN2's config.json (its manifest gives the images, the split and the latents, its
// latents.json the scale factor); RUN1 named in latents.json (the autoencoder, for
// validation).
//
// The loop, per micro-batch of LAT's training split:
//   pdae_backward(Enc, G, image slices, scale_factor * latent) -> backward(loss / accumulate)
//   every `accumulate` micro-batches (and at an epoch's end): clip the gradients of Enc and
//   G together, Adam step, EMA update (or after every micro-batch with
//   ema_per_batch), zero the gradients: one optimizer step.
// After every optimizer step a row of log.csv; every checkpoint_every steps
// RUN3/checkpoints/last.safetensors. At each epoch's end, validation with the EMA networks:
// for each validation scan y_sem = Enc(x), a shifted DDIM sample from fixed-seed noise x_T
// with y_sem (the "y_sem only" reconstruction), decoded by the autoencoder, scored by 3D
// SSIM against the autoencoder's decoding of the true latent (val_ssim, ldae-reference
// 5.5); a tri-planar figure of the two for the first scan; best.safetensors when val_ssim
// improved; then last.safetensors. At the end RUN3/done.json.
//
// Image space (RUN2 trained on `cache-latents --image-space`: the image-space diffusion
// autoencoder baseline): the ShiftUNet is built on the image as RUN2's UNet
// (nets::image_space_unet_options), the encoder unchanged, no autoencoder is loaded, and the
// validation reference is the image itself; config.json records data.space "image" (absent:
// latent).
//
// Checkpoints hold the trainable parts only ("model.encoder.*", "model.shift_unet.<shift
// branch keys>", the same under "ema." and the optimizer's state): the frozen UNet is
// RUN2's, whose checkpoint fingerprint config.json records. Exact resume as stage 1: the
// checkpoint also holds the noise, dropout and stochastic-depth generators, the epoch and
// the batch position; the same command after a crash ends bit-identical to an
// uninterrupted run.
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/schedule.h"
#include "ldae/attention_semantic_encoder.h"
#include "ldae/autoencoder_kl.h"
#include "ldae/run/early_stop.h"
#include "ldae/run/run_folder.h"
#include "ldae/run/settings.h"
#include "ldae/shift_unet.h"

namespace ldae::stages {

struct TrainReprRequest {
  std::string ldm_run;     // RUN2, a finished train-ldm run folder
  std::string out;         // the run folder RUN3
  std::string preset;      // tiny, course or paper (must be RUN2's)
  run::Settings settings;  // resolved from train_repr_settings()
  bool progress = true;    // a progress line with ETA on stderr
  Device device = cpu_device();  // where the encoder and the shift branch train (a GPU: --device cuda)
  run::EarlyStop early_stop;     // --time-limit, --stop-after-epoch (ldae/run/early_stop.h)
};

struct TrainReprResult {
  run::RunStart start = run::RunStart::Fresh;
  int64_t steps = 0;         // optimizer steps done (in total)
  int64_t steps_run = 0;     // by this call
  double best_val_ssim = 0;  // at best_step
  int64_t best_step = 0;
  double last_val_ssim = 0, last_val_mse = 0;
  int64_t epochs = 0;           // epochs trained (done.json's "epochs")
  std::string stopped_early;    // why it trained fewer than planned (done.json); empty: all
};

// Runs (or resumes, or finds finished) stage 3. Everything that can be refused is checked
// before the first step: RUN2 (missing, unfinished, another preset, a checkpoint that does
// not fit the frozen UNet), LAT and RUN1 (missing, incomplete, another preset), the split,
// the sizes against the networks, the run folder. Throws ldae::Error (exit 1) for those,
// for a non-finite loss (naming the step; the last checkpoint is kept) and I/O failures.
TrainReprResult train_repr(const TrainReprRequest& request);

// Everything inference needs, from a finished train-repr run: the networks in eval mode.
struct TrainedLdae {
  std::shared_ptr<nets::AutoencoderKL> autoencoder;  // RUN1's, the checkpoint LAT was made with;
                                                     // null for an image-space run (the DAE baseline)
  std::shared_ptr<nets::ShiftUNet> shift_unet;       // frozen UNet (RUN2, EMA) + shift branch
  // The semantic encoder: reads axial_slices of (N, 1, X, Y, Z) volumes in [0, 1].
  std::shared_ptr<nets::AttentionSemanticEncoder> encoder;
  diffusion::Schedule schedule = diffusion::Schedule::linear();  // RUN2's
  double scale_factor = 1.0;                                     // z0 = scale_factor * latent
  std::string preset;
};

// Loads RUN3's "last" or "best" checkpoint, the EMA weights (ema = true, what validation
// used) or the raw ones, with the frozen UNet from RUN2 and the autoencoder from RUN1 (as
// recorded in RUN3/config.json). Throws ldae::Error when RUN3 is not a finished train-repr
// run, when RUN2, LAT or RUN1 are gone or changed (RUN2's checkpoint fingerprint), or when
// a checkpoint does not fit.
TrainedLdae load_trained_ldae(const std::string& run3, const std::string& which = "last",
                              bool ema = true);

// The log.csv columns after "step".
const std::vector<std::string>& train_repr_log_columns();

}  // namespace ldae::stages
