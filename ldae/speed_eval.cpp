#include "ldae/speed_eval.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <functional>
#include <iostream>
#include <memory>

#include "autograd/no_grad.h"
#include "ldae/presets.h"
#include "ldae/run/run_folder.h"
#include "tensor/cost_counter.h"
#include "tensor/cuda/runtime.h"
#include "tensor/error.h"
#include "tensor/random.h"

namespace ldae::stages {

using nlohmann::ordered_json;

namespace {

constexpr const char* kOp = "speed";
constexpr int64_t kTimestep = 500;  // the t of the timed network calls (any t costs the same)

// Median of `reps` timed calls of fn, in seconds (steady_clock). On a GPU each call ends
// with a synchronisation, so that its time is the kernels' and not only their launches'.
double median_seconds(int64_t reps, const std::function<void()>& fn, Device device) {
  std::vector<double> s;
  for (int64_t i = 0; i < reps; ++i) {
    const auto t0 = std::chrono::steady_clock::now();
    fn();
    if (device.is_cuda()) cuda::synchronize();
    s.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count());
  }
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  return n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
}

// Multiply-adds of one call of fn, products skipped (only shapes matter to the count).
double count_macs(const std::function<void()>& fn) {
  CountCosts counting(/*skip_products=*/true);
  fn();
  return counting.counts().multiply_adds;
}

// A ShiftUNet in eval mode for a scope (the shift branch; the frozen part always is).
class ShiftEval {
 public:
  explicit ShiftEval(nets::ShiftUNet& net) : net_(net), was_(net.is_training()) { net_.train_shift(false); }
  ~ShiftEval() {
    if (was_) net_.train_shift(true);
  }
  ShiftEval(const ShiftEval&) = delete;
  ShiftEval& operator=(const ShiftEval&) = delete;

 private:
  nets::ShiftUNet& net_;
  bool was_;
};

ordered_json shape_json(const Shape& s) { return ordered_json(std::vector<int64_t>(s.begin(), s.end())); }

std::string fmt(const char* format, double v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, format, v);
  return buf;
}

void check_request(const SpeedRequest& r) {
  try {
    nets::check_preset(r.preset);
  } catch (const Error& e) {
    fail(kOp, e.what());
  }
  check(!r.steps.empty(), kOp, "the list of DDIM step counts is empty");
  for (int64_t s : r.steps)
    check(s >= 1 && s <= 1000, kOp, "DDIM step counts must be in 1..1000 (T = 1000), got " + std::to_string(s));
  check(r.repetitions >= 1 && r.image_repetitions >= 1, kOp, "repetitions must be at least 1");
  require_usable_device(kOp, r.device);
}

// What the times were measured on: the CPU and its threads, or the GPU (and its host CPU).
std::string machine_text(Device device, int threads) {
  if (device.is_cuda()) return cuda_device_name(device.index) + " (" + device.str() + "; host " + cpu_name() + ")";
  return cpu_name() + ", " + std::to_string(threads) + (threads == 1 ? " thread" : " threads");
}

}  // namespace

std::string cpu_name() {
  std::ifstream in("/proc/cpuinfo");
  std::string line;
  while (std::getline(in, line))
    if (line.rfind("model name", 0) == 0) {
      const size_t colon = line.find(':');
      if (colon != std::string::npos) return line.substr(line.find_first_not_of(' ', colon + 1));
    }
  return "unknown CPU";
}

ordered_json measure_speed(const SpeedRequest& r) {
  check_request(r);
  const Shape image_shape = nets::preset_image_shape(r.preset);  // (1, 1, D, H, W)
  auto say = [&](const std::string& what) {
    if (r.progress) std::cerr << "ldae speed: " << what << "\n";
  };

  // ---- The LDAE: trained or fresh ----
  Generator gen(r.seed);
  infer::LdaeModel fresh;
  const bool trained = r.model != nullptr;
  if (!trained) {
    say("building fresh " + r.preset + " networks");
    fresh.autoencoder = std::make_shared<nets::AutoencoderKL>(nets::autoencoder_kl_preset(r.preset), gen);
    fresh.shift_unet = std::make_shared<nets::ShiftUNet>(nets::shift_unet_preset(r.preset), gen);
    fresh.encoder = std::make_shared<nets::AttentionSemanticEncoder>(
        nets::attention_semantic_encoder_preset(r.preset), gen);
    fresh.image_shape = {image_shape[2], image_shape[3], image_shape[4]};
  }
  infer::LdaeModel& model = trained ? *r.model : fresh;
  check(model.autoencoder && model.shift_unet && model.encoder, kOp, "the LDAE model lacks a network");
  if (!model.image_shape.empty())
    check(model.image_shape == Shape({image_shape[2], image_shape[3], image_shape[4]}), kOp,
          "the model was trained on " + shape_str(model.image_shape) + ", the preset '" + r.preset + "' image is " +
              shape_str(image_shape));

  // ---- The image-space DAE's ShiftUNet: the LDAE's options at image resolution ----
  nets::ShiftUNetOptions image_options = model.shift_unet->options();
  image_options.unet = nets::image_space_unet_options(image_options.unet);
  say("building the image-space ShiftUNet");
  Generator image_gen(r.seed + 1);
  nets::ShiftUNet image_net(image_options, image_gen);
  image_net.train_shift(false);
  // Every network on the device of the measurement (a trained model given by the caller moves
  // too: the evaluation passes it on the CPU, where this changes nothing).
  const Device dev = r.device;
  model.autoencoder->to(dev);
  model.shift_unet->to(dev);
  model.encoder->to(dev);
  image_net.to(dev);

  // ---- Inputs ----
  Generator data_gen(r.seed + 2);
  const Tensor volume = rand(image_shape, data_gen).to(dev);  // (1, 1, D, H, W) in [0, 1)
  infer::check_latent(kOp, image_net, volume);         // the image DAE's levels divide the image
  ShiftEval latent_eval(*model.shift_unet);
  NoGrad no_grad;
  const Tensor y_sem = infer::semantic_code(*model.encoder, volume);  // (1, E)
  const Tensor latent = infer::scaled_latent(*model.autoencoder, volume, model.scale_factor);  // (1, C, d, h, w)
  const Tensor x_latent = randn(latent.shape(), data_gen).to(dev);  // drawn on the host: the same on any device
  const Tensor x_image = randn(image_shape, data_gen).to(dev);
  const infer::ConditionalDenoiser latent_step = infer::shift_denoiser(*model.shift_unet);
  const infer::ConditionalDenoiser image_step = infer::shift_denoiser(image_net);

  struct Component {
    const char* name;
    std::function<void()> call;
    int64_t reps;
    double macs = 0, seconds = 0;
  };
  std::vector<Component> parts = {
      {"semantic_encoder", [&] { infer::semantic_code(*model.encoder, volume); }, r.repetitions},
      {"ae_encode", [&] { infer::scaled_latent(*model.autoencoder, volume, model.scale_factor); }, r.repetitions},
      {"ae_decode", [&] { infer::to_image(*model.autoencoder, latent, model.scale_factor); }, r.repetitions},
      {"ldae_step", [&] { latent_step(x_latent, kTimestep, y_sem); }, r.repetitions},
      {"image_dae_step", [&] { image_step(x_image, kTimestep, y_sem); }, r.image_repetitions},
  };
  for (Component& c : parts) {
    c.macs = count_macs(c.call);  // also the warm-up on the CPU
    // On a GPU the counting pass runs no convolution or product kernel: one real call first
    // (cuBLAS's handle and workspaces, the caching allocator's first blocks).
    if (dev.is_cuda()) median_seconds(1, c.call, dev);
    say(std::string("timing ") + c.name + " (" + std::to_string(c.reps) + "x)");
    c.seconds = median_seconds(c.reps, c.call, dev);
  }
  auto part = [&](const std::string& name) -> const Component& {
    for (const Component& c : parts)
      if (name == c.name) return c;
    fail(kOp, "no component " + name);
  };
  const Component &enc = part("semantic_encoder"), &ae_enc = part("ae_encode"), &ae_dec = part("ae_decode"),
                  &ls = part("ldae_step"), &is = part("image_dae_step");

  ordered_json out;
  const double ratio_step = is.seconds / ls.seconds;
  const int threads = run::thread_count_hint();
  const int64_t levels = static_cast<int64_t>(image_options.unet.channel_multiplier.size());
  const int64_t ds = int64_t(1) << (levels - 1);
  int64_t max_attention_ds = 0;
  for (int64_t a : image_options.unet.attention_resolutions)
    if (a <= ds) max_attention_ds = std::max(max_attention_ds, a);
  const int64_t tokens = max_attention_ds > 0 ? image_shape[2] * image_shape[3] * image_shape[4] /
                                                    (max_attention_ds * max_attention_ds * max_attention_ds)
                                              : 0;
  out["summary"] = "One DDIM step: image-space DAE " + fmt("%.3g", is.seconds) + " s, LDAE " +
                   fmt("%.3g", ls.seconds) + " s (" + fmt("%.1f", ratio_step) + "x; multiply-adds " +
                   fmt("%.1f", is.macs / ls.macs) + "x); the paper claims 20x per volume. Measured on " +
                   machine_text(dev, threads) + ", batch 1; other work on the machine inflates the times.";
  out["method"] =
      "Each component timed with steady_clock under NoGrad in eval mode, batch 1, float32: median of " +
      std::to_string(r.repetitions) + " calls (image-space step: " + std::to_string(r.image_repetitions) +
      "), after one multiply-add counting pass that serves as warm-up. A step is one ShiftUNet call (eps and shift, "
      "with y_sem) at t = 500. Per volume at S steps composed from the medians: LDAE = semantic encoder + AE encode "
      "+ 2 S steps + AE decode, image DAE = semantic encoder + 2 S image steps (DDIM encode S + decode S; the "
      "elementwise DDIM arithmetic between calls is left out)" +
      std::string(r.end_to_end ? "; end_to_end: one whole encoded-mode reconstruction timed at the smallest S." : ".");
  out["note"] =
      "The image-space DAE (ldae-reference 8) is the LDAE ShiftUNet's configuration with 1 input channel and "
      "isotropic 2x2x2 resampling, applied to the image; same semantic encoder, schedule and DDIM. Its weights are "
      "freshly initialised: the time of a call does not depend on the weights' values. The preset's " +
      std::to_string(levels) + " levels divide the image (total downsampling " + std::to_string(ds) +
      " per axis) and its attention resolutions are kept, so the coarsest image level attends over " +
      std::to_string(tokens) + " tokens.";
  out["weights"] = trained ? "LDAE: the trained networks given (RUN3); image-space DAE: freshly initialised"
                           : "freshly initialised networks for both (speed does not depend on the weights)";
  out["machine"] = {{"cpu", cpu_name()}, {"threads", threads}, {"device", dev.str()}};
  if (dev.is_cuda()) out["machine"]["gpu"] = cuda_device_name(dev.index);
  out["image_shape"] = shape_json(image_shape);
  out["latent_shape"] = shape_json(latent.shape());
  out["image_dae_network"] = {{"input_channel", 1},
                              {"isotropic_resampling", true},
                              {"levels", levels},
                              {"attention_resolutions", image_options.unet.attention_resolutions},
                              {"attention_tokens", tokens}};
  out["repetitions"] = {{"components", r.repetitions}, {"image_step", r.image_repetitions}};
  out["macs"] = {{"semantic_encoder", enc.macs}, {"ae_encode", ae_enc.macs},      {"ae_decode", ae_dec.macs},
                 {"ldae_step", ls.macs},         {"image_dae_step", is.macs}, {"ratio_per_step", is.macs / ls.macs}};
  out["components_s"] = {
      {"semantic_encoder", enc.seconds}, {"ae_encode", ae_enc.seconds}, {"ae_decode", ae_dec.seconds}};
  out["ldae"] = {{"per_step_s", ls.seconds}};
  out["image_dae"] = {{"per_step_s", is.seconds}};
  out["ratio_per_step"] = ratio_step;

  std::vector<std::vector<std::string>> table = {
      {"DDIM steps (encode + decode)", "LDAE s", "image DAE s", "measured ratio", "MAC ratio", "paper ratio"}};
  table.push_back({"one step (one network call)", fmt("%.4f", ls.seconds), fmt("%.4f", is.seconds),
                   fmt("%.1f", ratio_step), fmt("%.1f", is.macs / ls.macs), "–"});
  ordered_json per_volume = ordered_json::object();
  for (int64_t s : r.steps) {
    const double calls = 2.0 * static_cast<double>(s);
    const double ldae_s = enc.seconds + ae_enc.seconds + calls * ls.seconds + ae_dec.seconds;
    const double dae_s = enc.seconds + calls * is.seconds;
    const double ldae_macs = enc.macs + ae_enc.macs + calls * ls.macs + ae_dec.macs;
    const double dae_macs = enc.macs + calls * is.macs;
    per_volume[std::to_string(s)] = {{"ldae_s", ldae_s},       {"image_dae_s", dae_s},
                                     {"ratio", dae_s / ldae_s}, {"ldae_macs", ldae_macs},
                                     {"image_dae_macs", dae_macs}, {"macs_ratio", dae_macs / ldae_macs}};
    table.push_back({"one volume, " + std::to_string(s) + " + " + std::to_string(s), fmt("%.2f", ldae_s),
                     fmt("%.2f", dae_s), fmt("%.1f", dae_s / ldae_s), fmt("%.1f", dae_macs / ldae_macs), "20"});
  }
  out["per_volume"] = per_volume;

  if (r.end_to_end) {
    const int64_t s = *std::min_element(r.steps.begin(), r.steps.end());
    say("one whole LDAE reconstruction at " + std::to_string(s) + " steps");
    const infer::AutoencodingOptions o = infer::AutoencodingOptions::fixed(s);
    const double measured =
        median_seconds(1, [&] { infer::reconstruct(model, volume, infer::Mode::Encoded, o); }, dev);
    out["end_to_end"] = {{"steps", s},
                         {"ldae_s", measured},
                         {"ldae_composed_s", per_volume[std::to_string(s)]["ldae_s"]},
                         {"includes", "infer::reconstruct, encoded mode: also the AE's own decode(mu)"}};
  }
  out["paper_ratio"] = 20.0;
  out["table"] = table;
  return out;
}

}  // namespace ldae::stages
