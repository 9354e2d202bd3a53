// The registry of LDAE networks that `ldae model NET --preset P` builds. Adding a network
// is one entry in model_zoo.cpp's table: a name, a one-line description and a function
// that builds it at a preset (ldae/presets.h).
#pragma once
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/random.h"

namespace ldae::nets {

struct ModelEntry {
  std::string name;         // "autoencoder_kl"
  std::string description;  // one line for `ldae model --help`
  // Builds the network at `preset` (already checked), initialised from gen.
  std::function<std::shared_ptr<nn::Module>(const std::string& preset, Generator& gen)> build;
  // Optional: extra summary lines at `preset` (e.g. the latent shape); may be empty.
  std::function<std::string(const std::string& preset)> notes;
  // Runs one forward pass of `model` (built by `build` at `preset`) on a random input for
  // an image of shape `image` (1, 1, D, H, W) and returns its output (a network with several
  // outputs returns their sum, so that a backward reaches every branch). `ldae model` counts
  // the multiply-adds and the memory of this pass (tensor/cost_counter.h); the benchmark
  // network_forward_backward/<net>/<preset> times it with the backward of sum(output).
  std::function<Tensor(const nn::Module& model, const std::string& preset, const Shape& image, Generator& gen)>
      example_forward;
  // true: every size scales with the image (a fully convolutional network), so at the paper
  // preset `ldae model` may measure at half the size per axis and scale the counts by 8.
  bool fully_convolutional = false;
  // The network's constructor arguments at `preset`, named as the published ones (the
  // metadata of reference-cases.md), and the shapes of example_forward's inputs, as JSON:
  //   {"network": "unet", "preset": "course", "arguments": {...}, "inputs": {"x_t": [1, 3, 16, 20, 16], ...}}
  // so that another program (tests/bench/pytorch_bench_networks.py) builds the same network.
  std::function<std::string(const std::string& preset)> arguments_json;
};

// All registered networks, in the table's order.
const std::vector<ModelEntry>& model_zoo();

// The entry called `name`; throws ldae::Error listing the valid names otherwise.
const ModelEntry& find_model(const std::string& name);

// "autoencoder_kl, ..." (for messages and help).
std::string model_names();

}  // namespace ldae::nets
