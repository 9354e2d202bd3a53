#include "tensor/caching_allocator.h"

#include <algorithm>
#include <string>
#include <utility>

#include "tensor/error.h"

namespace ldae {

CachingAllocator::CachingAllocator(std::string name, RawAlloc raw_alloc, RawFree raw_free,
                                   size_t max_cached_bytes)
    : name_(std::move(name)),
      raw_alloc_(std::move(raw_alloc)),
      raw_free_(std::move(raw_free)),
      max_cached_bytes_(max_cached_bytes) {}

CachingAllocator::~CachingAllocator() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cache_locked();
  for (auto& [p, size] : live_blocks_) raw_free_(p);
  live_blocks_.clear();
}

size_t CachingAllocator::bucket_size(size_t nbytes) {
  constexpr size_t kMin = 512;
  if (nbytes <= kMin) return kMin;
  // The largest power of two <= nbytes; the step is a quarter of it (at least 512).
  size_t power = 1;
  while (power <= nbytes / 2) power *= 2;
  const size_t step = std::max(kMin, power / 4);
  return (nbytes + step - 1) / step * step;
}

void* CachingAllocator::allocate(size_t nbytes) {
  if (nbytes == 0) return nullptr;
  const size_t size = bucket_size(nbytes);
  std::lock_guard<std::mutex> lock(mutex_);
  ++stats_.requests;
  void* p = nullptr;
  auto it = free_blocks_.find(size);
  if (it != free_blocks_.end() && !it->second.empty()) {
    p = it->second.back();
    it->second.pop_back();
    stats_.cached_bytes -= size;
    ++stats_.cache_hits;
  } else {
    p = raw_alloc_(size);
    if (p == nullptr && stats_.cached_bytes > 0) {
      // Out of memory, but the cache holds blocks of other sizes: give them back, retry.
      release_cache_locked();
      p = raw_alloc_(size);
    }
    if (p == nullptr)
      fail(name_, "out of memory allocating " + std::to_string(nbytes) + " bytes (" +
                                 std::to_string(stats_.in_use_bytes) + " bytes in use, " +
                                 std::to_string(stats_.cached_bytes) + " cached)");
    ++stats_.raw_allocs;
  }
  live_blocks_[p] = size;
  stats_.in_use_bytes += size;
  stats_.peak_in_use_bytes = std::max(stats_.peak_in_use_bytes, stats_.in_use_bytes);
  return p;
}

void CachingAllocator::deallocate(void* p) noexcept {
  if (p == nullptr) return;
  std::lock_guard<std::mutex> lock(mutex_);
  auto it = live_blocks_.find(p);
  if (it == live_blocks_.end()) return;
  const size_t size = it->second;
  live_blocks_.erase(it);
  stats_.in_use_bytes -= size;
  if (stats_.cached_bytes + size > max_cached_bytes_) {  // the cache is full: give it back
    raw_free_(p);
    ++stats_.raw_frees;
    return;
  }
  try {
    free_blocks_[size].push_back(p);
    stats_.cached_bytes += size;
  } catch (...) {  // no memory for the list entry: give the block back instead
    raw_free_(p);
    ++stats_.raw_frees;
  }
}

void CachingAllocator::empty_cache() {
  std::lock_guard<std::mutex> lock(mutex_);
  release_cache_locked();
}

void CachingAllocator::release_cache_locked() {
  for (auto& [size, blocks] : free_blocks_)
    for (void* p : blocks) {
      raw_free_(p);
      ++stats_.raw_frees;
    }
  free_blocks_.clear();
  stats_.cached_bytes = 0;
}

AllocatorStats CachingAllocator::stats() const {
  std::lock_guard<std::mutex> lock(mutex_);
  return stats_;
}

}  // namespace ldae
