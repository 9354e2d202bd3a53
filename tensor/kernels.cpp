// The reference-kernel switch (see kernels.h).
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

}  // namespace ldae
