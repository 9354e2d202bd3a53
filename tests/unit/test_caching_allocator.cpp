// The caching allocator (tensor/caching_allocator.h): its bookkeeping with malloc standing in
// for the raw allocator (cudaMalloc on a GPU), and the cache of large CPU blocks that tensor
// storage uses (tensor/storage.cpp). No GPU needed.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "common/test_helpers.h"
#include "tensor/caching_allocator.h"
#include "tensor/ops.h"
#include "tensor/storage.h"

using namespace ldae;
using ldae::testing::expect_error;

namespace {

// A caching allocator over malloc that counts the raw calls; its free lists keep at most
// max_cached bytes.
struct FakeDevice {
  int allocs = 0, frees = 0;
  size_t limit = size_t(1) << 40;  // raw allocations above this fail (out of memory)
  size_t live = 0;
  std::set<void*> blocks;
  std::map<void*, size_t> sizes;  // declared before the allocator, which uses it until destroyed
  CachingAllocator allocator;

  explicit FakeDevice(size_t max_cached = SIZE_MAX)
      : allocator(
            "CUDA allocator",
            [this](size_t n) -> void* {
              if (live + n > limit) return nullptr;
              ++allocs;
              live += n;
              void* p = std::malloc(n);
              blocks.insert(p);
              sizes[p] = n;
              return p;
            },
            [this](void* p) {
              ++frees;
              live -= sizes[p];
              blocks.erase(p);
              std::free(p);
            },
            max_cached) {}
};

}  // namespace

TEST(CachingAllocator, BucketSizes) {
  using A = CachingAllocator;
  EXPECT_EQ(A::bucket_size(0), 512u);
  EXPECT_EQ(A::bucket_size(1), 512u);
  EXPECT_EQ(A::bucket_size(512), 512u);
  EXPECT_EQ(A::bucket_size(513), 1024u);
  EXPECT_EQ(A::bucket_size(4096), 4096u);
  EXPECT_EQ(A::bucket_size(4097), 5120u);  // 4096 + 1024: quarter steps above 2 KiB
  EXPECT_EQ(A::bucket_size(1 << 20), size_t(1) << 20);
  EXPECT_EQ(A::bucket_size((1 << 20) + 1), (size_t(1) << 20) + (size_t(1) << 18));
  for (size_t n : {size_t(3000), size_t(123457), size_t(10000019)}) {
    const size_t b = A::bucket_size(n);
    EXPECT_GE(b, n);
    EXPECT_EQ(b % 512, 0u);
    EXPECT_LE(static_cast<double>(b), 1.25 * static_cast<double>(n) + 512)
        << n;  // at most 25% waste
  }
}

TEST(CachingAllocator, ReusesFreedBlocksWithoutRawCalls) {
  FakeDevice dev;
  // A "training step": the same sizes allocated and freed three times.
  for (int step = 0; step < 3; ++step) {
    void* a = dev.allocator.allocate(1000);
    void* b = dev.allocator.allocate(70000);
    void* c = dev.allocator.allocate(1000);
    EXPECT_NE(a, c);
    dev.allocator.deallocate(b);
    dev.allocator.deallocate(a);
    dev.allocator.deallocate(c);
  }
  EXPECT_EQ(dev.allocs, 3);  // only the first step reached the raw allocator
  EXPECT_EQ(dev.frees, 0);
  const AllocatorStats s = dev.allocator.stats();
  EXPECT_EQ(s.requests, 9u);
  EXPECT_EQ(s.cache_hits, 6u);
  EXPECT_EQ(s.raw_allocs, 3u);
  EXPECT_EQ(s.in_use_bytes, 0u);
  EXPECT_EQ(s.cached_bytes, 2 * CachingAllocator::bucket_size(1000) +
                                CachingAllocator::bucket_size(70000));
  EXPECT_EQ(s.peak_in_use_bytes, s.cached_bytes);
}

TEST(CachingAllocator, NearbySizesShareABucket) {
  FakeDevice dev;
  void* a = dev.allocator.allocate(5000);
  dev.allocator.deallocate(a);
  void* b = dev.allocator.allocate(5100);  // same bucket (5120): the block is reused
  EXPECT_EQ(a, b);
  EXPECT_EQ(dev.allocs, 1);
  dev.allocator.deallocate(b);
}

TEST(CachingAllocator, EmptyCacheReturnsBlocks) {
  FakeDevice dev;
  void* a = dev.allocator.allocate(100);
  void* b = dev.allocator.allocate(100000);
  dev.allocator.deallocate(a);
  EXPECT_EQ(dev.allocator.stats().in_use_bytes, CachingAllocator::bucket_size(100000));
  dev.allocator.empty_cache();
  EXPECT_EQ(dev.frees, 1);
  EXPECT_EQ(dev.allocator.stats().cached_bytes, 0u);
  dev.allocator.deallocate(b);
  dev.allocator.deallocate(nullptr);                        // ignored
  dev.allocator.deallocate(reinterpret_cast<void*>(0x10));  // unknown: ignored
  EXPECT_EQ(dev.allocator.stats().raw_frees, 1u);
  EXPECT_EQ(dev.allocator.allocate(0), nullptr);
}

TEST(CachingAllocator, OutOfMemoryFreesTheCacheAndRetries) {
  FakeDevice dev;
  dev.limit = 3 * 4096;
  void* a = dev.allocator.allocate(4096);
  void* b = dev.allocator.allocate(4096);
  dev.allocator.deallocate(a);
  dev.allocator.deallocate(b);             // 8 KiB cached, 4 KiB left under the limit
  void* c = dev.allocator.allocate(8192);  // fails raw, frees the cache, succeeds
  EXPECT_NE(c, nullptr);
  EXPECT_EQ(dev.frees, 2);
  EXPECT_EQ(dev.allocator.stats().cached_bytes, 0u);
  expect_error([&] { dev.allocator.allocate(size_t(1) << 20); },
               {"CUDA allocator", "out of memory", "1048576 bytes", "8192 bytes in use"});
  dev.allocator.deallocate(c);
}


TEST(CachingAllocator, FreeListsKeepAtMostTheLimit) {
  FakeDevice dev(2 * 4096);  // room for two blocks of 4 KiB
  void* a = dev.allocator.allocate(4096);
  void* b = dev.allocator.allocate(4096);
  void* c = dev.allocator.allocate(4096);
  dev.allocator.deallocate(a);
  dev.allocator.deallocate(b);  // 8 KiB cached: full
  dev.allocator.deallocate(c);  // goes back to the system
  EXPECT_EQ(dev.frees, 1);
  EXPECT_EQ(dev.blocks.count(c), 0u);
  EXPECT_EQ(dev.allocator.stats().cached_bytes, 2u * 4096);
  EXPECT_EQ(dev.allocator.stats().in_use_bytes, 0u);
  // The two cached blocks serve the next two requests; the third is a raw allocation.
  void* d = dev.allocator.allocate(4096);
  void* e = dev.allocator.allocate(4096);
  EXPECT_EQ(dev.allocs, 3);
  void* f = dev.allocator.allocate(4096);
  EXPECT_EQ(dev.allocs, 4);
  for (void* p : {d, e, f}) dev.allocator.deallocate(p);
}

// ---- The CPU block cache of tensor storage ---------------------------------------------------

#if defined(__SANITIZE_ADDRESS__)
#define SKIP_UNDER_ASAN() \
  GTEST_SKIP() << "AddressSanitizer build: CPU blocks are not cached, so that it sees every free"
#else
#define SKIP_UNDER_ASAN() (void)0
#endif

TEST(CpuBlockCache, LargeTensorsReuseFreedBlocksSmallOnesDoNot) {
  SKIP_UNDER_ASAN();
  const int64_t large = static_cast<int64_t>(kCpuCacheFrom / sizeof(float)) + 1000;
  const AllocatorStats before = cpu_block_cache_stats();
  const void* first = nullptr;
  {
    Tensor t = Tensor::empty({large});  // float32: just over kCpuCacheFrom
    first = t.data<float>();
  }
  const AllocatorStats freed = cpu_block_cache_stats();
  EXPECT_EQ(freed.requests, before.requests + 1);
  EXPECT_GE(freed.cached_bytes, CachingAllocator::bucket_size(large * sizeof(float)));
  {
    Tensor again = Tensor::empty({large});  // the same size class: the freed block
    EXPECT_EQ(again.data<float>(), first);
    EXPECT_EQ(cpu_block_cache_stats().cache_hits, freed.cache_hits + 1);
    EXPECT_EQ(cpu_block_cache_stats().raw_allocs, freed.raw_allocs);
  }
  { Tensor small = Tensor::empty({1000}); }  // 4000 bytes: aligned_alloc, not the cache
  EXPECT_EQ(cpu_block_cache_stats().requests, freed.requests + 1);
  empty_cpu_block_cache();
  EXPECT_EQ(cpu_block_cache_stats().cached_bytes, 0u);
}

// A reused block holds the old values: whatever must start at zero has to write the zeros.
TEST(CpuBlockCache, ZerosAreWrittenIntoAReusedBlock) {
  SKIP_UNDER_ASAN();
  const int64_t large = static_cast<int64_t>(kCpuCacheFrom / sizeof(float)) + 1000;
  const void* first = nullptr;
  {
    Tensor t = Tensor::full({large}, 7.0);
    first = t.data<float>();
  }
  Tensor z = Tensor::zeros({large});
  EXPECT_EQ(z.data<float>(), first);  // the block that held the sevens
  EXPECT_EQ(sum(z).item(), 0.0);
  EXPECT_EQ(amax(z).item(), 0.0);
}
