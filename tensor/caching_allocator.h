// A caching allocator: a free list of blocks keyed by size class, in plain C++ (the raw
// allocator is a parameter, so the CPU-only tests check the bookkeeping with malloc standing in
// for cudaMalloc). Two instances in the program: one per GPU (tensor/cuda/runtime.cu), and one
// for large CPU blocks (tensor/storage.cpp).
//
// Why: a training step allocates and frees the same sizes again and again. On the GPU,
// cudaMalloc and cudaFree are slow (cudaFree also waits for the whole GPU). On the CPU, glibc
// hands every block above 32 MiB (an autoencoder activation at the course preset: 32 channels of
// 64x80x64 floats is 40 MiB) straight to the kernel with mmap and back with munmap, so each
// step page-faults and zeroes that memory again. So a freed block is not returned but kept in a
// free list keyed by its size class ("bucket"), and the next request of that class reuses it.
// After the first step of a training loop, every request is served from the free lists.
//
// Size classes: requests are rounded up to a multiple of 512 bytes, and above 2 KiB to
// one of 4 steps per power of two (2^k, 1.25 2^k, 1.5 2^k, 1.75 2^k, rounded to 512):
// at most 25% of a block is wasted, and nearby sizes share a bucket.
//
// A limit on the cached bytes (optional) bounds what the free lists keep: a block freed when
// the cache is full goes back to the system at once.
//
// On the GPU all blocks are used on one CUDA stream (the default stream), so a block freed by
// the host while a kernel that uses it is still queued can be handed to the next kernel: the
// stream runs them in order.
#pragma once
#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

namespace ldae {

struct AllocatorStats {
  size_t in_use_bytes = 0;       // bytes of blocks handed out (bucket sizes)
  size_t cached_bytes = 0;       // bytes of blocks waiting in the free lists
  size_t peak_in_use_bytes = 0;  // the maximum of in_use_bytes so far
  uint64_t requests = 0;         // allocate() calls with nbytes > 0
  uint64_t cache_hits = 0;       // requests served from a free list
  uint64_t raw_allocs = 0;       // calls of the raw allocator (cudaMalloc, aligned_alloc)
  uint64_t raw_frees = 0;        // calls of the raw free (cudaFree, free)
};

class CachingAllocator {
 public:
  // raw_alloc(n) returns a block of n bytes or nullptr when out of memory; raw_free
  // returns a block to the system. Both are called with the allocator's lock held. `name`
  // starts the out-of-memory error ("CUDA allocator"); the free lists keep at most
  // max_cached_bytes.
  using RawAlloc = std::function<void*(size_t)>;
  using RawFree = std::function<void(void*)>;
  CachingAllocator(std::string name, RawAlloc raw_alloc, RawFree raw_free,
                   size_t max_cached_bytes = SIZE_MAX);
  CachingAllocator(const CachingAllocator&) = delete;
  CachingAllocator& operator=(const CachingAllocator&) = delete;
  // Frees every block, cached or live (live ones only matter in tests).
  ~CachingAllocator();

  // The size class of a request: >= nbytes, a multiple of 512 (512 for nbytes = 0).
  static size_t bucket_size(size_t nbytes);

  // A block of at least nbytes (nullptr for 0). Reuses a cached block of the same size
  // class when there is one; otherwise calls raw_alloc, and if that fails, frees the
  // whole cache and tries once more. Throws ldae::Error("<name>: out of memory ...")
  // naming the request and the bytes in use and cached if that fails too.
  void* allocate(size_t nbytes);
  // Returns a block from allocate() to its free list, or to the system when the free lists
  // would then hold more than max_cached_bytes (nullptr is ignored). Never throws; an unknown
  // pointer is ignored too (it cannot be freed safely).
  void deallocate(void* p) noexcept;
  // Returns every cached block to the system (raw_free).
  void empty_cache();

  AllocatorStats stats() const;

 private:
  void release_cache_locked();

  std::string name_;
  RawAlloc raw_alloc_;
  RawFree raw_free_;
  size_t max_cached_bytes_;
  mutable std::mutex mutex_;
  std::map<size_t, std::vector<void*>> free_blocks_;  // bucket size -> cached blocks
  std::unordered_map<void*, size_t> live_blocks_;     // handed-out block -> bucket size
  AllocatorStats stats_;
};

}  // namespace ldae
