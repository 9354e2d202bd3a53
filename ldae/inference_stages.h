// The inference commands as library functions (`ldae reconstruct`, `ldae encode`,
// `ldae vary`, `ldae manipulate`, `ldae interpolate`), on an LDAE already in memory
// (infer::LdaeModel; the commands load it with stages::load_trained_ldae). They read scans from NIfTI files, write their results into a
// folder and print progress to stderr only; no process-global side effects.
//
// A scan is read as the training stages read it: read_nifti, then min-max scaled to [0, 1]
// (data::normalize_intensity); its (X, Y, Z) must equal the model's image_shape. Written
// volumes are in that [0, 1] scale (not clipped), with the input's affine.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "data/nifti.h"
#include "ldae/autoencoding.h"
#include "ldae/train_repr.h"

namespace ldae::stages {

// The trained runs (load_trained_ldae) as an in-memory model, with the preset's image size
// as its image_shape.
infer::LdaeModel model_from_trained(const TrainedLdae& trained);

// A scan as the networks see it: the file's volume scaled to [0, 1] and the tensor
// (1, 1, X, Y, Z). Throws ldae::Error("<op>: FILE: ...") when it cannot be read or its shape
// differs from model.image_shape (when set).
struct Scan {
  data::Volume volume;  // [0, 1], the file's affine
  Tensor tensor;        // (1, 1, X, Y, Z)
};
Scan read_scan(const std::string& op, const infer::LdaeModel& model, const std::string& path);

// A network's image `t` (1, 1, X, Y, Z) as a volume on the grid of `like` (its affine and
// space code), for figures and NIfTI output. `t` is detached and copied.
data::Volume volume_like(const Tensor& t, const data::Volume& like);

// The progress printer the commands use: "\r<label> <phase> i/S" on stderr.
std::function<void(const std::string&, int64_t, int64_t)> stderr_progress(const std::string& label);

// ---- ldae reconstruct ---------------------------------------------------------------------
struct ReconstructRequest {
  std::string image;  // a NIfTI scan
  std::string out;    // the output folder (created)
  infer::Mode mode = infer::Mode::Encoded;
  infer::AutoencodingOptions sampler;  // steps, clamp and shift coefficient
  uint64_t seed = 0;                   // x_T in semantic mode
  bool progress = true;
  nlohmann::ordered_json provenance;   // copied into metrics.json (e.g. the run, checkpoint)
};

struct ImageScores {
  double ssim = 0, psnr = 0, mse = 0;
};

struct ReconstructResult {
  std::string reconstruction, autoencoder_reconstruction, figure, metrics;  // written files
  ImageScores vs_input;        // LDAE reconstruction vs the input
  ImageScores vs_autoencoder;  // LDAE reconstruction vs the AE's own reconstruction
  ImageScores autoencoder_vs_input;
};

// Writes OUT/reconstruction.nii.gz, OUT/autoencoder_reconstruction.nii.gz (decode(mu)),
// OUT/figure.png (rows: input, reconstruction, |reconstruction - input|) and
// OUT/metrics.json (SSIM with ldae/metrics.h's default window, PSNR and MSE, data range 1,
// nothing clipped, ldae-reference 7.6). Throws ldae::Error before any network call for a
// bad scan or an unwritable folder.
ReconstructResult reconstruct_scan(infer::LdaeModel& model, const ReconstructRequest& request);

// ---- ldae encode --------------------------------------------------------------------------
struct EncodeRequest {
  std::string image;     // one NIfTI scan, or
  std::string manifest;  // a manifest (exactly one of the two)
  std::string out;       // the output folder (created)
  bool with_xT = true;   // also the shifted DDIM inversion x_T (sampler.encode_steps calls)
  infer::AutoencodingOptions sampler;
  bool progress = true;
  nlohmann::ordered_json provenance;  // copied into encode.json
};

struct EncodeResult {
  int64_t count = 0;
  std::vector<std::string> codes;  // the written safetensors files, in row order
  std::string features;            // OUT/features.csv (manifest only; else empty)
};

// Per scan OUT/codes/<name>.safetensors with "y_sem" (E) and, with_xT, "x_T" (C, d, h, w)
// (metadata: image, sampler, steps, scale_factor). <name> is the file's name without
// .nii/.nii.gz for --image, <subject>_ses-M<MM> for a manifest row. For a manifest also
// OUT/features.csv: subject,session,diagnosis,age,split,y0,...,y{E-1}, one row per scan in
// manifest order (session in months; age empty when unknown; split from the manifest's
// `split` column when it has one, else empty, with a note on stderr: ldae probe needs the
// split, so encode a latent cache's manifest.csv for it). OUT/encode.json summarises the run.
// Every scan is checked (readable header, shape) before the first network call.
EncodeResult encode_scans(infer::LdaeModel& model, const EncodeRequest& request);

// The features.csv header for codes of width e.
std::string features_header(int64_t e);

// ---- ldae vary ----------------------------------------------------------------------------
struct VaryRequest {
  std::string image;
  std::string out;
  int64_t count = 4;  // K variations
  uint64_t seed = 0;
  infer::AutoencodingOptions sampler;  // decode_steps, clamp, coefficient
  bool progress = true;
  nlohmann::ordered_json provenance;
};

struct VaryResult {
  std::vector<std::string> variations;  // OUT/variation_01.nii.gz, ...
  std::string stddev, figure, summary;
  double mean_voxel_std = 0;  // mean over voxels of the per-voxel std across the variations
};

// One y_sem, K draws x_T ~ N(0, I) from Generator(seed): OUT/variation_<k>.nii.gz,
// OUT/variation_std.nii.gz (per-voxel standard deviation across them), OUT/figure.png
// (input, the AE reconstruction, each variation) and OUT/vary.json.
VaryResult vary_scan(infer::LdaeModel& model, const VaryRequest& request);

// ---- ldae manipulate ----------------------------------------------------------------------
// Moves a scan along an AD-vs-CN probe's direction (ldae-reference 7.3): y_sem and x_T of
// the scan (shifted DDIM inversion), then for each alpha the code
//   y' = ((y - mean) / std + alpha sqrt(E) w / |w|) std + mean      (infer::manipulate_code)
// decoded from the scan's own x_T. The probe's positive class is AD, so alpha > 0 moves
// towards AD (the published probe had CN positive and used alpha < 0 for AD).
struct ManipulateRequest {
  std::string image;                               // a NIfTI scan
  std::string probe;                               // probes.safetensors of `ldae probe` / `ldae evaluate`
  std::string out;
  std::vector<double> alphas = {-2, -1, 0, 1, 2};  // finite, distinct, at most 32
  infer::AutoencodingOptions sampler;              // encode_steps, decode_steps, clamp, coefficient
  bool progress = true;
  nlohmann::ordered_json provenance;
};

struct ManipulatedImage {
  double alpha = 0;
  std::string file;               // OUT/manipulated_alpha_+1.00.nii.gz, ...
  double ad_probability = 0;      // the probe's P(AD) of the image's own y_sem (re-encoded)
  double mean_abs_change = 0;     // mean |image - the decoding at alpha 0| over voxels
};

struct ManipulateResult {
  std::vector<ManipulatedImage> images;  // in the order of the request's alphas
  double input_ad_probability = 0;       // the probe's P(AD) of the scan's y_sem
  std::string figure, summary;
};

// Writes one OUT/manipulated_alpha_<alpha>.nii.gz per alpha, OUT/figure.png (the input,
// the autoencoder's reconstruction, one row per alpha, and the largest alpha's decoding
// minus alpha 0's) and OUT/manipulate.json. The decoding at alpha 0 (the subject's own
// code) is the reference of every change; it is computed even when 0 is not among the
// alphas. Alphas are distinct to two decimals (the file names round to them). Throws ldae::Error("manipulate: ...") before any network call for bad alphas, a
// bad scan, a probe file that cannot be read or whose width is not the encoder's, or an
// unwritable folder.
ManipulateResult manipulate_scan(infer::LdaeModel& model, const ManipulateRequest& request);

// ---- ldae interpolate ---------------------------------------------------------------------
// Fills in visits of one subject between two of its scans (ldae-reference 7.4): y_sem and
// x_T of both visits, then at the time fraction f = (t - t_from) / (t_to - t_from) the code
// (1 - f) y_from + f y_to (LERP) and x_T = slerp(x_T from, x_T to, f), decoded. Where the
// subject has a real scan at t, the prediction is scored against it (SSIM, PSNR, MSE), next
// to two predictions that need no model: the nearer known visit, and the linear blend
// (1 - f) x_from + f x_to of the two scans.
struct InterpolateRequest {
  std::string manifest;      // a cohort's manifest.csv (subject, session, image paths)
  std::string subject;
  int64_t from = -1, to = -1;  // sessions in months; -1: the subject's first / last visit
  std::vector<int64_t> at;   // months to predict, strictly between; empty: the visits between
  std::string out;
  infer::AutoencodingOptions sampler;
  bool progress = true;
  nlohmann::ordered_json provenance;
};

struct InterpolatedVisit {
  int64_t months = 0;
  double fraction = 0;       // (months - from) / (to - from)
  std::string file;          // OUT/interpolated_ses-M<MM>.nii.gz
  bool scored = false;       // the subject has a real scan at these months
  ImageScores ldae, nearest_visit, linear_blend;  // against the real scan (when scored)
  ImageScores ldae_vs_autoencoder;  // against the autoencoder's reconstruction of it (the paper's target)
};

struct InterpolateResult {
  int64_t from = 0, to = 0;
  std::vector<InterpolatedVisit> visits;  // by months
  std::string figure, summary;
};

// Writes one OUT/interpolated_ses-M<MM>.nii.gz per predicted time, OUT/figure.png (the two
// known visits; per predicted time the prediction and, when scored, the real scan and the
// linear blend) and OUT/interpolate.json. Throws ldae::Error("interpolate: ...") before any
// network call when the manifest cannot be read, the subject is not in it or has fewer than
// two visits, from / to are not its visits or from >= to, a time of `at` is not strictly
// between them, there is nothing to predict (no visit between and no `at`), a scan is bad, or
// the folder is unwritable.
InterpolateResult interpolate_visits(infer::LdaeModel& model, const InterpolateRequest& request);

}  // namespace ldae::stages
