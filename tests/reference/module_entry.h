// The module table's entry type, shared by module_cases.cpp (layers and blocks) and
// network_cases.cpp (the LDAE networks). Internal to the reference runner.
#pragma once
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "nn/module.h"
#include "tensor/random.h"
#include "tests/reference/reference_runner.h"

namespace ldae::reference {

using ModuleInputs = std::vector<Tensor>;

// A module built from a case: the module (for its parameters, buffers and modes) and how
// to call its forward with the case's inputs; it returns out (one output) or out0, out1, ...
struct BuiltModule {
  std::shared_ptr<nn::Module> module;
  std::function<std::vector<Tensor>(const ModuleInputs&)> forward;
};

struct ModuleEntry {
  int min_inputs = 1;
  int max_inputs = 1;
  std::function<BuiltModule(const Kwargs&)> build;
};

// The parameters' initial values do not matter (the case's param.* replace them).
Generator& module_init_gen();

// The LDAE networks of reference-cases.md "Whole networks" (autoencoder_kl, unet,
// shift_unet, and patch_discriminator, convnext, attention_semantic_encoder when their
// headers exist), added to `table` by name.
void add_network_entries(std::map<std::string, ModuleEntry>& table);

}  // namespace ldae::reference
