#include "tensor/storage.h"

#include <cstdlib>
#include <new>

#include "tensor/error.h"

namespace ldae {

Storage::Storage(size_t nbytes, Device device) : nbytes_(nbytes), device_(device) {
  if (device.is_cuda()) fail("Storage", "CUDA backend is not built into this program");
  // aligned_alloc needs a size that is a multiple of the alignment.
  const size_t rounded = (nbytes + 63) / 64 * 64;
  data_ = rounded == 0 ? nullptr : std::aligned_alloc(64, rounded);
  if (rounded != 0 && data_ == nullptr) throw std::bad_alloc();
}

Storage::~Storage() { std::free(data_); }

}  // namespace ldae
