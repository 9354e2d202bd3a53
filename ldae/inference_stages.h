// The inference commands as library functions (`ldae reconstruct`, `ldae encode`,
// `ldae vary`), on an LDAE already in memory (infer::LdaeModel; the commands load it with
// stages::load_trained_ldae). They read scans from NIfTI files, write their results into a
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

}  // namespace ldae::stages
