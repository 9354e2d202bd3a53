// ldae model NET --preset tiny|course|paper [--state-dict]: build one of the LDAE networks
// (ldae/model_zoo.h) and print its state-dict listing (the format of
// tests/reference/state_dicts/) or a short summary: the top-level children with their
// parameter counts and the total.
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>

#include "apps/command.h"
#include "ldae/model_zoo.h"
#include "ldae/presets.h"
#include "nn/init.h"
#include "nn/state_dict_listing.h"
#include "tensor/random.h"

namespace {

struct ModelArgs {
  std::string net;
  std::string preset = "tiny";
  bool state_dict = false;
};

// "13,766,248"
std::string grouped(int64_t n) {
  std::string s = std::to_string(n);
  for (int i = static_cast<int>(s.size()) - 3; i > 0; i -= 3) s.insert(static_cast<size_t>(i), ",");
  return s;
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
    std::printf("  %-24s %14s\n", name.c_str(), grouped(child->parameter_count()).c_str());
  std::printf("total parameters: %s\n", grouped(model->parameter_count()).c_str());
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
  sub->callback([args] { run_model(*args); });
}

const ldae::app::Registration reg("model", 40, add_model_command);

}  // namespace
