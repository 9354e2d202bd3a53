#include "ldae/presets.h"

#include "tensor/error.h"

namespace ldae::nets {

const std::vector<std::string>& preset_names() {
  static const std::vector<std::string> names = {"tiny", "course", "paper"};
  return names;
}

void check_preset(const std::string& preset) {
  for (const auto& n : preset_names())
    if (n == preset) return;
  fail("preset", "unknown preset '" + preset + "' (valid: tiny, course, paper)");
}

Shape preset_image_shape(const std::string& preset) {
  check_preset(preset);
  if (preset == "tiny") return {1, 1, 16, 20, 16};
  if (preset == "course") return {1, 1, 64, 80, 64};
  return {1, 1, 128, 160, 128};  // paper: the MNI-registered brains of ldae-reference 1.1
}

AutoencoderKLOptions autoencoder_kl_preset(const std::string& preset) {
  check_preset(preset);
  if (preset == "paper") return paper_autoencoder_kl_options();  // ldae-reference 2.1
  AutoencoderKLOptions o = paper_autoencoder_kl_options();      // same layout, no attention
  if (preset == "tiny") {
    o.num_channels = {8, 8};             // 2 levels: one downsampling, latent 3x8x10x8
    o.num_res_blocks = {1};              // one ResBlock per level
    o.norm_num_groups = 4;               // 8 channels in groups of 2
    o.attention_levels = {false, false};
  } else {                               // course
    o.num_channels = {16, 32, 32};       // 3 levels: two downsamplings, latent 3x16x20x16
    o.num_res_blocks = {1};              // one ResBlock per level (CPU budget)
    o.norm_num_groups = 8;               // groups of 2 to 4 channels
    o.attention_levels = {false, false, false};
  }
  return o;
}

AttentionSemanticEncoderOptions attention_semantic_encoder_preset(const std::string& preset) {
  check_preset(preset);
  AttentionSemanticEncoderOptions o = paper_attention_semantic_encoder_options();  // ldae-reference 5.1
  o.seq_len = preset_image_shape(preset)[4];  // one positional-encoding row per axial slice
  if (preset == "paper") return o;
  o.stochastic_depth_prob = 0.1;              // torchvision's value for its shallowest ConvNeXt
  if (preset == "tiny") {
    // 16x20 slices: stem 4x5, then 2x2 and 1x1; a fourth stage would leave an empty map.
    o.backbone_dims = {8, 16, 32};
    o.backbone_depths = {1, 1, 1};
    o.emb_chans = 32;
    o.num_heads = 4;                          // heads of 8 channels
  } else {                                    // course
    // 64x80 slices: stem 16x20, then 8x10, 4x5, 2x2.
    o.backbone_dims = {32, 64, 128, 256};
    o.backbone_depths = {1, 1, 3, 1};         // ConvNeXt's 1:1:3:1 stage ratio
    o.emb_chans = 256;
    o.num_heads = 8;                          // heads of 32 channels
  }
  return o;
}

ShiftUNetOptions shift_unet_preset(const std::string& preset) {
  ShiftUNetOptions o = shift_unet_options(preset);  // checks the name
  o.latent_dim = attention_semantic_encoder_preset(preset).emb_chans;
  return o;
}

UNetOptions image_space_unet_options(UNetOptions o) {
  o.input_channel = 1;              // the volume (N, 1, X, Y, Z) instead of the latent's C channels
  o.isotropic_resampling = true;    // downsample X, Y and Z alike
  return o;
}

PatchDiscriminatorOptions patch_discriminator_preset(const std::string& preset) {
  check_preset(preset);
  PatchDiscriminatorOptions o = paper_patch_discriminator_options();  // ldae-reference 2.2
  if (preset == "tiny") {
    o.num_channels = 8;  // 8 -> 16 -> 32 channels; 16x20x16 -> 2x3x2 logits
    o.num_layers_d = 2;
  } else if (preset == "course") {
    o.num_channels = 32;  // the library default; 64x80x64 -> 6x8x6 logits
  }
  return o;
}

ConvNeXtOptions convnext_preset(const std::string& preset) {
  return backbone_options(attention_semantic_encoder_preset(preset));
}

}  // namespace ldae::nets
