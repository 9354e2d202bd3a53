// The functions of tensor/cuda/runtime.h that a program built without the CUDA backend
// (LDAE_CUDA=OFF) may call: availability ("not built"), the allocator statistics (zeros)
// and synchronize (nothing to wait for). The others are never reached there: a CUDA tensor cannot
// be created (Storage refuses it), so no CUDA kernel or copy runs.
#ifndef LDAE_WITH_CUDA
#include "tensor/cuda/runtime.h"

namespace ldae {

bool cuda_available() {
  return false;
}

std::string cuda_unavailable_reason() {
  return "the CUDA backend is not built into this program (configure with -DLDAE_CUDA=ON)";
}

int cuda_device_count() {
  return 0;
}

std::string cuda_device_name(int) {
  return "";
}

}  // namespace ldae

namespace ldae::cuda {

AllocatorStats allocator_stats(int) {
  return AllocatorStats{};
}
void empty_cache() {}
void synchronize() {}

}  // namespace ldae::cuda
#endif
