// The CPU side of the CUDA backend, tested without a GPU (label unit, so CI runs it): the
// clear error a program gets when no GPU is usable (or the backend is not built), and the
// Philox host path that the GPU kernels mirror. The caching allocator behind GPU memory:
// test_caching_allocator.cpp. The GPU side: tests/cuda/.
#include <gtest/gtest.h>

#include <cstdlib>
#include <map>
#include <set>

#include "common/test_helpers.h"
#include "tensor/cuda/runtime.h"
#include "tensor/ops.h"
#include "tensor/philox.h"
#include "tensor/random.h"

using namespace ldae;
using ldae::testing::expect_error;

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
