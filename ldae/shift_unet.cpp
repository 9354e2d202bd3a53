#include "ldae/shift_unet.h"

#include <map>
#include <vector>

#include "nn/init.h"
#include "nn/shape_trace.h"
#include "tensor/safetensors.h"

namespace ldae::nets {

ShiftUNetOptions shift_unet_options(const std::string& preset) {
  ShiftUNetOptions o;
  o.unet = unet_options(preset);  // throws for an unknown preset
  if (preset == "paper") o.latent_dim = 768;   // the AttentionSemanticEncoder's emb_chans
  if (preset == "course") o.latent_dim = 32;   // a small semantic code for CPU runs
  if (preset == "tiny") o.latent_dim = 16;     // a few numbers, for tests
  return o;
}

ShiftUNet::ShiftUNet(const ShiftUNetOptions& options, Generator& gen, std::shared_ptr<Generator> dropout_gen)
    : options_(options) {
  const UNetOptions& o = options.unet;
  check(options.latent_dim > 0, "ShiftUNet", "latent_dim must be positive");
  check(o.dims == 2 || o.dims == 3, "ShiftUNet", "dims must be 2 or 3");
  dropout_gen = unet_dropout_generator(o, gen, std::move(dropout_gen));
  const int64_t emb_dim = 4 * o.base_channel;
  // Registration order = the published state-dict order (frozen and shift parts interleaved).
  time_embed_ = register_module("time_embed", std::make_shared<nn::TimeEmbedding>(o.base_channel, emb_dim, gen));
  label_emb_ = register_module("label_emb", std::make_shared<nn::Linear>(options.latent_dim, emb_dim, gen));
  EncoderPlan plan;
  input_blocks_ = build_input_blocks(o, gen, dropout_gen, &plan);
  register_module("input_blocks", input_blocks_.list);
  middle_block_ = register_module("middle_block", build_middle_block(o, plan, false, gen, dropout_gen));
  shift_middle_block_ = register_module("shift_middle_block", build_middle_block(o, plan, true, gen, dropout_gen));
  output_blocks_ = build_output_blocks(o, plan, false, gen, dropout_gen);
  register_module("output_blocks", output_blocks_.list);
  shift_output_blocks_ = build_output_blocks(o, plan, true, gen, dropout_gen);
  register_module("shift_output_blocks", shift_output_blocks_.list);
  const int64_t level0 = o.base_channel * o.channel_multiplier[0];  // the decoders end at level 0's width
  out_ = register_module("out", std::make_shared<UNetHead>(o, level0, gen));
  shift_out_ = register_module("shift_out", std::make_shared<UNetHead>(o, level0, gen));
  if (options.code_norm != CodeNorm::Off) {  // last: the published keys keep their order
    CodeStandardiserOptions co;
    co.mode = options.code_norm;
    code_norm_ = register_module("code_norm", std::make_shared<CodeStandardiser>(options.latent_dim, co));
  }
  train_shift(true);
  // Freeze the UNet part (the reference does it in its constructor).
  for (auto& [name, p] : named_parameters())
    if (is_frozen_key(name)) p.set_requires_grad(false);
}

bool ShiftUNet::is_frozen_key(const std::string& key) {
  return key.rfind("label_emb.", 0) != 0 && key.rfind("shift_", 0) != 0 && key.rfind("code_norm.", 0) != 0;
}

void ShiftUNet::train_shift(bool on) {
  train(on);
  for (auto& [name, child] : named_children())
    if (is_frozen_key(name + ".")) child->eval();  // the frozen UNet never uses dropout
}

Tensor ShiftUNet::code_input(const Tensor& y_sem) const {
  check(y_sem.dim() == 2 && y_sem.size(1) == options_.latent_dim, "ShiftUNet",
        "expected y_sem (N, " + std::to_string(options_.latent_dim) + "), got " + shape_str(y_sem.shape()));
  if (!code_norm_) return y_sem;
  if (code_norm_->is_training()) code_norm_->track(y_sem);
  return code_norm_->forward(y_sem);
}

std::pair<Tensor, Tensor> ShiftUNet::forward(const Tensor& x_t, const Tensor& t, const Tensor& y_sem) const {
  check(y_sem.dim() == 2 && y_sem.size(0) == x_t.size(0), "ShiftUNet",  // before the statistics change
        "expected y_sem (" + std::to_string(x_t.size(0)) + ", " + std::to_string(options_.latent_dim) +
            ") for x_t " + shape_str(x_t.shape()) + ", got " + shape_str(y_sem.shape()));
  return forward_coded(x_t, t, code_input(y_sem));
}

std::pair<Tensor, Tensor> ShiftUNet::forward_coded(const Tensor& x_t, const Tensor& t, const Tensor& c) const {
  const UNetOptions& o = options_.unet;
  check(x_t.dim() == o.dims + 2 && x_t.size(1) == o.input_channel, "ShiftUNet",
        "expected x_t (N, " + std::to_string(o.input_channel) + ", spatial...), got " + shape_str(x_t.shape()));
  check(t.dim() == 1 && t.size(0) == x_t.size(0), "ShiftUNet", "expected t of shape (N,), got " + shape_str(t.shape()));
  check(c.dim() == 2 && c.size(0) == x_t.size(0) && c.size(1) == options_.latent_dim, "ShiftUNet",
        "expected y_sem (N, " + std::to_string(options_.latent_dim) + "), got " + shape_str(c.shape()));
  const Tensor emb = time_embed_->forward(t);        // (N, 4 * base)
  const Tensor emb_z = label_emb_->forward(c);       // e_y: (N, 4 * base)
  // frozen encoder, once: x_t (N, C, D, H, W) -> h (N, C_top, D, H / ds, W / ds), skips kept
  std::vector<Tensor> skips;
  Tensor h = x_t;
  nn::trace("label_emb", "e_y = Linear(y_sem)", emb_z);
  for (size_t i = 0; i < input_blocks_.blocks.size(); ++i) {
    h = input_blocks_.blocks[i]->forward(h, emb);
    skips.push_back(h);
    nn::trace("input_blocks", static_cast<int64_t>(i), "frozen input block (skip pushed)", h);
  }
  // eps path: frozen middle, decoder, head -> (N, C, D, H, W)
  Tensor e = middle_block_->forward(h, emb);
  nn::trace("middle_block", "frozen middle", e);
  e = run_output_blocks(output_blocks_, e, skips, emb);
  Tensor eps = out_->forward(e);
  nn::trace("out", "frozen head: eps", eps);
  // shift path: from the encoder output, same skips, time and semantic embeddings
  Tensor s = shift_middle_block_->forward(h, emb, emb_z);
  nn::trace("shift_middle_block", "shift middle (uses e_y)", s);
  s = run_output_blocks(shift_output_blocks_, s, skips, emb, emb_z);
  Tensor shift = shift_out_->forward(s);             // (N, C, D, H, W)
  nn::trace("shift_out", "shift head: G", shift);
  return {eps, shift};
}

void load_frozen_unet(ShiftUNet& model, const std::string& path, const std::string& prefix) {
  const std::string op = "load_frozen_unet";
  SafetensorsFile file;
  try {
    file = read_safetensors(path);
  } catch (const Error& e) {
    fail(op, path + ": cannot read the stage-2 weights: " + e.what());
  }
  // The file's tensors under `prefix`, prefix stripped.
  std::map<std::string, Tensor> state;
  for (const auto& [key, tensor] : file.tensors)
    if (key.rfind(prefix, 0) == 0) state[key.substr(prefix.size())] = tensor;
  // Check every frozen entry before loading anything.
  std::vector<std::string> missing, mismatched;
  std::map<std::string, Tensor> frozen;
  for (const auto& entry : model.ordered_state()) {
    if (!ShiftUNet::is_frozen_key(entry.name)) continue;
    auto it = state.find(entry.name);
    if (it == state.end()) {
      missing.push_back(prefix + entry.name);
    } else if (it->second.shape() != entry.tensor.shape()) {
      mismatched.push_back(prefix + entry.name + ": model " + shape_str(entry.tensor.shape()) + " vs file " +
                           shape_str(it->second.shape()));
    } else {
      frozen[entry.name] = it->second;
    }
  }
  if (!missing.empty() || !mismatched.empty()) {
    std::string msg = path + ": the frozen UNet does not match the file (prefix '" + prefix + "'):";
    const size_t shown = 20;  // enough to see the pattern without flooding the terminal
    for (size_t i = 0; i < missing.size() && i < shown; ++i) msg += "\n  missing key " + missing[i];
    if (missing.size() > shown) msg += "\n  ... " + std::to_string(missing.size() - shown) + " more missing keys";
    for (size_t i = 0; i < mismatched.size() && i < shown; ++i) msg += "\n  shape mismatch " + mismatched[i];
    if (mismatched.size() > shown)
      msg += "\n  ... " + std::to_string(mismatched.size() - shown) + " more shape mismatches";
    fail(op, msg);
  }
  model.load_state_dict(frozen, /*strict=*/false);  // only the shift keys are left out
}

}  // namespace ldae::nets
