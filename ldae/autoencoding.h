// LDAE inference on networks in memory (ldae-reference 5.5, 6, 7.3, 7.4): the semantic code,
// shifted DDIM encoding and decoding of latents, reconstruction in the two published modes,
// stochastic variations, manipulation along a probe's direction and interpolation.
// Namespace ldae::infer (the file-level commands built on it are in ldae/inference_stages.h,
// namespace ldae::stages, like the training stages).
//
// The pipeline for a volume x (N, 1, D, H, W) in [0, 1] (D H W = the scan's X Y Z):
//   y_sem = Enc(axial_slices(x))                          (N, E)          semantic_code
//   z0    = scale_factor * AE.encode(x).mu                (N, C, d, h, w) scaled_latent
//   x_T   = shifted DDIM inversion of z0 given y_sem      (N, C, d, h, w) encode_xT
//   z0'   = shifted DDIM sampling from x_T given y_sem    (N, C, d, h, w) decode_latent
//   x'    = AE.decode(z0' / scale_factor)                 (N, 1, D, H, W) to_image
// "encoded" reconstruction uses the x_T of the inversion; "semantic" draws x_T ~ N(0, I)
// from a seeded Generator (only y_sem carries the subject).
//
// Sampler choices (AutoencodingOptions): the published sampler clamps the predicted x0 to
// [-1, 1] and scales the shift by -sqrt(1 - alpha_bar_t) although the shift was trained with
// the PDAE coefficient k_t (ldae-reference 10.1 items 3 and 4); our default uses k_t for
// sampling too (ShiftCoefficient::Training) and no clamp in latent space (latents are not
// bounded), but clamps x0 to [-1, 1] in image space, where the data are exactly that range.
//
// Every function runs under NoGrad and calls the networks in eval mode: a network that was
// in train mode is put into eval mode for the call and back into train mode afterwards.
// Results are bit-identical for the same inputs, options and Generator seed. Shapes are
// checked before any network call; a mismatch throws ldae::Error naming the function.
#pragma once
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "diffusion/ddim.h"
#include "diffusion/schedule.h"
#include "ldae/attention_semantic_encoder.h"
#include "ldae/autoencoder_kl.h"
#include "ldae/shift_unet.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace ldae::infer {

// Where the diffusion runs, and the one map between a volume and that space. Used by every
// caller that turns scans into diffusion inputs or samples back into images (inference,
// evaluation, the stage-2 and stage-3 validations):
//   latent space (autoencoder set):  z = scale_factor * AE.encode(x).mu,  x = AE.decode(z / scale_factor)
//   image space  (autoencoder null): z = scale_factor * (2 x - 1),         x = (z / scale_factor + 1) / 2
// The image-space diffusion autoencoder (the paper's "DAE" baseline) diffuses the volume
// itself, mapped from [0, 1] to [-1, 1] (`ldae cache-latents --image-space`; scale 1).
struct DiffusionSpace {
  std::shared_ptr<nets::AutoencoderKL> autoencoder;  // null: image space
  double scale_factor = 1.0;
  bool image_space() const { return autoencoder == nullptr; }
  std::string name() const { return image_space() ? "image" : "latent"; }
};

// volume (N, 1, X, Y, Z) in [0, 1] -> what the diffusion model sees: (N, C, d, h, w) in
// latent space, (N, 1, X, Y, Z) in image space. Throws ldae::Error("scaled_latent: ...") for
// a scale factor that is not positive and finite or a volume that is not (N, 1, X, Y, Z).
Tensor scaled_latent(const DiffusionSpace& space, const Tensor& volume);
// The inverse: z (as scaled_latent returns) -> image (N, 1, X, Y, Z), not clipped. Throws
// ldae::Error("to_image: ...") when z does not fit the space.
Tensor to_image(const DiffusionSpace& space, const Tensor& scaled_latent);
// The image-space map alone (no checks beyond the scale): 2 x - 1 times scale, and back.
Tensor image_to_diffusion(const Tensor& volume, double scale_factor = 1.0);
Tensor diffusion_to_image(const Tensor& z, double scale_factor = 1.0);
// The clamp of the predicted x0 that the data range implies: [-1, 1] in image space (2x - 1
// puts every scan exactly there, as in image DDPMs), none in latent space (latents are not
// bounded). Our samplers use it wherever no other clamp is asked for: inference
// (AutoencodingOptions::x0_clamp), the stage-2 sample figures and the stage-3 validation.
diffusion::X0Clamp data_range_clamp(bool image_space);

// The three trained networks of an LDAE and what ties them together (the in-memory twin of
// stages::TrainedLdae of ldae/train_repr.h; apps/inference_args.cpp load_model fills it).
// With autoencoder null it is the image-space diffusion autoencoder (DiffusionSpace).
struct LdaeModel {
  std::shared_ptr<nets::AutoencoderKL> autoencoder;  // null: image space
  std::shared_ptr<nets::ShiftUNet> shift_unet;       // frozen UNet + shift branch
  std::shared_ptr<nets::AttentionSemanticEncoder> encoder;
  diffusion::Schedule schedule = diffusion::Schedule::linear();
  double scale_factor = 1.0;  // latents are multiplied by it before diffusion
  Shape image_shape;          // (X, Y, Z) the networks were trained on; empty: not checked
  DiffusionSpace space() const { return {autoencoder, scale_factor}; }
};

// The one shift-aware denoiser the DDIM wiring calls: x_t (N, C, d, h, w) at original
// timestep t with y_sem (N, E) -> (eps_theta, G), both like x_t. Lets the wiring be tested
// with analytic functions; shift_denoiser() wraps a ShiftUNet.
using ConditionalDenoiser =
    std::function<diffusion::EpsAndShift(const Tensor& x_t, int64_t t, const Tensor& y_sem)>;

// A ShiftUNet as a ConditionalDenoiser (t passed as an (N,) tensor of x_t's dtype). Checks
// the shapes first (see check_latent, check_code). The network must outlive the function.
ConditionalDenoiser shift_denoiser(const nets::ShiftUNet& net);
// The stage-2 model alone: the ShiftUNet's noise prediction with its shift dropped, so the
// DDIM passes are plain ones and y_sem changes nothing (it is passed only because the
// network's signature wants it). The network must outlive the function.
ConditionalDenoiser unshifted_denoiser(const nets::ShiftUNet& net);

// Checks that `latent` is (N, C, d, h, w) with the ShiftUNet's C and h, w (and d when the
// resampling is isotropic) divisible by its total downsampling; throws
// ldae::Error("<op>: ...") naming the expected shape otherwise.
void check_latent(const std::string& op, const nets::ShiftUNet& net, const Tensor& latent);
// Checks that y_sem is (n, latent_dim) with n = the latent's batch.
void check_code(const std::string& op, const nets::ShiftUNet& net, const Tensor& y_sem, int64_t n);

// Which sampler, with both published and fixed choices named.
struct AutoencodingOptions {
  int64_t encode_steps = 100;  // S of the DDIM inversion (ddim100 as the published test)
  int64_t decode_steps = 100;  // S of the DDIM sampling
  diffusion::X0Clamp clamp = diffusion::X0Clamp::off();
  diffusion::ShiftCoefficient shift_coefficient = diffusion::ShiftCoefficient::Training;
  // While `clamp` is off: clamp x0 to [-1, 1] anyway when the model diffuses images (the
  // image-space map z = 2x - 1 puts every scan exactly in [-1, 1], as in image DDPMs). Latents
  // are not bounded, so this never applies in latent space. An explicit clamp (also "off"
  // given on the command line) turns it off.
  bool clamp_images = true;
  // Set by in_space(): the options drive a model that diffuses images.
  bool image_space = false;
  // false: reconstruct() runs the inversion and the sampling with unshifted_denoiser (the
  // stage-2 model alone, y_sem unused): what the DDIM passes do without the semantic shift.
  bool semantic_shift = true;
  // Called after every network call of a DDIM pass: (phase "encode"|"decode", done, total).
  std::function<void(const std::string&, int64_t, int64_t)> on_step;

  // The published sampler: x0 clamped to [-1, 1], shift coefficient -sqrt(1 - alpha_bar_t).
  static AutoencodingOptions published(int64_t steps = 100);
  // Ours (the default): the training coefficient k_t for sampling too; no clamp in latent
  // space, x0 clamped to [-1, 1] in image space (clamp_images).
  static AutoencodingOptions fixed(int64_t steps = 100);
  // A copy for a model in `space` (sets image_space). Every caller with a model at hand
  // passes its options through this before ddim(); reconstruct() does it itself.
  AutoencodingOptions in_space(const DiffusionSpace& space) const;
  // The clamp the DDIM passes use: `clamp`, or [-1, 1] in image space (see clamp_images).
  diffusion::X0Clamp x0_clamp() const;
  // The DdimOptions of one pass ("encode" or "decode").
  diffusion::DdimOptions ddim(const std::string& phase) const;
  // "published", "fixed" or "custom", and a one-line description (for metrics.json).
  std::string name() const;
};

// ---- The stages of the pipeline --------------------------------------------------------

// volume (N, 1, D, H, W) in [0, 1] -> y_sem (N, E). The volume is put into the encoder's
// axial layout (nets::axial_slices: (N, 1, Z, X, Y), Z slices of X x Y, ldae-reference 1.6)
// first. Throws ldae::Error("semantic_code: ...") unless the volume is 5-d with one channel
// and Z equals the encoder's seq_len (the number of slices it was built for).
Tensor semantic_code(nets::AttentionSemanticEncoder& encoder, const Tensor& volume);

// volume (N, 1, D, H, W) -> scale_factor * posterior mean (N, C, d, h, w).
Tensor scaled_latent(nets::AutoencoderKL& autoencoder, const Tensor& volume, double scale_factor);

// Shifted DDIM inversion: scaled latent z0 (N, C, d, h, w), y_sem (N, E) -> x_T (same shape
// as z0). o.steps network calls.
Tensor encode_xT(nets::ShiftUNet& net, const diffusion::Schedule& schedule, const Tensor& scaled_latent,
                 const Tensor& y_sem, const diffusion::DdimOptions& o);
Tensor encode_xT(const ConditionalDenoiser& fn, const diffusion::Schedule& schedule, const Tensor& scaled_latent,
                 const Tensor& y_sem, const diffusion::DdimOptions& o);

// Shifted DDIM sampling: x_T (N, C, d, h, w), y_sem (N, E) -> scaled latent (same shape).
Tensor decode_latent(nets::ShiftUNet& net, const diffusion::Schedule& schedule, const Tensor& x_T,
                     const Tensor& y_sem, const diffusion::DdimOptions& o);
Tensor decode_latent(const ConditionalDenoiser& fn, const diffusion::Schedule& schedule, const Tensor& x_T,
                     const Tensor& y_sem, const diffusion::DdimOptions& o);

// scaled latent (N, C, d, h, w) -> AE.decode(latent / scale_factor) (N, 1, D, H, W), not
// clipped. Throws ldae::Error("to_image: ...") when the channels differ from the AE's latent
// channels or scale_factor is not positive and finite.
Tensor to_image(nets::AutoencoderKL& autoencoder, const Tensor& scaled_latent, double scale_factor);

// ---- Reconstruction, variations, manipulation, interpolation ----------------------------

enum class Mode {
  Encoded,   // x_T from the DDIM inversion of the subject's own latent
  Semantic,  // x_T ~ N(0, I): y_sem only
};
// "encoded" / "semantic"; parse_mode throws ldae::Error for anything else.
std::string mode_name(Mode mode);
Mode parse_mode(const std::string& name);

// Everything a reconstruction computed, for metrics and figures.
struct Reconstruction {
  Tensor y_sem;        // (N, E)
  Tensor latent;       // (N, C, d, h, w) the input's scaled latent z0
  Tensor x_T;          // (N, C, d, h, w) encoded or drawn
  Tensor recon_latent; // (N, C, d, h, w) the decoded scaled latent
  Tensor image;        // (N, 1, D, H, W) the reconstruction
  Tensor autoencoder_image;  // (N, 1, D, H, W) AE.decode(mu): the AE's own reconstruction
};

// The whole pipeline on volume (N, 1, D, H, W) in [0, 1], in the model's space (latent, or
// image when model.autoencoder is null; autoencoder_image is then the volume mapped there and
// back), with the options for that space (o.in_space). `gen` draws x_T in Semantic mode (required then, unused in Encoded mode). Throws
// ldae::Error("reconstruct: ...") for a missing network, a volume that differs from
// model.image_shape, and the errors above.
Reconstruction reconstruct(LdaeModel& model, const Tensor& volume, Mode mode, const AutoencodingOptions& o,
                           Generator* gen = nullptr);

// The same pipeline after the two encoders, for a caller that already has the input's scaled
// latent z0 (N, C, d, h, w) and its y_sem (N, E), e.g. one scan reconstructed at several step
// counts and in both modes, whose encoders then run once: x_T, the decoded latent and the image.
// r.latent and r.y_sem are the inputs; r.autoencoder_image is left undefined (to_image(z0) gives
// it). Given reconstruct's z0 and y_sem, the same draws from `gen` give the same bits. Throws
// ldae::Error("reconstruct: ...") for a missing network, a latent or code that does not fit the
// ShiftUNet, and Semantic mode without `gen`.
Reconstruction reconstruct_from(LdaeModel& model, const Tensor& latent, const Tensor& y_sem, Mode mode,
                                const AutoencodingOptions& o, Generator* gen = nullptr);

// Stochastic variations: `count` draws x_T ~ N(0, I) (one after the other from `gen`, each
// of shape latent_shape (N, C, d, h, w)), each decoded with the same y_sem (N, E).
// Returns `count` scaled latents. Draw k is the same whatever `count` is.
std::vector<Tensor> vary(nets::ShiftUNet& net, const diffusion::Schedule& schedule, const Tensor& y_sem,
                         const Shape& latent_shape, int64_t count, const diffusion::DdimOptions& o, Generator& gen);

// The manipulated code (ldae-reference 7.3): with d = E and u = w / |w|,
//   without statistics (mean, std undefined):  y' = y + alpha sqrt(d) u
//   with the probe's z-scoring mean, std (E):  y' = ((y - mean) / std + alpha sqrt(d) u) std + mean
// y: (N, E); w, mean, std: (E) or (1, E). Computed in float64, returned in y's dtype.
// alpha = 0 without statistics returns y's values exactly. Throws ldae::Error
// ("manipulate_code: ...") for mismatched widths, |w| = 0 or a std entry <= 0.
Tensor manipulate_code(const Tensor& y, const Tensor& w, double alpha, const Tensor& mean = Tensor(),
                       const Tensor& std = Tensor());

// Decodes the subject's own x_T (N, C, d, h, w) with manipulate_code(y_sem, ...): the
// scaled latent of the manipulated subject.
Tensor manipulate(nets::ShiftUNet& net, const diffusion::Schedule& schedule, const Tensor& y_sem,
                  const Tensor& x_T, const Tensor& w, double alpha, const diffusion::DdimOptions& o,
                  const Tensor& mean = Tensor(), const Tensor& std = Tensor());

// Spherical interpolation per sample (axis 0), over the flattened other axes:
//   theta = arccos(<a, b> / (|a| |b|)),  slerp = sin((1 - alpha) theta) / sin theta a
//                                              + sin(alpha theta) / sin theta b.
// When sin theta < 1e-6 with theta < pi / 2 (parallel vectors) it is the LERP
// (1 - alpha) a + alpha b, the limit of the formula. alpha = 0 and 1 give a and b exactly.
// Computed in float64. Throws ldae::Error("slerp: ...") for different shapes, a zero
// vector, or antiparallel vectors (theta ~ pi: no unique great circle).
Tensor slerp(const Tensor& a, const Tensor& b, double alpha);

// Interpolation between subjects A and B (ldae-reference 7.4): for each alpha,
// y = (1 - alpha) y_A + alpha y_B (LERP), x_T = slerp(xT_A, xT_B, alpha), decoded.
// y_A, y_B: (N, E); xT_A, xT_B: (N, C, d, h, w), each encoded with its own y.
// Returns one scaled latent per alpha.
std::vector<Tensor> interpolate(nets::ShiftUNet& net, const diffusion::Schedule& schedule, const Tensor& y_A,
                                const Tensor& y_B, const Tensor& xT_A, const Tensor& xT_B,
                                const std::vector<double>& alphas, const diffusion::DdimOptions& o);

}  // namespace ldae::infer
