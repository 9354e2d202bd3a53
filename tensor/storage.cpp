#include "tensor/storage.h"

#include <cstdlib>
#include <new>

#include "tensor/cost_counter.h"
#include "tensor/cuda/runtime.h"
#include "tensor/error.h"

namespace ldae {

namespace {

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kCacheCpuBlocks = false;  // AddressSanitizer must see every free
#else
constexpr bool kCacheCpuBlocks = true;
#endif

// Whether a CPU block of nbytes comes from (and goes back to) the block cache.
bool from_cpu_cache(size_t nbytes) { return kCacheCpuBlocks && nbytes >= kCpuCacheFrom; }

// 64-byte aligned CPU memory; aligned_alloc needs a size that is a multiple of the alignment.
void* aligned_cpu_alloc(size_t nbytes) { return std::aligned_alloc(64, (nbytes + 63) / 64 * 64); }

// The cache of large CPU blocks, created on first use and never destroyed (tensors in static
// objects may outlive any destructor order; the system frees everything at exit).
CachingAllocator& cpu_block_cache() {
  static CachingAllocator* cache = new CachingAllocator(
      "CPU allocator", aligned_cpu_alloc, [](void* p) { std::free(p); }, kCpuCacheLimit);
  return *cache;
}

}  // namespace

AllocatorStats cpu_block_cache_stats() {
  return kCacheCpuBlocks ? cpu_block_cache().stats() : AllocatorStats{};
}

void empty_cpu_block_cache() {
  if (kCacheCpuBlocks) cpu_block_cache().empty_cache();
}

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
  if (nbytes == 0) return;  // data_ stays nullptr
  if (from_cpu_cache(nbytes)) {
    data_ = cpu_block_cache().allocate(nbytes);  // 512-byte multiples: aligned; throws when out
    return;
  }
  data_ = aligned_cpu_alloc(nbytes);
  if (data_ == nullptr) throw std::bad_alloc();
}

Storage::~Storage() {
  cost::add_release(nbytes_);
  if (device_.is_cuda()) {
#ifdef LDAE_WITH_CUDA
    cuda::deallocate(data_, device_.index);  // back to the cache, never throws
#endif
    return;
  }
  if (from_cpu_cache(nbytes_))
    cpu_block_cache().deallocate(data_);  // back to the cache, never throws
  else
    std::free(data_);
}

}  // namespace ldae
