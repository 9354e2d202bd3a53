// The CUDA runtime layer on a GPU: device memory, copies in both directions with any
// strides and dtypes, fill, the caching allocator's steady state, device errors, and the
// Philox stream on both devices. Without a GPU every test here skips with the reason.
// (The parts that need no GPU are in tests/unit/test_cuda_host.cpp.)
#include <gtest/gtest.h>

#include "common/test_helpers.h"
#include "cuda/cuda_test_helpers.h"
#include "tensor/ops.h"
#include "tensor/random.h"

using namespace ldae;
using ldae::testing::expect_error;

// ---- On a GPU ----------------------------------------------------------------------------------

TEST(CudaDevice, RoundTripAndDtypeConversion) {
  LDAE_REQUIRE_CUDA();
  Generator gen(3);
  const Tensor x = rand({3, 4, 5}, gen, DType::F64);
  const Tensor g = x.to(cuda_device());
  EXPECT_TRUE(g.device().is_cuda());
  EXPECT_EQ(g.to_vector(), x.to_vector());
  EXPECT_EQ(g.to(DType::F32).to(cpu_device()).to_vector(), x.to(DType::F32).to_vector());
  EXPECT_DOUBLE_EQ(g.at({1, 2, 3}), x.at({1, 2, 3}));
  EXPECT_NEAR(sum(g).item(), sum(x).item(), 1e-12);  // the order of the additions differs
  EXPECT_NE(g.str().find("device=cuda:0"), std::string::npos) << g.str();
  EXPECT_EQ(g.str().substr(0, 20), x.str().substr(0, 20));  // the same values are printed
}

TEST(CudaDevice, StridedCopiesBothWays) {
  LDAE_REQUIRE_CUDA();
  Generator gen(4);
  const Tensor x = rand({4, 6, 5}, gen, DType::F32);
  const Tensor view = x.permute({2, 0, 1}).slice(1, 1, 4);  // non-contiguous source
  // CPU view -> GPU, GPU view -> GPU, GPU view -> CPU.
  EXPECT_EQ(view.to(cuda_device()).to_vector(), view.to_vector());
  const Tensor g = x.to(cuda_device());
  EXPECT_EQ(g.permute({2, 0, 1}).slice(1, 1, 4).contiguous().to_vector(), view.to_vector());
  Tensor host = Tensor::zeros({6, 4}, DType::F64);
  host.transpose(0, 1).copy_(g.slice(2, 2, 3).squeeze(2));  // GPU f32 -> strided CPU f64
  EXPECT_EQ(host.transpose(0, 1).contiguous().to_vector(),
            x.slice(2, 2, 3).squeeze(2).to(DType::F64).to_vector());
  // Broadcast source into a strided GPU destination.
  Tensor dst = Tensor::zeros({5, 4}, DType::F32, cuda_device());
  dst.transpose(0, 1).copy_(Tensor::from_vector({1, 2, 3, 4}, {4, 1}));
  EXPECT_EQ(dst.to_vector()[0], 1.0);
  EXPECT_EQ(dst.to_vector()[19], 4.0);
}

TEST(CudaDevice, FillAnyStrides) {
  LDAE_REQUIRE_CUDA();
  Tensor t = Tensor::zeros({4, 5}, DType::F64, cuda_device());
  t.slice(1, 1, 5, 2).fill_(7.5);
  Tensor ref = Tensor::zeros({4, 5}, DType::F64);
  ref.slice(1, 1, 5, 2).fill_(7.5);
  EXPECT_EQ(t.to_vector(), ref.to_vector());
  EXPECT_EQ(Tensor::full({3}, 2.0, DType::F32, cuda_device()).to_vector(),
            std::vector<double>(3, 2.0));
}

TEST(CudaDevice, AllocatorSteadyState) {
  LDAE_REQUIRE_CUDA();
  Generator gen(5);
  const Tensor w = rand({64, 64}, gen, DType::F32, -1, 1, cuda_device());
  auto step = [&] {
    const Tensor x = rand({32, 64}, gen, DType::F32, -1, 1, cuda_device());
    return sum(relu(matmul(x, w))).item();
  };
  step();  // warm-up: fills the cache
  const uint64_t raw = cuda::allocator_stats(0).raw_allocs;
  for (int i = 0; i < 5; ++i) step();
  EXPECT_EQ(cuda::allocator_stats(0).raw_allocs, raw)
      << "cudaMalloc was called in the steady state";
  EXPECT_GT(cuda::allocator_stats(0).cache_hits, 0u);
}

TEST(CudaDevice, BadDeviceIndexIsAnError) {
  LDAE_REQUIRE_CUDA();
  expect_error([] { Tensor::empty({2}, DType::F32, cuda_device(63)); },
               {"cuda:63", "usable CUDA device"});
  const Tensor a = Tensor::ones({2, 2}, DType::F32, cuda_device());
  expect_error([&] { add(a, Tensor::ones({2, 2})); }, {"add", "cuda:0", "cpu"});
  expect_error([&] { a.data<float>(); }, {"data", "cuda:0"});
}

TEST(CudaDevice, PhiloxSameNumbersOnBothDevices) {
  LDAE_REQUIRE_CUDA();
  for (DType dtype : {DType::F32, DType::F64}) {
    Generator c(2024, 5), g(2024, 5);
    const Tensor uc = rand({1000}, c, dtype, -1, 1),
                 ug = rand({1000}, g, dtype, -1, 1, cuda_device());
    const Tensor nc = randn({3, 333}, c, dtype),
                 ng = randn({3, 333}, g, dtype, 0, 1, cuda_device());
    EXPECT_EQ(c.offset, g.offset);
    EXPECT_EQ(ug.to_vector(), uc.to_vector());  // integer arithmetic and one fma: bit-identical
    // Box-Muller uses log and cos, whose device versions may differ by an ulp in f64.
    ldae::testing::expect_parity(nc, ng, {dtype == DType::F32 ? 1e-6 : 1e-14}, "randn");
  }
}
