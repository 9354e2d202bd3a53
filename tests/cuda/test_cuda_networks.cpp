// CPU-vs-GPU parity of the LDAE networks (label cuda): the same weights on both devices,
// one forward pass and one backward pass; the outputs and the gradient of every
// parameter must agree. Float64, tiny configurations, attention switched on. The weights
// are drawn at random (a fresh UNet's output convolution is zero, which would hide every
// block before it).
#include <gtest/gtest.h>

#include <memory>
#include <string>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "cuda/cuda_test_helpers.h"
#include "ldae/autoencoder_kl.h"
#include "ldae/patch_discriminator.h"
#include "ldae/presets.h"
#include "ldae/shift_unet.h"
#include "ldae/unet.h"
#include "tensor/random.h"

using namespace ldae;
using namespace ldae::nets;  // the networks and the presets

namespace {

// Float64 tolerance: only the order of additions differs (cuBLAS vs Eigen, GPU reductions),
// through a few dozen layers.
constexpr double kRtol = 1e-8;

// Every parameter of `m` (float64, CPU) replaced by N(0, 0.1^2) draws from `gen`.
void randomise(nn::Module& m, Generator& gen) {
  NoGrad no_grad;
  for (auto& [name, p] : m.named_parameters()) {
    Tensor r = randn(p.shape(), gen, DType::F64, 0.0, 0.1);
    p.copy_(r);
  }
}

// Compares the buffers of `gpu` (batch norm running statistics and counters) with `cpu`'s.
void expect_same_buffers(const nn::Module& cpu, const nn::Module& gpu, const std::string& what) {
  const nn::NamedTensors a = cpu.named_buffers(), b = gpu.named_buffers();
  ASSERT_EQ(a.size(), b.size());
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    ldae::testing::expect_parity(a[i].second, b[i].second, {kRtol}, what + " buffer " + a[i].first);
  }
}

// Compares `gpu`'s parameter gradients with `cpu`'s, by name.
void expect_same_grads(const nn::Module& cpu, const nn::Module& gpu, const std::string& what) {
  const nn::NamedTensors a = cpu.named_parameters(), b = gpu.named_parameters();
  ASSERT_EQ(a.size(), b.size());
  int compared = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    ASSERT_EQ(a[i].first, b[i].first);
    if (!a[i].second.grad().defined()) {
      EXPECT_FALSE(b[i].second.grad().defined()) << what << ": " << a[i].first;
      continue;
    }
    ASSERT_TRUE(b[i].second.grad().defined()) << what << ": " << a[i].first;
    ldae::testing::expect_parity(a[i].second.grad(), b[i].second.grad(), {kRtol}, what + " grad " + a[i].first);
    ++compared;
  }
  EXPECT_GT(compared, 0) << what << ": no parameter received a gradient";
}

// Loss = sum(out * weights): a random upstream gradient for every output element.
Tensor weighted_sum(const Tensor& out, const Tensor& weights) { return ag::sum(ag::mul(out, weights)); }

}  // namespace

TEST(CudaNetworks, AutoencoderKLMatchesTheCpu) {
  LDAE_REQUIRE_CUDA();
  AutoencoderKLOptions o = autoencoder_kl_preset("tiny");
  o.attention_levels = {false, true};  // attention and the non-local blocks on
  o.with_encoder_nonlocal_attn = true;
  o.with_decoder_nonlocal_attn = true;
  Generator gen(1);
  AutoencoderKL cpu(o, gen), gpu(o, gen);
  cpu.to(DType::F64);
  gpu.to(DType::F64);
  randomise(cpu, gen);
  gpu.load_state_dict(cpu.state_dict());
  gpu.to(cuda_device());

  const Tensor x = rand({1, 1, 16, 20, 16}, gen, DType::F64);  // x: (N, 1, D, H, W)
  const Tensor w = randn(x.shape(), gen, DType::F64);
  const Tensor y_cpu = cpu.reconstruct(x), y_gpu = gpu.reconstruct(x.to(cuda_device()));
  ldae::testing::expect_parity(y_cpu, y_gpu, {kRtol}, "reconstruct");
  ag::backward(weighted_sum(y_cpu, w));
  ag::backward(weighted_sum(y_gpu, w.to(cuda_device())));
  expect_same_grads(cpu, gpu, "AutoencoderKL");
}

TEST(CudaNetworks, UNetMatchesTheCpu) {
  LDAE_REQUIRE_CUDA();
  const UNetOptions o = unet_options("tiny");  // attention at the second level, 2 heads
  Generator gen(2);
  UNet cpu(o, gen), gpu(o, gen);
  cpu.to(DType::F64);
  gpu.to(DType::F64);
  randomise(cpu, gen);
  gpu.load_state_dict(cpu.state_dict());
  gpu.to(cuda_device());
  cpu.eval();
  gpu.eval();

  const Tensor x = randn({2, 3, 8, 10, 8}, gen, DType::F64);  // x_t: (N, 3, d, h, w)
  const Tensor t = Tensor::from_vector({3.0, 999.0}, {2}, DType::F64);
  const Tensor w = randn(x.shape(), gen, DType::F64);
  const Tensor e_cpu = cpu.forward(x, t), e_gpu = gpu.forward(x.to(cuda_device()), t.to(cuda_device()));
  ldae::testing::expect_parity(e_cpu, e_gpu, {kRtol}, "UNet eps");
  ag::backward(weighted_sum(e_cpu, w));
  ag::backward(weighted_sum(e_gpu, w.to(cuda_device())));
  expect_same_grads(cpu, gpu, "UNet");
}

TEST(CudaNetworks, ShiftUNetMatchesTheCpu) {
  LDAE_REQUIRE_CUDA();
  const ShiftUNetOptions o = shift_unet_options("tiny");
  Generator gen(3);
  ShiftUNet cpu(o, gen), gpu(o, gen);
  cpu.to(DType::F64);
  gpu.to(DType::F64);
  randomise(cpu, gen);
  gpu.load_state_dict(cpu.state_dict());
  gpu.to(cuda_device());

  const Tensor x = randn({2, 3, 8, 10, 8}, gen, DType::F64);
  const Tensor t = Tensor::from_vector({10.0, 500.0}, {2}, DType::F64);
  const Tensor y_sem = randn({2, o.latent_dim}, gen, DType::F64);  // y_sem: (N, latent_dim)
  const auto [eps_cpu, shift_cpu] = cpu.forward(x, t, y_sem);
  const auto [eps_gpu, shift_gpu] =
      gpu.forward(x.to(cuda_device()), t.to(cuda_device()), y_sem.to(cuda_device()));
  ldae::testing::expect_parity(eps_cpu, eps_gpu, {kRtol}, "ShiftUNet eps");
  ldae::testing::expect_parity(shift_cpu, shift_gpu, {kRtol}, "ShiftUNet shift");
  const Tensor w = randn(shift_cpu.shape(), gen, DType::F64);
  ag::backward(weighted_sum(shift_cpu, w));
  ag::backward(weighted_sum(shift_gpu, w.to(cuda_device())));
  expect_same_grads(cpu, gpu, "ShiftUNet");
}

// Train mode: batch norm on batch statistics, running statistics updated on both devices.
TEST(CudaNetworks, PatchDiscriminatorMatchesTheCpu) {
  LDAE_REQUIRE_CUDA();
  const PatchDiscriminatorOptions o = patch_discriminator_preset("tiny");
  Generator gen(4);
  PatchDiscriminator cpu(o, gen), gpu(o, gen);
  cpu.to(DType::F64);
  gpu.to(DType::F64);
  randomise(cpu, gen);
  gpu.load_state_dict(cpu.state_dict());
  gpu.to(cuda_device());
  cpu.train();
  gpu.train();

  const Tensor x = randn({2, 1, 16, 20, 16}, gen, DType::F64);  // x: (N, 1, D, H, W)
  const std::vector<Tensor> all_cpu = cpu.forward_all(x), all_gpu = gpu.forward_all(x.to(cuda_device()));
  ASSERT_EQ(all_cpu.size(), all_gpu.size());
  for (size_t i = 0; i < all_cpu.size(); ++i)
    ldae::testing::expect_parity(all_cpu[i], all_gpu[i], {kRtol}, "layer " + std::to_string(i));
  expect_same_buffers(cpu, gpu, "PatchDiscriminator");
  const Tensor w = randn(all_cpu.back().shape(), gen, DType::F64);
  ag::backward(weighted_sum(all_cpu.back(), w));
  ag::backward(weighted_sum(all_gpu.back(), w.to(cuda_device())));
  expect_same_grads(cpu, gpu, "PatchDiscriminator");
}
