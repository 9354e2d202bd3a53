// ldae model NET --preset tiny|course|paper [--state-dict]: build one of the LDAE networks
// (ldae/model_zoo.h) and print its state-dict listing (the format of
// tests/reference/state_dicts/) or a short summary: the top-level children with their
// parameter counts and the total, then the multiply-adds and the memory of one forward pass
// at the preset's image size, counted while it runs (tensor/cost_counter.h).
#include <chrono>
#include <cstdio>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>

#include "apps/command.h"
#include "ldae/model_zoo.h"
#include "ldae/presets.h"
#include "nn/init.h"
#include "nn/state_dict_listing.h"
#include "tensor/cost_counter.h"
#include "tensor/random.h"

namespace {

struct ModelArgs {
  std::string net;
  std::string preset = "tiny";
  bool state_dict = false;
  bool no_cost = false;
  bool arguments = false;
};

// "13,766,248"
std::string grouped(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
}

// "1.23 G" (multiply-adds) / "1.23 GiB" (bytes).
std::string with_unit(double v, double base, const char* suffix) {
  const char* prefixes[] = {"", " K", " M", " G", " T"};
  int i = 0;
  while (v >= base && i < 4) {
    v /= base;
    ++i;
  }
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f%s%s", v, prefixes[i], suffix);
  std::string out = buf;
  if (base == 1024 && i > 0) out.insert(out.size() - std::strlen(suffix), "i");
  return out;
}

// Runs the entry's example forward pass at the preset (batch 1, float32, autograd on, as in
// training) and prints what it cost. A fully convolutional network at the paper preset is
// measured at half the size per axis and its counts scaled by 8 (its activations and
// multiply-adds are proportional to the voxel count; the full pass needs more memory than a
// small machine has).
void print_cost(const ldae::nets::ModelEntry& entry, const std::string& preset, ldae::nn::Module& model) {
  ldae::Shape image = ldae::nets::preset_image_shape(preset);
  double scale = 1;
  if (preset == "paper" && entry.fully_convolutional) {
    for (size_t i = 2; i < image.size(); ++i) image[i] /= 2;
    scale = 8;
  }
  // The weights were left unfilled (SkipInitialisation) and the products are skipped
  // (only shapes matter to the counts): zero the weights so that the remaining elementwise
  // work runs on ordinary numbers.
  for (const ldae::Tensor& p : model.parameters())
    std::memset(p.mutable_data<float>(), 0, static_cast<size_t>(p.numel()) * sizeof(float));
  ldae::Generator gen(1);
  std::fprintf(stderr, "ldae model: one forward pass at %s to count its cost ...\n",
               ldae::nn::listing_shape(image).c_str());
  const auto start = std::chrono::steady_clock::now();
  ldae::CostCounts counts;
  {
    ldae::CountCosts counting(/*skip_products=*/true);
    const ldae::Tensor out = entry.example_forward(model, preset, image, gen);
    counts = counting.counts();
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("one forward pass, batch 1, float32, autograd on (counted in %.1f s%s):\n", seconds,
              scale == 1 ? "" : (", at " + ldae::nn::listing_shape(image) + ", counts x8").c_str());
  std::printf("  multiply-adds:      %s (conv and matmul)\n",
              with_unit(counts.multiply_adds * scale, 1000, "MAC").c_str());
  std::printf("  activation memory:  %s (peak of the tensors the pass allocated: what the backward keeps, plus "
              "temporaries)\n",
              with_unit(counts.peak_live_bytes * scale, 1024, "B").c_str());
}

void run_model(const ModelArgs& a) {
  using namespace ldae::nets;
  const ModelEntry& entry = find_model(a.net);  // throws, listing the valid names
  check_preset(a.preset);                       // throws, listing the valid presets
  // Only the structure is printed: build without filling the weights (the paper UNets
  // hold 487M and 865M parameters; unfilled memory is never touched).
  ldae::nn::init::SkipInitialisation structure_only;
  ldae::Generator gen(0);
  const std::shared_ptr<ldae::nn::Module> model = entry.build(a.preset, gen);
  if (a.arguments) {
    if (!entry.arguments_json) ldae::fail("model", entry.name + " has no argument listing");
    std::cout << entry.arguments_json(a.preset);
    return;
  }
  if (a.state_dict) {
    std::cout << ldae::nn::state_dict_listing(*model);
    return;
  }
  const ldae::Shape image = preset_image_shape(a.preset);
  std::printf("network:  %s (%s)\n", entry.name.c_str(), entry.description.c_str());
  std::printf("preset:   %s, image %s\n", a.preset.c_str(), ldae::nn::listing_shape(image).c_str());
  if (entry.notes) std::printf("%s", entry.notes(a.preset).c_str());
  std::printf("children (parameters):\n");
  for (const auto& [name, child] : model->named_children())
    std::printf("  %-28s %14s\n", name.c_str(), grouped(child->parameter_count()).c_str());
  std::printf("total parameters: %s\n", grouped(model->parameter_count()).c_str());
  if (!a.no_cost && entry.example_forward) print_cost(entry, a.preset, *model);
}

void add_model_command(CLI::App& app) {
  auto args = std::make_shared<ModelArgs>();
  CLI::App* sub = app.add_subcommand(
      "model", "Build an LDAE network at a preset and print a summary or its state-dict listing");
  sub->add_option("NET", args->net, "Network: " + ldae::nets::model_names())->required();
  sub->add_option("--preset", args->preset, "tiny (16x20x16), course (64x80x64) or paper (128x160x128)")
      ->capture_default_str();
  sub->add_flag("--state-dict", args->state_dict,
                "Print the state-dict listing (key, shape, param|buffer; then total_parameters)");
  sub->add_flag("--arguments", args->arguments,
                "Print the constructor arguments (published names) and example input shapes as JSON");
  sub->add_flag("--no-cost", args->no_cost,
                "Skip the forward pass that counts multiply-adds and activation memory");
  sub->callback([args] { run_model(*args); });
}

const ldae::app::Registration model_registration("model", 40, add_model_command);

}  // namespace
