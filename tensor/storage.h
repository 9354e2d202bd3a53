// Storage: one reference-counted block of memory shared by a tensor and all its views.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "tensor/caching_allocator.h"
#include "tensor/device.h"

namespace ldae {

// CPU blocks of kCpuCacheFrom bytes and more come from a caching allocator (see
// tensor/caching_allocator.h: training steps reuse them instead of page-faulting fresh memory
// in), smaller ones from aligned_alloc. The threshold is glibc's: malloc keeps freed blocks up
// to 32 MiB itself, but unmaps every larger one, so only those are worth caching here (caching
// from 1 MiB filled the free lists with blocks that the evaluation never reused, and slowed it).
// An AddressSanitizer build caches nothing, so that it still sees every use after free.
constexpr size_t kCpuCacheFrom = size_t(32) << 20;     // 32 MiB
constexpr size_t kCpuCacheLimit = size_t(2) << 30;     // the free lists keep at most 2 GiB

// The CPU block cache's counters (all zero in an AddressSanitizer build), and a way to give
// its cached blocks back to the system (e.g. between the stages of a long program).
AllocatorStats cpu_block_cache_stats();
void empty_cpu_block_cache();

class Storage {
 public:
  // Allocates `nbytes` (64-byte aligned, uninitialised: never assume zeros) on `device`.
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // Version counter: bumped by every in-place write through any view. Autograd
  // records it when it saves a tensor and refuses to use the tensor if it changed.
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  uint64_t version_ = 0;
};

}  // namespace ldae
