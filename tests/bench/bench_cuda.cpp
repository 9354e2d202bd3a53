// GPU variants of the benchmarks (tensor/cuda/), part of ldae_bench:
//
//   cuda/conv3d_forward/<N>x<Cin>x<D>x<H>x<W>/<Cout>           y = conv3d(x, w) + b
//   cuda/conv3d_forward_backward/<N>x<Cin>x<D>x<H>x<W>/<Cout>  forward, then gx, gw and gb
//   cuda/matmul_forward/1024x1024x1024
//   cuda/softmax_forward/4096x1024
//   cuda/group_norm_forward/1x64x32x40x32/g32
//
// The same shapes as bench_conv.cpp and bench_ops.cpp, float32, through the public ops
// (conv3d, conv_backward, matmul, ...) on CUDA tensors. Each iteration ends with a device
// synchronisation, so the wall-clock time covers the kernels. Counters: GFLOP/s (or
// bytes/s) from wall-clock time, and peak_gpu_MB, the caching allocator's peak of memory
// in use. Without a GPU every one of them stops at once with the message
// "no CUDA device: <reason>". LDAE_CUDA_TF32=1 lets cuBLAS use TF32 tensor cores.
// tests/bench/pytorch_bench_cuda.py runs these and PyTorch (cuDNN) on the same GPU and
// prints the ratios (docs/gpu-results.md has the commands).
#include <benchmark/benchmark.h>

#include <chrono>
#include <string>

#include "tensor/cuda/runtime.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace {

using namespace ldae;

// Stops the benchmark with the reason when there is no GPU; true when it can run.
bool require_gpu(benchmark::State& state) {
  if (cuda_available()) return true;
  state.SkipWithError(("no CUDA device: " + cuda_unavailable_reason()).c_str());
  return false;
}

double peak_gpu_mb() {
  return static_cast<double>(cuda::allocator_stats(0).peak_in_use_bytes) / (1024.0 * 1024.0);
}

struct ConvShape {
  int64_t N, Cin, D, H, W, Cout;
};

// As bench_conv.cpp: the first convolutions of the LDAE `course` networks.
const ConvShape kShapes[] = {
    {1, 32, 32, 40, 32, 32},
    {1, 64, 16, 20, 16, 64},
    {1, 1, 64, 80, 64, 32},
};

std::string shape_name(const ConvShape& s) {
  return std::to_string(s.N) + "x" + std::to_string(s.Cin) + "x" + std::to_string(s.D) + "x" +
         std::to_string(s.H) + "x" + std::to_string(s.W) + "/" + std::to_string(s.Cout);
}

void cuda_conv(benchmark::State& state, ConvShape s, bool backward) {
  if (!require_gpu(state)) return;
  const Device gpu = cuda_device();
  Generator gen(1);
  const Tensor x = rand({s.N, s.Cin, s.D, s.H, s.W}, gen, DType::F32, -1, 1, gpu);
  const Tensor w = rand({s.Cout, s.Cin, 3, 3, 3}, gen, DType::F32, -0.1, 0.1, gpu);
  const Tensor b = rand({s.Cout}, gen, DType::F32, -1, 1, gpu);
  const Tensor gy = rand({s.N, s.Cout, s.D, s.H, s.W}, gen, DType::F32, -1, 1, gpu);
  const ConvParams p{{1}, {1}, {1}, 1};
  auto step = [&] {
    const Tensor y = conv3d(x, w, b, p);
    if (backward) conv_backward(gy, x, w, p, true, true, true);
    cuda::synchronize();
  };
  step();  // warm-up: cuBLAS heuristics, the allocator's cache
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) step();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double flops = 2.0 * s.N * s.Cout * s.Cin * 27.0 * s.D * s.H * s.W * (backward ? 3.0 : 1.0);
  state.counters["GFLOP/s"] = flops * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["peak_gpu_MB"] = peak_gpu_mb();
}

void cuda_matmul(benchmark::State& state, int64_t n) {
  if (!require_gpu(state)) return;
  Generator gen(0);
  const Tensor a = randn({n, n}, gen, DType::F32, 0, 1, cuda_device());
  const Tensor b = randn({n, n}, gen, DType::F32, 0, 1, cuda_device());
  matmul(a, b);
  cuda::synchronize();
  for (auto _ : state) {
    matmul(a, b);
    cuda::synchronize();
  }
  state.counters["GFLOP"] =
      benchmark::Counter(2.0 * n * n * n / 1e9, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["peak_gpu_MB"] = peak_gpu_mb();
}

void cuda_softmax(benchmark::State& state, int64_t rows, int64_t cols) {
  if (!require_gpu(state)) return;
  Generator gen(0);
  const Tensor x = randn({rows, cols}, gen, DType::F32, 0, 1, cuda_device());
  for (auto _ : state) {
    softmax(x, -1);
    cuda::synchronize();
  }
  state.SetBytesProcessed(state.iterations() * 2 * 4 * rows * cols);
}

void cuda_group_norm(benchmark::State& state, int64_t c, int64_t d, int64_t h, int64_t w) {
  if (!require_gpu(state)) return;
  Generator gen(0);
  const Tensor x = randn({1, c, d, h, w}, gen, DType::F32, 0, 1, cuda_device());
  const Tensor weight = randn({c}, gen, DType::F32, 0, 1, cuda_device());
  const Tensor bias = randn({c}, gen, DType::F32, 0, 1, cuda_device());
  for (auto _ : state) {
    group_norm(x, 32, weight, bias, 1e-5);
    cuda::synchronize();
  }
  state.SetBytesProcessed(state.iterations() * 2 * 4 * x.numel());
}

// Registered with explicit names, so that scripts can match them ("cuda/" + the CPU name).
const bool kRegistered = [] {
  using benchmark::RegisterBenchmark;
  for (const ConvShape& s : kShapes) {
    RegisterBenchmark(("cuda/conv3d_forward/" + shape_name(s)).c_str(), cuda_conv, s, false)
        ->Unit(benchmark::kMillisecond);
    RegisterBenchmark(("cuda/conv3d_forward_backward/" + shape_name(s)).c_str(), cuda_conv, s, true)
        ->Unit(benchmark::kMillisecond);
  }
  RegisterBenchmark("cuda/matmul_forward/1024x1024x1024", cuda_matmul, 1024)
      ->Unit(benchmark::kMillisecond);
  RegisterBenchmark("cuda/softmax_forward/4096x1024", cuda_softmax, 4096, 1024)
      ->Unit(benchmark::kMillisecond);
  RegisterBenchmark("cuda/group_norm_forward/1x64x32x40x32/g32", cuda_group_norm, 64, 32, 40, 32)
      ->Unit(benchmark::kMillisecond);
  return true;
}();

}  // namespace
