// The CPU side of the CUDA backend, tested without a GPU (label unit, so CI runs it):
// the caching allocator's bookkeeping with malloc standing in for cudaMalloc, the clear
// error a program gets when no GPU is usable (or the backend is not built), and the
// Philox host path that the GPU kernels mirror. The GPU side: tests/cuda/.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "common/test_helpers.h"
#include "tensor/cuda/caching_allocator.h"
#include "tensor/cuda/runtime.h"
#include "tensor/ops.h"
#include "tensor/philox.h"
#include "tensor/random.h"

using namespace ldae;
using ldae::testing::expect_error;

namespace {

// A caching allocator over malloc that counts the raw calls.
struct FakeDevice {
  int allocs = 0, frees = 0;
  size_t limit = size_t(1) << 40;  // raw allocations above this fail (out of memory)
  size_t live = 0;
  std::set<void*> blocks;
  std::map<void*, size_t> sizes;  // declared before the allocator, which uses it until destroyed
  cuda::CachingAllocator allocator{[this](size_t n) -> void* {
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
                                   }};
};

}  // namespace

// ---- Caching allocator (no GPU needed) ----------------------------------------------------

TEST(CachingAllocator, BucketSizes) {
  using A = cuda::CachingAllocator;
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
  const cuda::AllocatorStats s = dev.allocator.stats();
  EXPECT_EQ(s.requests, 9u);
  EXPECT_EQ(s.cache_hits, 6u);
  EXPECT_EQ(s.raw_allocs, 3u);
  EXPECT_EQ(s.in_use_bytes, 0u);
  EXPECT_EQ(s.cached_bytes, 2 * cuda::CachingAllocator::bucket_size(1000) +
                                cuda::CachingAllocator::bucket_size(70000));
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
  EXPECT_EQ(dev.allocator.stats().in_use_bytes, cuda::CachingAllocator::bucket_size(100000));
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

// ---- Without a GPU: a clear error, never a crash --------------------------------------------

TEST(CudaRuntime, AvailabilityIsConsistent) {
  if (cuda_available()) {
    EXPECT_EQ(cuda_unavailable_reason(), "");
    EXPECT_GE(cuda_device_count(), 1);
  } else {
    EXPECT_FALSE(cuda_unavailable_reason().empty());
    EXPECT_EQ(cuda_device_count(), 0);
  }
  EXPECT_EQ(cuda_device(1).str(), "cuda:1");
  EXPECT_TRUE(cuda_device().is_cuda());
}

TEST(CudaRuntime, NoDeviceGivesAClearError) {
  if (cuda_available()) GTEST_SKIP() << "a GPU is present: nothing to refuse";
  const std::string reason = cuda_unavailable_reason();
  expect_error(
      [] {
        Tensor::empty({2, 3}, DType::F32, cuda_device());
      },
      {"CUDA", "cuda:0", reason});
  expect_error([] { Tensor::zeros({4}, DType::F64, cuda_device()); }, {"CUDA", reason});
  const Tensor x = Tensor::ones({2, 2});
  expect_error([&] { x.to(cuda_device()); }, {"CUDA", reason});
  Generator gen(1);
  expect_error([&] { randn({3}, gen, DType::F32, 0.0, 1.0, cuda_device()); }, {"CUDA", reason});
  EXPECT_EQ(gen.offset, 0u);  // nothing was drawn
  // The CPU keeps working.
  EXPECT_EQ(add(x, x).to_vector(), std::vector<double>(4, 2.0));
  EXPECT_EQ(x.to(cpu_device()).same_storage(x), true);
}

// ---- Philox: the host path the GPU kernels mirror ---------------------------------------------

// rand/randn on the CPU compute element i as philox::uniform/normal(seed, offset, i), the
// same LDAE_HD functions tensor/cuda/random.cu calls per thread: so the stream depends on
// (seed, offset, i) only, not on the loop or the thread that computes it.
TEST(PhiloxParity, HostTensorsAreThePerElementFunctions) {
  for (DType dtype : {DType::F32, DType::F64}) {
    Generator gen(1234, 77);
    const Tensor u = rand({5, 7}, gen, dtype, -2.0, 3.0);
    const Tensor n = randn({40}, gen, dtype, 0.5, 2.0);
    const std::vector<double> uv = u.to_vector(), nv = n.to_vector();
    for (uint64_t i = 0; i < uv.size(); ++i) {
      const double expect =
          philox::scale_shift(philox::uniform(1234, 77, i, dtype == DType::F64), 5.0, -2.0);
      EXPECT_EQ(uv[i],
                dtype == DType::F32 ? static_cast<double>(static_cast<float>(expect)) : expect);
    }
    for (uint64_t i = 0; i < nv.size(); ++i) {
      const double expect = philox::scale_shift(philox::normal(1234, 77 + 35, i), 2.0, 0.5);
      EXPECT_EQ(nv[i],
                dtype == DType::F32 ? static_cast<double>(static_cast<float>(expect)) : expect);
    }
    EXPECT_EQ(gen.offset, 77u + 35u + 40u);
  }
}

TEST(PhiloxParity, ElementsAreIndependentOfTheSplit) {
  // Drawing 10 then 6 elements equals drawing 16: what lets each GPU thread draw its own.
  Generator a(9), b(9);
  std::vector<double> first = rand({10}, a).to_vector();
  const std::vector<double> rest = rand({6}, a).to_vector();
  first.insert(first.end(), rest.begin(), rest.end());
  EXPECT_EQ(first, rand({16}, b).to_vector());
}
