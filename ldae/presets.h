// The three sizes every LDAE network is built at (one place for all preset values):
//   tiny    a few channels on a 16x20x16 image: unit tests, seconds on a laptop
//   course  a 64x80x64 image (the course's downsampled brains), trainable on a CPU
//   paper   the published configuration on a 128x160x128 image
#pragma once
#include <string>
#include <vector>

#include "ldae/attention_semantic_encoder.h"
#include "ldae/autoencoder_kl.h"
#include "ldae/convnext.h"
#include "ldae/patch_discriminator.h"
#include "ldae/shift_unet.h"
#include "tensor/tensor.h"

namespace ldae::nets {

// "tiny", "course", "paper".
const std::vector<std::string>& preset_names();

// Throws ldae::Error naming the valid presets unless `preset` is one of them.
void check_preset(const std::string& preset);

// The image (1, 1, D, H, W) a network sees at this preset.
Shape preset_image_shape(const std::string& preset);

// The autoencoder's options at this preset.
AutoencoderKLOptions autoencoder_kl_preset(const std::string& preset);

// The 2.5D semantic encoder at this preset. It sees the preset image's axial slices
// (axial_slices: Z slices of X x Y), so seq_len = Z: tiny 16 slices of 16x20, course 64 of
// 64x80, paper 128 of 128x160 (the published encoder, ConvNeXt-Small).
AttentionSemanticEncoderOptions attention_semantic_encoder_preset(const std::string& preset);

// The encoder's backbone alone (1-channel stem, no final Linear) at this preset; paper is
// the published ConvNeXt-Small of tests/reference/state_dicts/convnext.txt.
ConvNeXtOptions convnext_preset(const std::string& preset);
// The stage-3 ShiftUNet as `ldae train-repr` builds it: shift_unet_options(preset) with
// latent_dim = the semantic encoder's emb_chans (tiny 32, course 256, paper 768), so that
// the encoder's y_sem is what label_emb reads.
ShiftUNetOptions shift_unet_preset(const std::string& preset);

// The image-space diffusion autoencoder's denoiser (the "DAE" baseline of the paper, and the
// speed comparison's image network): the latent network's options `o` on the image itself,
// one input/output channel and 2x2x2 resampling (the image is about isotropic; the latent
// UNet's published (1, 2, 2) resampling would leave the depth axis at full size).
UNetOptions image_space_unet_options(UNetOptions o);

// The stage-1 discriminator's options at this preset (each gives at least one logit per
// axis on the preset's image).
PatchDiscriminatorOptions patch_discriminator_preset(const std::string& preset);

}  // namespace ldae::nets
