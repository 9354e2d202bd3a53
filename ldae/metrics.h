// Image metrics for the evaluation and the validation of the training stages
// (ldae-reference 7.6): 3D SSIM and MS-SSIM as monai-generative's SSIMMetric /
// MultiScaleSSIMMetric compute them, PSNR and MSE. Evaluation only: no autograd (a tensor
// that requires grad is read through detach()), every value is computed in float64 with
// plain loops whatever the input dtype, on the CPU (a CUDA input is copied to the host).
//
// Inputs a, b: (N, C, D, H, W), the same shape, F32 or F64. The LDAE volumes have C = 1;
// with C > 1 every channel is filtered separately and the per-sample value is the mean
// over channels and voxels (as MONAI's view(B, -1).mean(1)). Non-finite inputs are not
// refused: NaN propagates into the values.
//
// SSIM, exact definition (the conventions the description leaves open are marked *):
//   g[i] = exp(-((i - (k - 1) / 2) / sigma)^2 / 2), i = 0..k-1, divided by its sum: a 1D
//     Gaussian of k taps centred on the middle of the window. (*) For an even k (4) the
//     centre falls between two taps: offsets -1.5, -0.5, 0.5, 1.5 (MONAI's
//     arange((1 - k) / 2, (1 + k) / 2)), so the window is symmetric, not shifted by half a
//     voxel to either side.
//   G = g (x) g (x) g, the separable 3D window (sums to 1);
//   f * G is the valid (unpadded) cross-correlation: output (D-k+1, H-k+1, W-k+1);
//   mu_a = a*G, mu_b = b*G, s_aa = (a a)*G - mu_a^2, s_bb = (b b)*G - mu_b^2,
//   s_ab = (a b)*G - mu_a mu_b   (*) the biased (window-weighted) moments: no N/(N-1)
//     correction, as MONAI (scikit-image's use_sample_covariance is not applied);
//   c1 = (k1 L)^2, c2 = (k2 L)^2, L the data range;
//   cs  = (2 s_ab + c2) / (s_aa + s_bb + c2)
//   ssim = (2 mu_a mu_b + c1) / (mu_a^2 + mu_b^2 + c1) * cs
//   per sample: the mean of the ssim map over channels and the valid volume.
// Defaults: k = 3 (the published code at HEAD), sigma 1.5, L = 1, k1 = 0.01, k2 = 0.03.
// The paper's numbers were presumably computed with k = 4 (SsimOptions::paper()).
//
// MS-SSIM (MONAI's compute_ms_ssim): for scale s = 0..S-1 (S = weights.size()), compute the
// maps above on the current volumes; m_s = relu(mean cs) for s < S-1 and
// m_{S-1} = relu(mean ssim) (per sample means); between scales both volumes are
// average-pooled with kernel 2, stride 2 (odd sizes floor, as F.avg_pool3d). The value is
// prod_s m_s ^ w_s. Default weights (0.0448, 0.2856, 0.3001, 0.2363, 0.1333), 5 scales.
// (*) Size rule: every axis of the coarsest scale (the size halved, floor, S-1 times) must
// be at least k, so that the valid convolution is not empty. For 5 scales this is MONAI's
// own check (size // 16 > k - 1); for other scale counts MONAI's check (size //
// (S-1)^2 > k - 1) differs, and ours is the one the convolution actually needs.
//
// PSNR (MONAI's PSNRMetric): per sample 20 log10(L) - 10 log10(mse), +inf when the
// volumes are identical. MSE: per sample the mean of (a - b)^2 over all non-batch axes.
#pragma once
#include <vector>

#include "tensor/tensor.h"

namespace ldae::metrics {

// Per-sample values (N of them) and their mean (for PSNR the mean is +inf as soon as one
// sample is identical to its reference; average per_sample yourself to treat that otherwise).
struct MetricResult {
  std::vector<double> per_sample;
  double mean = 0.0;
};

struct SsimOptions {
  int64_t kernel_size = 3;  // Gaussian window size along each axis, >= 1
  double kernel_sigma = 1.5;
  double data_range = 1.0;
  double k1 = 0.01;
  double k2 = 0.03;
  // Published code at HEAD (ldae-reference 7.6): kernel 3, sigma 1.5.
  static SsimOptions head() { return SsimOptions{}; }
  // The window the paper's numbers were presumably computed with: kernel 4, sigma 1.5.
  static SsimOptions paper() {
    SsimOptions o;
    o.kernel_size = 4;
    return o;
  }
};

struct MsSsimOptions {
  SsimOptions ssim;
  // One weight per scale; fewer entries = fewer scales (give the weights you want, e.g. the
  // first ones renormalised). Must be non-empty.
  std::vector<double> weights = {0.0448, 0.2856, 0.3001, 0.2363, 0.1333};
};

// The normalised 1D Gaussian window g of the definition above (k entries, sum 1).
std::vector<double> gaussian_window(int64_t kernel_size, double sigma);

// Structural similarity of a and b, (N, C, D, H, W) each (see the definition above).
// Throws ldae::Error("ssim3d: ...") on undefined tensors, other ranks, mismatched shapes, a
// dtype other than F32/F64, a spatial axis shorter than the kernel, kernel_size < 1,
// sigma <= 0 or data_range <= 0.
MetricResult ssim3d(const Tensor& a, const Tensor& b, const SsimOptions& options = SsimOptions());

// Multi-scale SSIM (see above). Throws ldae::Error("ms_ssim3d: ...") on the errors of ssim3d,
// on empty or negative weights, and when a volume is too small for the number of scales
// (the message names the smallest size that works).
MetricResult ms_ssim3d(const Tensor& a, const Tensor& b,
                       const MsSsimOptions& options = MsSsimOptions());

// Peak signal-to-noise ratio in dB, per sample; +inf for identical samples.
// a, b: the same shape, at least 1-d (axis 0 is the batch). Throws ldae::Error("psnr: ...").
MetricResult psnr(const Tensor& a, const Tensor& b, double data_range = 1.0);

// Mean squared error per sample (axis 0 is the batch). Throws ldae::Error("mse: ...").
MetricResult mse(const Tensor& a, const Tensor& b);

}  // namespace ldae::metrics
