#include "nn/state_dict_listing.h"

#include <sstream>

namespace ldae::nn {

std::string listing_shape(const Shape& shape) {
  if (shape.empty()) return "scalar";
  std::string out;
  for (size_t i = 0; i < shape.size(); ++i) out += (i ? "x" : "") + std::to_string(shape[i]);
  return out;
}

std::string state_dict_listing(const Module& module) {
  std::ostringstream os;
  for (const Module::StateEntry& e : module.ordered_state())
    os << e.name << " " << listing_shape(e.tensor.shape()) << " " << (e.is_buffer ? "buffer" : "param") << "\n";
  os << "total_parameters " << module.parameter_count() << "\n";
  return os.str();
}

}  // namespace ldae::nn
