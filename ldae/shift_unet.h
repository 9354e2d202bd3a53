// The gradient estimator G_psi of LDAE stage 3 (ldae-reference 5.2): the stage-2 UNet,
// frozen, plus a trainable decoder branch conditioned on the semantic code y_sem. Keys
// and order as the published ShiftUNet (tests/reference/state_dicts/shift_unet.txt):
//
//   time_embed, input_blocks, middle_block, output_blocks, out    the frozen UNet (same names)
//   label_emb           Linear(latent_dim -> 4 * base): e_y = label_emb(y_sem)
//   shift_middle_block  ShiftResBlock, AttentionBlock, ShiftResBlock
//   shift_output_blocks the UNet's decoder layout with ShiftResBlocks
//   shift_out           GroupNorm, SiLU, conv 3x3x3 (zero-initialised)
//   code_norm           only with options.code_norm running or batch (not published): the
//                       CodeStandardiser (ldae/code_norm.h) between y_sem and label_emb; its
//                       buffers are trained state like the shift branch's weights
//
// forward: the frozen encoder runs once; eps comes from the frozen middle, decoder and head;
// the shift starts from the encoder output (not the frozen middle's), uses the same skips,
// the time embedding and e_y. Freshly built, the shift is exactly 0 (zero-initialised heads).
#pragma once
#include <memory>
#include <string>
#include <utility>

#include "ldae/code_norm.h"
#include "ldae/unet.h"
#include "nn/linear.h"

namespace ldae::nets {

struct ShiftUNetOptions {
  UNetOptions unet;         // the frozen UNet's arguments
  int64_t latent_dim = 768;  // width of the semantic code y_sem
  CodeNorm code_norm = CodeNorm::Off;  // off: y_sem goes to label_emb as it is (published)
};

// "paper" (latent_dim 768), "course" and "tiny" (latent_dim 32 and 16): the UNet preset of
// the same name plus latent_dim. Throws ldae::Error for an unknown name. What `ldae
// train-repr` and `ldae model` build is nets::shift_unet_preset (ldae/presets.h): these
// options with latent_dim = the semantic encoder's width (tiny 32, course 256, paper 768).
ShiftUNetOptions shift_unet_options(const std::string& preset);

class ShiftUNet : public nn::Module {
 public:
  // The frozen part is built (and frozen: requires_grad false, eval mode) but holds its
  // random initialisation until load_frozen_unet() fills it.
  ShiftUNet(const ShiftUNetOptions& options, Generator& gen, std::shared_ptr<Generator> dropout_gen = nullptr);

  // x_t: (N, C, D, H, W), t: (N,), y_sem: (N, latent_dim)
  //   -> (eps, shift), both (N, C, D, H, W).
  // = forward_coded(x_t, t, code_input(y_sem)).
  std::pair<Tensor, Tensor> forward(const Tensor& x_t, const Tensor& t, const Tensor& y_sem) const;

  // What label_emb sees: y_sem (N, latent_dim) as it is (code_norm off) or standardised by
  // the CodeStandardiser; in training mode its statistics take in these N codes first. A
  // training pass with several noise draws per scan calls this once for the N scans and
  // repeats the result (a batch of copies of one scan would centre its code away).
  Tensor code_input(const Tensor& y_sem) const;
  // forward() from code_input()'s result c: (N, latent_dim).
  std::pair<Tensor, Tensor> forward_coded(const Tensor& x_t, const Tensor& t, const Tensor& c) const;

  // Train mode (on) or eval mode for the shift branch; the frozen part stays in eval mode
  // (no dropout), as the reference keeps it. Use this rather than Module::train(), which
  // would switch the frozen part too.
  void train_shift(bool on = true);

  // True for keys of the frozen UNet part (not label_emb / shift_* / code_norm).
  static bool is_frozen_key(const std::string& key);

  const ShiftUNetOptions& options() const { return options_; }

 private:
  ShiftUNetOptions options_;
  std::shared_ptr<nn::TimeEmbedding> time_embed_;
  std::shared_ptr<nn::Linear> label_emb_;
  UNetBlocks input_blocks_, output_blocks_, shift_output_blocks_;
  std::shared_ptr<TimestepSequential> middle_block_, shift_middle_block_;
  std::shared_ptr<UNetHead> out_, shift_out_;
  std::shared_ptr<CodeStandardiser> code_norm_;  // null with code_norm off
};

// Fills the frozen part of `model` from a stage-2 safetensors file: the tensors whose key
// starts with `prefix` (e.g. "ema." in our checkpoints, "ema_unet." in a converted
// published one, "" for a plain UNet state dict), prefix stripped. Other keys are ignored.
// Throws ldae::Error("load_frozen_unet: <path>: ...") when the file is missing or
// unreadable, or naming every frozen key that is missing or has another shape; nothing is
// loaded then. The shift branch is never touched.
void load_frozen_unet(ShiftUNet& model, const std::string& path, const std::string& prefix);

}  // namespace ldae::nets
