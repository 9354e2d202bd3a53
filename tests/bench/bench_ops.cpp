// Benchmarks of the non-convolution ops the issue names: matmul 1024x1024, softmax and
// group norm (forward and forward+backward), in float32. GFLOP/s or GB/s are reported
// as counters. Threads follow OMP_NUM_THREADS. Compare with PyTorch through
// tests/bench/pytorch_bench.py (see docs/benchmarks.md).
#include <benchmark/benchmark.h>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace {

using namespace ldae;

void matmul_forward(benchmark::State& state, int64_t n) {
  Generator gen(0);
  Tensor a = randn({n, n}, gen), b = randn({n, n}, gen);
  for (auto _ : state) benchmark::DoNotOptimize(matmul(a, b).data<float>());
  // Shown as "GFLOP=<x>/s": billions of floating-point operations per second.
  state.counters["GFLOP"] = benchmark::Counter(2.0 * n * n * n / 1e9,
                                               benchmark::Counter::kIsIterationInvariantRate);
}

// softmax over the last axis of (rows, cols): reads and writes each element once.
void softmax_forward(benchmark::State& state, int64_t rows, int64_t cols) {
  Generator gen(0);
  Tensor x = randn({rows, cols}, gen);
  for (auto _ : state) benchmark::DoNotOptimize(softmax(x, -1).data<float>());
  state.SetBytesProcessed(state.iterations() * 2 * 4 * rows * cols);
}

// group norm with 32 groups on (1, C, D, H, W), with weight and bias.
void group_norm_forward(benchmark::State& state, int64_t c, int64_t d, int64_t h, int64_t w) {
  Generator gen(0);
  Tensor x = randn({1, c, d, h, w}, gen), weight = randn({c}, gen), bias = randn({c}, gen);
  for (auto _ : state) benchmark::DoNotOptimize(group_norm(x, 32, weight, bias, 1e-5).y.data<float>());
  state.SetBytesProcessed(state.iterations() * 2 * 4 * x.numel());
}

void group_norm_forward_backward(benchmark::State& state, int64_t c, int64_t d, int64_t h,
                                 int64_t w) {
  Generator gen(0);
  Tensor x = randn({1, c, d, h, w}, gen).set_requires_grad();
  Tensor weight = randn({c}, gen).set_requires_grad(), bias = randn({c}, gen).set_requires_grad();
  Tensor gy = randn({1, c, d, h, w}, gen);
  for (auto _ : state) {
    Tensor y = ag::group_norm(x, 32, weight, bias, 1e-5);
    ag::backward(y, gy);
    x.set_grad(Tensor());
    weight.set_grad(Tensor());
    bias.set_grad(Tensor());
  }
}

}  // namespace

// Registered with explicit names (no argument suffixes), so that scripts can match them.
const bool registered = [] {
  using benchmark::RegisterBenchmark;
  RegisterBenchmark("matmul_forward/1024x1024x1024", matmul_forward, 1024)->Unit(benchmark::kMillisecond);
  RegisterBenchmark("softmax_forward/4096x1024", softmax_forward, 4096, 1024)->Unit(benchmark::kMillisecond);
  RegisterBenchmark("group_norm_forward/1x64x32x40x32/g32", group_norm_forward, 64, 32, 40, 32)->Unit(benchmark::kMillisecond);
  RegisterBenchmark("group_norm_forward_backward/1x64x32x40x32/g32", group_norm_forward_backward, 64, 32,
                    40, 32)->Unit(benchmark::kMillisecond);
  return true;
}();
