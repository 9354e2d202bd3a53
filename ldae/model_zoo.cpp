#include "ldae/model_zoo.h"

#include <nlohmann/json.hpp>

#include <cmath>

#include "autograd/functions.h"
#include "ldae/attention_semantic_encoder.h"
#include "ldae/autoencoder_kl.h"
#include "ldae/convnext.h"
#include "ldae/patch_discriminator.h"
#include "ldae/presets.h"
#include "ldae/shift_unet.h"
#include "ldae/unet.h"
#include "nn/state_dict_listing.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace ldae::nets {

namespace {

// The latent (1, C, d, h, w) the denoisers see for an image at `preset`.
Shape latent_for(const std::string& preset, const Shape& image) {
  return autoencoder_kl_latent_shape(autoencoder_kl_preset(preset), image);
}

// One random timestep per sample, as a float tensor of whole numbers in [0, 1000).
Tensor example_timesteps(int64_t n, Generator& gen) {
  Tensor t = rand({n}, gen, DType::F32, 0.0, 1000.0);
  float* p = t.mutable_data<float>();
  for (int64_t i = 0; i < n; ++i) p[i] = std::floor(p[i]);
  return t;
}

// {"network", "preset", "arguments", "inputs"} as text (see ModelEntry::arguments_json).
std::string arguments_text(const std::string& net, const std::string& preset, nlohmann::json arguments,
                           nlohmann::json inputs) {
  nlohmann::ordered_json j;
  j["network"] = net;
  j["preset"] = preset;
  j["arguments"] = std::move(arguments);
  j["inputs"] = std::move(inputs);
  return j.dump(2) + "\n";
}

nlohmann::json unet_arguments(const UNetOptions& o) {
  return {{"input_channel", o.input_channel},
          {"base_channel", o.base_channel},
          {"channel_multiplier", o.channel_multiplier},
          {"num_residual_blocks_of_a_block", o.num_residual_blocks_of_a_block},
          {"attention_resolutions", o.attention_resolutions},
          {"num_heads", o.num_heads},
          {"head_channel", o.head_channel},
          {"use_new_attention_order", o.use_new_attention_order},
          {"dropout", o.dropout},
          {"dims", o.dims},
          // not published arguments (reference-cases.md): the published values are 32 and false
          {"num_groups", o.num_groups},
          {"isotropic_resampling", o.isotropic_resampling}};
}

// The ConvNeXt slices and the encoder's volume of the preset's image (1, 1, X, Y, Z).
Shape slices_shape(const Shape& image) { return {image[4], 1, image[2], image[3]}; }
Shape axial_shape(const Shape& image) { return {1, 1, image[4], image[2], image[3]}; }

}  // namespace

const std::vector<ModelEntry>& model_zoo() {
  static const std::vector<ModelEntry> zoo = {
      {"autoencoder_kl", "stage-1 variational autoencoder (monai-generative AutoencoderKL layout)",
       [](const std::string& preset, Generator& gen) -> std::shared_ptr<nn::Module> {
         return std::make_shared<AutoencoderKL>(autoencoder_kl_preset(preset), gen);
       },
       [](const std::string& preset) {
         const AutoencoderKLOptions o = autoencoder_kl_preset(preset);
         return "latent:   " + nn::listing_shape(autoencoder_kl_latent_shape(o, preset_image_shape(preset))) + "\n";
       },
       // x: (1, 1, D, H, W) -> decode(z_mu): the reconstruction
       [](const nn::Module& m, const std::string&, const Shape& image, Generator& gen) {
         return dynamic_cast<const AutoencoderKL&>(m).reconstruct(rand(image, gen));
       },
       /*fully_convolutional=*/true,
       [](const std::string& preset) {
         const AutoencoderKLOptions o = autoencoder_kl_preset(preset);
         const nlohmann::json args = {{"spatial_dims", o.spatial_dims},
                                      {"in_channels", o.in_channels},
                                      {"out_channels", o.out_channels},
                                      {"num_channels", o.num_channels},
                                      {"latent_channels", o.latent_channels},
                                      {"num_res_blocks", o.num_res_blocks},
                                      {"norm_num_groups", o.norm_num_groups},
                                      {"norm_eps", o.norm_eps},
                                      {"attention_levels", o.attention_levels},
                                      {"with_encoder_nonlocal_attn", o.with_encoder_nonlocal_attn},
                                      {"with_decoder_nonlocal_attn", o.with_decoder_nonlocal_attn},
                                      {"method", "reconstruct"}};
         return arguments_text("autoencoder_kl", preset, args, {{"x", preset_image_shape(preset)}});
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
       },
       // x: (1, 1, D, H, W) -> the patch logits
       [](const nn::Module& m, const std::string&, const Shape& image, Generator& gen) {
         return dynamic_cast<const PatchDiscriminator&>(m).forward(rand(image, gen));
       },
       // not scaled: the stride-1 layers make the sizes n/8 - 1, n/8 - 2, not proportional (and the
       // paper's full pass fits in memory)
       /*fully_convolutional=*/false,
       [](const std::string& preset) {
         const PatchDiscriminatorOptions o = patch_discriminator_preset(preset);
         nlohmann::json activation = nlohmann::json::array({"LEAKYRELU", {{"negative_slope", o.negative_slope}}});
         const nlohmann::json args = {{"spatial_dims", o.spatial_dims},
                                      {"num_layers_d", o.num_layers_d},
                                      {"num_channels", o.num_channels},
                                      {"in_channels", o.in_channels},
                                      {"out_channels", o.out_channels},
                                      {"kernel_size", o.kernel_size},
                                      {"activation", activation},
                                      {"norm", o.norm},
                                      {"bias", o.bias},
                                      {"padding", o.padding},
                                      {"dropout", o.dropout}};
         return arguments_text("patch_discriminator", preset, args, {{"x", preset_image_shape(preset)}});
       }},
      {"unet", "stage-2 latent denoiser UNet (guided-diffusion / PDAE layout)",
       [](const std::string& preset, Generator& gen) -> std::shared_ptr<nn::Module> {
         return std::make_shared<UNet>(unet_options(preset), gen);
       },
       nullptr,
       // z_t: the latent of the preset's image, t: (1,) -> predicted noise
       [](const nn::Module& m, const std::string& preset, const Shape& image, Generator& gen) {
         return dynamic_cast<const UNet&>(m).forward(randn(latent_for(preset, image), gen),
                                                     example_timesteps(1, gen));
       },
       false,
       [](const std::string& preset) {
         return arguments_text("unet", preset, unet_arguments(unet_options(preset)),
                               {{"x_t", latent_for(preset, preset_image_shape(preset))}, {"t", Shape{1}}});
       }},
      {"shift_unet", "stage-3 gradient estimator ShiftUNet (the frozen UNet plus the shift branch)",
       [](const std::string& preset, Generator& gen) -> std::shared_ptr<nn::Module> {
         return std::make_shared<ShiftUNet>(shift_unet_preset(preset), gen);
       },
       nullptr,
       // z_t, t: (1,), y_sem: (1, latent_dim) -> eps + shift (both outputs, as the stage-3 loss
       // combines them)
       [](const nn::Module& m, const std::string& preset, const Shape& image, Generator& gen) {
         const auto& net = dynamic_cast<const ShiftUNet&>(m);
         const Tensor y_sem = randn({1, net.options().latent_dim}, gen);
         const auto [eps, shift] = net.forward(randn(latent_for(preset, image), gen), example_timesteps(1, gen), y_sem);
         return ag::add(eps, shift);
       },
       false,
       [](const std::string& preset) {
         const ShiftUNetOptions o = shift_unet_preset(preset);
         nlohmann::json args = unet_arguments(o.unet);
         args["latent_dim"] = o.latent_dim;
         return arguments_text("shift_unet", preset, args,
                               {{"x_t", latent_for(preset, preset_image_shape(preset))},
                                {"t", Shape{1}},
                                {"y_sem", Shape{1, o.latent_dim}}});
       }},
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
       },
       // every axial slice of one image as a batch: (Z, 1, X, Y) -> features (Z, dims[-1])
       [](const nn::Module& m, const std::string&, const Shape& image, Generator& gen) {
         return dynamic_cast<const ConvNeXt&>(m).forward(rand(slices_shape(image), gen));
       },
       false,
       [](const std::string& preset) {
         const ConvNeXtOptions o = convnext_preset(preset);
         const nlohmann::json args = {{"dims", o.dims},
                                      {"depths", o.depths},
                                      {"layer_scale", o.layer_scale},
                                      {"stochastic_depth_prob", o.stochastic_depth_prob},
                                      {"in_channels", o.in_channels}};
         return arguments_text("convnext", preset, args, {{"x", slices_shape(preset_image_shape(preset))}});
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
       },
       // the image in the axial slice layout (1, 1, Z, X, Y) -> y_sem (1, emb_chans)
       [](const nn::Module& m, const std::string&, const Shape& image, Generator& gen) {
         return dynamic_cast<const AttentionSemanticEncoder&>(m).forward(rand(axial_shape(image), gen));
       },
       false,
       [](const std::string& preset) {
         const AttentionSemanticEncoderOptions o = attention_semantic_encoder_preset(preset);
         const nlohmann::json args = {{"emb_chans", o.emb_chans},
                                      {"num_heads", o.num_heads},
                                      {"attn_dropout", o.attn_dropout},
                                      {"seq_len", o.seq_len},
                                      {"backbone_dims", o.backbone_dims},
                                      {"backbone_depths", o.backbone_depths},
                                      {"layer_scale", o.layer_scale},
                                      {"stochastic_depth_prob", o.stochastic_depth_prob},
                                      {"grayscale", o.grayscale}};
         return arguments_text("attention_semantic_encoder", preset, args,
                               {{"x", axial_shape(preset_image_shape(preset))}});
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
