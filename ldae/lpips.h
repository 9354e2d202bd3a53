// LPIPS with a SqueezeNet 1.1 backbone (the `lpips` package's net='squeeze', version 0.1),
// and the 2.5D perceptual loss of the autoencoder's training (ldae-reference 2.3).
//
// Structure (from the LPIPS paper and package description):
//   scaling layer: x' = (x - shift) / scale, shift = (-0.030, -0.088, -0.188),
//     scale = (0.458, 0.448, 0.450), per RGB channel; a single-channel image broadcasts to
//     3 channels here (each channel gets its own shift/scale);
//   backbone: torchvision squeezenet1_1().features, cut into 7 slices whose outputs are
//     the taps (channels 64, 128, 256, 384, 384, 512, 512):
//       slice1: 0 Conv(3->64, k3, s2), 1 ReLU
//       slice2: 2 MaxPool(3, 2, ceil_mode), 3 Fire(64; 16, 64, 64), 4 Fire(128; 16, 64, 64)
//       slice3: 5 MaxPool, 6 Fire(128; 32, 128, 128), 7 Fire(256; 32, 128, 128)
//       slice4: 8 MaxPool, 9 Fire(256; 48, 192, 192)
//       slice5: 10 Fire(384; 48, 192, 192)
//       slice6: 11 Fire(384; 64, 256, 256)
//       slice7: 12 Fire(512; 64, 256, 256)
//     Fire(in; s, e1, e3): t = relu(squeeze 1x1 in->s); cat(relu(expand1x1 s->e1),
//     relu(expand3x3 s->e3, padding 1)) along channels. Every conv has a bias.
//   per tap k: f = tap / (sqrt(sum_c tap^2) + 1e-10) for both images (unit channel norm
//     per pixel), d = (f_x - f_y)^2, lin_k = 1x1 conv C_k -> 1 without bias and with
//     non-negative weights, spatial mean; LPIPS = sum over the 7 taps.
// State-dict keys (the published lpips layout, so that converted weights load strictly):
//   scaling_layer.shift, scaling_layer.scale (1, 3, 1, 1) buffers;
//   net.slice1.0.{weight,bias}, net.slice2.{3,4}.{squeeze,expand1x1,expand3x3}.{weight,bias},
//   net.slice3.{6,7}.*, net.slice4.9.*, net.slice5.10.*, net.slice6.11.*, net.slice7.12.*;
//   lin{0..6}.model.1.weight (1, C_k, 1, 1).
// The weights of the published network (ImageNet SqueezeNet + the package's squeeze.pth)
// cannot be downloaded here: tools/convert_lpips.py turns the user's copies into one
// safetensors file that load_lpips_weights reads.
//
// Gradients: like the package, the channel norm is sqrt(sum tap^2) + eps, whose gradient is
// not finite at a pixel where every channel of a tap is exactly 0 (PyTorch gives NaN there
// too). The maximum pool is composed of ag:: ops (relu of differences), and sends the
// gradient of a tie to the first maximum of the window in row-major order, as PyTorch's.
#pragma once
#include <array>
#include <memory>
#include <string>
#include <vector>

#include "nn/conv.h"
#include "nn/module.h"
#include "tensor/random.h"

namespace ldae::nets {

// Channels of the 7 taps.
constexpr std::array<int64_t, 7> kLpipsTapChannels = {64, 128, 256, 384, 384, 512, 512};

// A SqueezeNet Fire block (torchvision's key names: squeeze, expand1x1, expand3x3).
class LpipsFire : public nn::Module {
 public:
  LpipsFire(int64_t in, int64_t squeeze, int64_t expand1x1, int64_t expand3x3, Generator& gen);
  // x: (N, in, H, W) -> (N, expand1x1 + expand3x3, H, W)
  Tensor forward(const Tensor& x) const;

 private:
  std::shared_ptr<nn::Conv2d> squeeze_, expand1x1_, expand3x3_;
};

class Lpips : public nn::Module {
 public:
  // Random weights: the convolutions as PyTorch initialises nn.Conv2d, the lin weights
  // uniform in [0, 1/C_k) (non-negative). All parameters are frozen (requires_grad false):
  // the loss differentiates with respect to the images only.
  explicit Lpips(Generator& gen);

  // x, y: (N, 1 or 3, H, W), the same shape, H and W >= 17 (the last max pool needs at least
  // 2 rows); values as the caller has them (the published loss feeds [0, 1] images without
  // rescaling). Returns (N): the LPIPS distance of each pair. Differentiable (ag:: ops).
  Tensor forward(const Tensor& x, const Tensor& y) const;

  // The 7 taps of one image after the scaling layer: (N, C_k, H_k, W_k) each.
  std::vector<Tensor> features(const Tensor& x) const;

  Tensor shift;  // (1, 3, 1, 1) buffer scaling_layer.shift
  Tensor scale;  // (1, 3, 1, 1) buffer scaling_layer.scale

 private:
  std::shared_ptr<nn::Conv2d> conv0_;
  std::array<std::shared_ptr<LpipsFire>, 8> fires_;  // features 3, 4, 6, 7, 9, 10, 11, 12
  std::array<std::shared_ptr<nn::Conv2d>, 7> lins_;
};

// Loads a safetensors file holding exactly the keys above (tools/convert_lpips.py writes
// one) into `lpips`, converting dtypes. Throws ldae::Error naming the file and every
// missing, unexpected or mis-shaped key, or a negative lin weight (LPIPS' lin weights are
// non-negative by construction).
void load_lpips_weights(Lpips& lpips, const std::string& path);

// A permutation of 0..n-1 drawn from gen (n uniform numbers, stably sorted): reproducible
// from (seed, offset); advances gen.offset by n.
std::vector<int64_t> random_permutation(int64_t n, Generator& gen);

// The 2.5D LPIPS loss of ldae-reference 2.3. x, y: (N, C, D, H, W) with C 1 or 3, the same
// shape; every spatial size >= 17. For each spatial axis in the order D, H, W: the N * S
// slices along that axis (each (C, the other two axes) in their original order) form a 2D
// batch; a permutation from gen picks the first floor(N * S * ratio) of them; the axis loss
// is the mean LPIPS of those pairs. Returns the 0-d sum of the three axis losses,
// differentiable with respect to x (and y). ratio in (0, 1]; a ratio that selects no slice
// on some axis is refused (the published code would return NaN). Advances gen.offset by
// N * (D + H + W).
Tensor perceptual_loss_25d(const Tensor& x, const Tensor& y, const Lpips& lpips, double ratio,
                           Generator& gen);

}  // namespace ldae::nets
