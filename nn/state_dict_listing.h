// The text listing of a module's state dict, in the format of the published networks'
// listings (tests/reference/state_dicts/*.txt): one line per entry in PyTorch's order,
//   <dotted key> <shape d0xd1x... or "scalar"> <param|buffer>
// then a last line "total_parameters N" (the number of scalars in all parameters). A
// network whose listing equals the published one loads the official checkpoints (after
// conversion to safetensors) with strict key and shape checks.
#pragma once
#include <string>

#include "nn/module.h"

namespace ldae::nn {

// The listing of `module` (ends with a newline).
std::string state_dict_listing(const Module& module);

// "64x1x3x3x3" for a shape, "scalar" for a 0-d tensor.
std::string listing_shape(const Shape& shape);

}  // namespace ldae::nn
