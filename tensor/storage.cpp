#include "tensor/storage.h"

#include <cstdlib>
#include <new>

#include "tensor/cost_counter.h"
#include "tensor/cuda/runtime.h"
#include "tensor/error.h"

namespace ldae {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  cost::add_allocation(nbytes);  // ldae model's memory count (tensor/cost_counter.h)
  if (device.is_cuda()) {
#ifdef LDAE_WITH_CUDA
    // GPU memory comes from the device's caching allocator (tensor/cuda/runtime.h).
    cuda::require_device("Storage", device.index);
    data_ = cuda::allocate(nbytes, device.index);
    return;
#else
    fail("Storage", "cannot allocate on " + device.str() + ": " + cuda_unavailable_reason());
#endif
  }
  // aligned_alloc needs a size that is a multiple of the alignment.
  const size_t rounded = (nbytes + 63) / 64 * 64;
  data_ = rounded == 0 ? nullptr : std::aligned_alloc(64, rounded);
  if (rounded != 0 && data_ == nullptr) throw std::bad_alloc();
}

Storage::~Storage() {
  cost::add_release(nbytes_);
  if (device_.is_cuda()) {
#ifdef LDAE_WITH_CUDA
    cuda::deallocate(data_, device_.index);  // back to the cache, never throws
#endif
    return;
  }
  std::free(data_);
}

}  // namespace ldae
