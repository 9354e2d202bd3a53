// Module cases of the reference runner (reference-cases.md, `op` = "module:<name>"):
// the case's metadata holds the constructor arguments, its tensors the inputs in0, ...,
// the parameters param.<dotted name>, the output out, the upstream gradient gout, and
// PyTorch's gradients gin<k> and gparam.<dotted name>.
//
// The runner builds our nn:: module from the metadata, converts it to the case's dtype,
// loads param.* with load_state_dict(strict), runs forward (in eval mode: dropout off)
// and backward with gout, and compares out, gin<k> and gparam.<name>.
//
// Adding a module is one entry in the table of module_cases.cpp.
#pragma once
#include <string>
#include <vector>

#include "tensor/safetensors.h"
#include "tests/reference/reference_runner.h"

namespace ldae::reference {

// Runs the module case held in `f` (already read from r.file) and fills r.status and
// r.detail. Throws Unsupported for an unknown module or an unread constructor argument
// (SKIP), ldae::Error for a malformed case or a framework error (FAIL). With a
// non-empty emit_dir, writes <emit_dir>/<r.file> holding our out, gin<k> and gparam.*.
// `device`: where the module runs (it and the inputs are moved there; results are
// compared on the host).
void run_module_case(const SafetensorsFile& f, const std::string& emit_dir, CaseResult& r,
                     Device device = cpu_device());

// The module names of the table ("linear", "resblock", ...).
std::vector<std::string> module_names();

}  // namespace ldae::reference
