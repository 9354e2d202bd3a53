// The reference-kernel switch and the attention memory budget (see kernels.h).
#include "tensor/kernels.h"

#include <atomic>
#include <cstdlib>
#include <cstring>

namespace ldae {

namespace {

// The switch, initialised from the environment on first use (a function-local static is
// initialised exactly once, even with several threads).
std::atomic<bool>& reference_flag() {
  static std::atomic<bool> flag{[] {
    const char* v = std::getenv("LDAE_REFERENCE_KERNELS");
    return v != nullptr && std::strcmp(v, "") != 0 && std::strcmp(v, "0") != 0;
  }()};
  return flag;
}

}  // namespace

void set_reference_kernels(bool on) {
  reference_flag().store(on);
}

bool reference_kernels() {
  return reference_flag().load();
}

namespace {

std::atomic<size_t>& attention_budget() {
  static std::atomic<size_t> budget{[] {
    const char* v = std::getenv("LDAE_ATTENTION_BUDGET_MB");
    const long mb = v != nullptr ? std::atol(v) : 0;
    return mb > 0 ? static_cast<size_t>(mb) << 20 : size_t{128} << 20;
  }()};
  return budget;
}

}  // namespace

void set_attention_budget_bytes(size_t bytes) { attention_budget().store(bytes); }

size_t attention_budget_bytes() { return attention_budget().load(); }

}  // namespace ldae
