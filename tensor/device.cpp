#include "tensor/device.h"

#include <string>

#include "tensor/cuda/runtime.h"
#include "tensor/error.h"

namespace ldae {

Device parse_device(const std::string& op, const std::string& text) {
  if (text == "cpu") return cpu_device();
  if (text == "cuda") return cuda_device(0);
  const std::string prefix = "cuda:";
  const bool digits = text.size() > prefix.size() && text.size() <= prefix.size() + 4 &&
                      text.compare(0, prefix.size(), prefix) == 0 &&
                      text.find_first_not_of("0123456789", prefix.size()) == std::string::npos;
  check(digits, op, "unknown device \"" + text + "\" (valid: cpu, cuda, cuda:N)");
  return cuda_device(std::stoi(text.substr(prefix.size())));
}

void require_usable_device(const std::string& op, Device device) {
  if (device.is_cpu()) return;
  check(cuda_available(), op, "cannot use " + device.str() + ": " + cuda_unavailable_reason());
  check(device.index < cuda_device_count(), op,
        "cannot use " + device.str() + ": this machine has " + std::to_string(cuda_device_count()) + " usable GPU(s)");
}

}  // namespace ldae
