// The whole-network entries of the reference runner's module table (reference-cases.md,
// "Whole networks"): the metadata holds the published constructor arguments, all of them
// required (a missing one fails the case), plus two extensions of the UNets that default to
// the published behaviour: num_groups (32) and isotropic_resampling (false).
//
// The PatchDiscriminator, ConvNeXt and AttentionSemanticEncoder entries are compiled only
// when their headers exist; without them such cases are SKIP (module not implemented).
// CMake passes LDAE_REFERENCE_SEES_<NET> for each header it found (see CMakeLists.txt).
#include <memory>
#include <string>
#include <vector>

#include "ldae/autoencoder_kl.h"
#include "ldae/lpips.h"
#include "ldae/shift_unet.h"
#include "ldae/unet.h"
#include "tests/reference/module_entry.h"

#if __has_include("ldae/patch_discriminator.h")
#include "ldae/patch_discriminator.h"
#define LDAE_REFERENCE_HAS_PATCH_DISCRIMINATOR 1
#endif
#if defined(LDAE_REFERENCE_HAS_PATCH_DISCRIMINATOR) != defined(LDAE_REFERENCE_SEES_PATCH_DISCRIMINATOR)
#error "ldae/patch_discriminator.h appeared or vanished since CMake ran: re-run cmake (see tests/reference/CMakeLists.txt)"
#endif
#if __has_include("ldae/convnext.h")
#include "ldae/convnext.h"
#define LDAE_REFERENCE_HAS_CONVNEXT 1
#endif
#if defined(LDAE_REFERENCE_HAS_CONVNEXT) != defined(LDAE_REFERENCE_SEES_CONVNEXT)
#error "ldae/convnext.h appeared or vanished since CMake ran: re-run cmake (see tests/reference/CMakeLists.txt)"
#endif
#if __has_include("ldae/attention_semantic_encoder.h")
#include "ldae/attention_semantic_encoder.h"
#define LDAE_REFERENCE_HAS_ATTENTION_SEMANTIC_ENCODER 1
#endif
#if defined(LDAE_REFERENCE_HAS_ATTENTION_SEMANTIC_ENCODER) != defined(LDAE_REFERENCE_SEES_ATTENTION_SEMANTIC_ENCODER)
#error "ldae/attention_semantic_encoder.h appeared or vanished since CMake ran: re-run cmake (see tests/reference/CMakeLists.txt)"
#endif

namespace ldae::reference {

namespace {

int as_int(int64_t v) { return static_cast<int>(v); }

// Cases run in eval mode; dropout generators exist only so that networks with p > 0 build.
std::shared_ptr<Generator> network_dropout_gen() { return std::make_shared<Generator>(1); }

ModuleEntry autoencoder_kl_entry() {
  return {1, 1, [](const Kwargs& kw) {
            nets::AutoencoderKLOptions o;
            o.spatial_dims = as_int(kw.get_int("spatial_dims"));
            o.in_channels = kw.get_int("in_channels");
            o.out_channels = kw.get_int("out_channels");
            o.num_channels = kw.get_ints("num_channels");
            o.latent_channels = kw.get_int("latent_channels");
            o.num_res_blocks = kw.get_ints("num_res_blocks");  // an int or one per level
            o.norm_num_groups = kw.get_int("norm_num_groups");
            o.norm_eps = kw.get_double("norm_eps");
            o.attention_levels = kw.get_bools("attention_levels");
            o.with_encoder_nonlocal_attn = kw.get_bool("with_encoder_nonlocal_attn");
            o.with_decoder_nonlocal_attn = kw.get_bool("with_decoder_nonlocal_attn");
            const std::string method = kw.get_string("method");
            auto m = std::make_shared<nets::AutoencoderKL>(o, module_init_gen());
            std::function<std::vector<Tensor>(const ModuleInputs&)> f;
            if (method == "reconstruct") {
              f = [m](const ModuleInputs& in) { return std::vector<Tensor>{m->reconstruct(in[0])}; };
            } else if (method == "encode") {  // out0 z_mu, out1 z_sigma
              f = [m](const ModuleInputs& in) {
                auto [mu, sigma] = m->encode(in[0]);
                return std::vector<Tensor>{mu, sigma};
              };
            } else if (method == "decode") {
              f = [m](const ModuleInputs& in) { return std::vector<Tensor>{m->decode(in[0])}; };
            } else {
              throw Unsupported("method=" + method + " (reconstruct, encode or decode)");
            }
            return BuiltModule{m, f};
          }};
}

nets::UNetOptions unet_options(const Kwargs& kw) {
  nets::UNetOptions o;
  o.input_channel = kw.get_int("input_channel");
  o.base_channel = kw.get_int("base_channel");
  o.channel_multiplier = kw.get_ints("channel_multiplier");
  o.num_residual_blocks_of_a_block = kw.get_int("num_residual_blocks_of_a_block");
  o.attention_resolutions = kw.get_ints("attention_resolutions");
  o.num_heads = kw.get_int("num_heads");
  o.head_channel = kw.get_int("head_channel");
  o.use_new_attention_order = kw.get_bool("use_new_attention_order");
  o.dropout = kw.get_double("dropout");
  o.dims = as_int(kw.get_int("dims"));
  // Extensions (not published arguments): the published code hard-codes 32 groups and
  // resamples (1, 2, 2) in 3D.
  o.num_groups = kw.get_int("num_groups", 32);
  o.isotropic_resampling = kw.get_bool("isotropic_resampling", false);
  return o;
}

// in0 z_t, in1 t (whole numbers) -> out eps
ModuleEntry unet_entry() {
  return {2, 2, [](const Kwargs& kw) {
            auto m = std::make_shared<nets::UNet>(unet_options(kw), module_init_gen(), network_dropout_gen());
            return BuiltModule{m, [m](const ModuleInputs& in) { return std::vector<Tensor>{m->forward(in[0], in[1])}; }};
          }};
}

// in0 z_t, in1 t, in2 y_sem -> out0 eps, out1 shift
ModuleEntry shift_unet_entry() {
  return {3, 3, [](const Kwargs& kw) {
            nets::ShiftUNetOptions o;
            o.unet = unet_options(kw);
            o.latent_dim = kw.get_int("latent_dim");
            auto m = std::make_shared<nets::ShiftUNet>(o, module_init_gen(), network_dropout_gen());
            return BuiltModule{m, [m](const ModuleInputs& in) {
                                 auto [eps, shift] = m->forward(in[0], in[1], in[2]);
                                 return std::vector<Tensor>{eps, shift};
                               }};
          }};
}

#ifdef LDAE_REFERENCE_HAS_PATCH_DISCRIMINATOR
ModuleEntry patch_discriminator_entry() {
  return {1, 1, [](const Kwargs& kw) {
            nets::PatchDiscriminatorOptions o;
            o.spatial_dims = as_int(kw.get_int("spatial_dims"));
            o.num_layers_d = as_int(kw.get_int("num_layers_d"));
            o.num_channels = kw.get_int("num_channels");
            o.in_channels = kw.get_int("in_channels");
            o.out_channels = kw.get_int("out_channels");
            o.kernel_size = as_int(kw.get_int("kernel_size"));
            // activation: ["LEAKYRELU", {"negative_slope": s}], the only one supported.
            const nlohmann::json act = kw.get_json("activation");
            if (!act.is_array() || act.size() != 2 || act[0] != "LEAKYRELU" || !act[1].is_object() ||
                !act[1].contains("negative_slope") || !act[1]["negative_slope"].is_number() || act[1].size() != 1)
              throw Unsupported("activation=" + act.dump());
            o.negative_slope = act[1]["negative_slope"].get<double>();
            o.norm = kw.get_string("norm");
            if (o.norm != "BATCH") throw Unsupported("norm=" + o.norm);
            o.bias = kw.get_bool("bias");
            o.padding = as_int(kw.get_int("padding"));
            auto m = std::make_shared<nets::PatchDiscriminator>(o, module_init_gen());
            return BuiltModule{m, [m](const ModuleInputs& in) { return std::vector<Tensor>{m->forward(in[0])}; }};
          }};
}
#endif

#ifdef LDAE_REFERENCE_HAS_CONVNEXT
// in0 (N, C, H, W) -> out (N, dims.back())
ModuleEntry convnext_entry() {
  return {1, 1, [](const Kwargs& kw) {
            nets::ConvNeXtOptions o;
            o.dims = kw.get_ints("dims");
            o.depths = kw.get_ints("depths");
            o.layer_scale = kw.get_double("layer_scale");
            o.stochastic_depth_prob = kw.get_double("stochastic_depth_prob");
            o.in_channels = kw.get_int("in_channels");
            auto m = std::make_shared<nets::ConvNeXt>(o, module_init_gen(), network_dropout_gen());
            return BuiltModule{m, [m](const ModuleInputs& in) { return std::vector<Tensor>{m->forward(in[0])}; }};
          }};
}
#endif

#ifdef LDAE_REFERENCE_HAS_ATTENTION_SEMANTIC_ENCODER
// in0 (B, 1, S, H, W) -> out (B, emb_chans)
ModuleEntry attention_semantic_encoder_entry() {
  return {1, 1, [](const Kwargs& kw) {
            nets::AttentionSemanticEncoderOptions o;
            o.emb_chans = kw.get_int("emb_chans");
            o.num_heads = kw.get_int("num_heads");
            o.attn_dropout = kw.get_double("attn_dropout");
            o.seq_len = kw.get_int("seq_len");
            o.backbone_dims = kw.get_ints("backbone_dims");
            o.backbone_depths = kw.get_ints("backbone_depths");
            o.layer_scale = kw.get_double("layer_scale");
            o.stochastic_depth_prob = kw.get_double("stochastic_depth_prob");
            o.grayscale = kw.get_bool("grayscale");
            auto m = std::make_shared<nets::AttentionSemanticEncoder>(o, module_init_gen(), network_dropout_gen());
            return BuiltModule{m, [m](const ModuleInputs& in) { return std::vector<Tensor>{m->forward(in[0])}; }};
          }};
}
#endif

// in0, in1 (N, 1 or 3, H, W) -> out (N): the LPIPS (SqueezeNet) distances of ldae/lpips.h; no
// constructor arguments. Used by tests/cli/test_convert_lpips.py (converted weights as param.*).
ModuleEntry lpips_entry() {
  return {2, 2, [](const Kwargs&) {
            auto m = std::make_shared<nets::Lpips>(module_init_gen());
            return BuiltModule{m, [m](const ModuleInputs& in) { return std::vector<Tensor>{m->forward(in[0], in[1])}; }};
          }};
}

}  // namespace

void add_network_entries(std::map<std::string, ModuleEntry>& table) {
  table["autoencoder_kl"] = autoencoder_kl_entry();
  table["unet"] = unet_entry();
  table["shift_unet"] = shift_unet_entry();
  table["lpips"] = lpips_entry();
#ifdef LDAE_REFERENCE_HAS_PATCH_DISCRIMINATOR
  table["patch_discriminator"] = patch_discriminator_entry();
#endif
#ifdef LDAE_REFERENCE_HAS_CONVNEXT
  table["convnext"] = convnext_entry();
#endif
#ifdef LDAE_REFERENCE_HAS_ATTENTION_SEMANTIC_ENCODER
  table["attention_semantic_encoder"] = attention_semantic_encoder_entry();
#endif
}

}  // namespace ldae::reference
