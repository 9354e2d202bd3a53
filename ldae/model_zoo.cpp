#include "ldae/model_zoo.h"

#include "ldae/attention_semantic_encoder.h"
#include "ldae/autoencoder_kl.h"
#include "ldae/convnext.h"
#include "ldae/presets.h"
#include "ldae/shift_unet.h"
#include "ldae/unet.h"
#include "nn/state_dict_listing.h"
#include "tensor/error.h"

namespace ldae::nets {

const std::vector<ModelEntry>& model_zoo() {
  static const std::vector<ModelEntry> zoo = {
      {"autoencoder_kl", "stage-1 variational autoencoder (monai-generative AutoencoderKL layout)",
       [](const std::string& preset, Generator& gen) -> std::shared_ptr<nn::Module> {
         return std::make_shared<AutoencoderKL>(autoencoder_kl_preset(preset), gen);
       },
       [](const std::string& preset) {
         const AutoencoderKLOptions o = autoencoder_kl_preset(preset);
         return "latent:   " + nn::listing_shape(autoencoder_kl_latent_shape(o, preset_image_shape(preset))) + "\n";
       }},
      {"unet", "stage-2 latent denoiser UNet (guided-diffusion / PDAE layout)",
       [](const std::string& preset, Generator& gen) -> std::shared_ptr<nn::Module> {
         return std::make_shared<UNet>(unet_options(preset), gen);
       },
       nullptr},
      {"shift_unet", "stage-3 gradient estimator ShiftUNet (the frozen UNet plus the shift branch)",
       [](const std::string& preset, Generator& gen) -> std::shared_ptr<nn::Module> {
         return std::make_shared<ShiftUNet>(shift_unet_options(preset), gen);
       },
       nullptr},
      {"convnext",
       "the semantic encoder's 2D backbone (torchvision ConvNeXt, 1-channel stem, no final Linear)",
       [](const std::string& preset, Generator& gen) -> std::shared_ptr<nn::Module> {
         return std::make_shared<ConvNeXt>(convnext_preset(preset), gen);
       },
       [](const std::string& preset) {
         const Shape img = preset_image_shape(preset);
         const std::vector<int64_t> hw = convnext_feature_size(convnext_preset(preset), img[2], img[3]);
         return "slice:    " + std::to_string(img[2]) + "x" + std::to_string(img[3]) + " -> final map " +
                std::to_string(hw[0]) + "x" + std::to_string(hw[1]) + "\n";
       }},
      {"attention_semantic_encoder",
       "stage-3 2.5D semantic encoder (ConvNeXt per axial slice, attention pooling)",
       [](const std::string& preset, Generator& gen) -> std::shared_ptr<nn::Module> {
         return std::make_shared<AttentionSemanticEncoder>(attention_semantic_encoder_preset(preset), gen);
       },
       [](const std::string& preset) {
         const Shape img = preset_image_shape(preset);
         const AttentionSemanticEncoderOptions o = attention_semantic_encoder_preset(preset);
         return "slices:   " + std::to_string(img[4]) + " axial slices of " + std::to_string(img[2]) + "x" +
                std::to_string(img[3]) + "\ny_sem:    " + std::to_string(o.emb_chans) + "\n";
       }},
  };
  return zoo;
}

std::string model_names() {
  std::string s;
  for (const auto& e : model_zoo()) s += (s.empty() ? "" : ", ") + e.name;
  return s;
}

const ModelEntry& find_model(const std::string& name) {
  for (const auto& e : model_zoo())
    if (e.name == name) return e;
  fail("model", "unknown network '" + name + "' (valid: " + model_names() + ")");
}

}  // namespace ldae::nets
