#include "ldae/model_zoo.h"

#include "ldae/autoencoder_kl.h"
#include "ldae/patch_discriminator.h"
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
      {"patch_discriminator", "stage-1 3D PatchGAN discriminator (monai-generative PatchDiscriminator layout)",
       [](const std::string& preset, Generator& gen) -> std::shared_ptr<nn::Module> {
         return std::make_shared<PatchDiscriminator>(patch_discriminator_preset(preset), gen);
       },
       [](const std::string& preset) {
         return "logits:   " +
                nn::listing_shape(patch_discriminator_output_shape(
                    patch_discriminator_preset(preset), preset_image_shape(preset))) +
                "\n";
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
