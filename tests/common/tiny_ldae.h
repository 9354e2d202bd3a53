// A tiny LDAE with random weights for the inference tests: the tiny preset's autoencoder
// (16x20x16 image -> 3x8x10x8 latent), semantic encoder (16 axial slices, y_sem width 32)
// and ShiftUNet (shift_unet_preset: latent_dim = the encoder's width), whose shift branch gets non-zero weights
// (freshly built it is exactly 0, which would hide y_sem from the decoder).
#pragma once
#include <memory>

#include "autograd/no_grad.h"
#include "ldae/autoencoding.h"
#include "ldae/presets.h"
#include "nn/init.h"

namespace ldae::testing {

inline infer::LdaeModel tiny_ldae(uint64_t seed = 1) {
  Generator gen(seed);
  infer::LdaeModel m;
  m.autoencoder = std::make_shared<nets::AutoencoderKL>(nets::autoencoder_kl_preset("tiny"), gen);
  const nets::AttentionSemanticEncoderOptions eo = nets::attention_semantic_encoder_preset("tiny");
  m.encoder = std::make_shared<nets::AttentionSemanticEncoder>(eo, gen);
  m.shift_unet = std::make_shared<nets::ShiftUNet>(nets::shift_unet_preset("tiny"), gen);  // latent_dim 32
  {
    NoGrad no_grad;
    Generator fill(seed + 100);
    for (auto& [name, p] : m.shift_unet->named_parameters())
      if (!nets::ShiftUNet::is_frozen_key(name)) nn::init::uniform_(p, -0.1, 0.1, fill);
  }
  m.scale_factor = 0.8;
  m.image_shape = {16, 20, 16};
  return m;
}

}  // namespace ldae::testing
