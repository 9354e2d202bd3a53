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

}  // namespace ldae::nets
