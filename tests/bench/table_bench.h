// Benchmarks of the op table (tests/common/op_table.h): every `Bench` of a case becomes
//   <name>_forward/<label>            the case's function, no autograd graph
//   <name>_forward_backward/<label>   the function with requires_grad on the inputs that
//                                     want a gradient, then ag::backward (every gradient)
// in float32, on the CPU (bench_ops.cpp) and, prefixed "cuda/", on the GPU (bench_cuda.cpp).
// Counters: GFLOP/s from wall-clock time when the bench gives `flops` (forward_backward:
// 3x, the two gradient products of a matmul or conv), bytes/s (forward) when it gives
// `bytes`, and the peak memory (CPU: resident set; GPU: the caching allocator's peak).
#pragma once
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "common/op_table.h"
#include "tensor/cuda/runtime.h"
#include "tensor/random.h"

namespace ldae::bench {

inline double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// One table benchmark: the case `c`, its bench `b`, with or without backward, on `device`.
inline void run_table_bench(benchmark::State& state, const optable::OpCase* c,
                            const optable::Bench* b, bool backward, Device device) {
  const bool gpu = device.is_cuda();
  if (gpu && !cuda_available()) {
    state.SkipWithError(("no CUDA device: " + cuda_unavailable_reason()).c_str());
    return;
  }
  Generator gen(0);
  std::vector<Tensor> inputs;
  for (const Tensor& t : optable::draw_inputs(b->inputs, gen))
    inputs.push_back(t.to(DType::F32).to(device));
  for (size_t k = 0; k < inputs.size(); ++k)
    if (backward && b->inputs[k].grad) inputs[k].set_requires_grad(true);
  Tensor gout;
  if (backward) gout = randn(c->f(inputs).shape(), gen, DType::F32, 0, 1, device);

  auto step = [&] {
    const Tensor y = c->f(inputs);
    if (backward) {
      ag::backward(y, gout);
      for (const Tensor& t : inputs)
        if (t.requires_grad()) t.set_grad(Tensor());
    }
    if (gpu)
      cuda::synchronize();  // the kernels have finished: their result exists
    else
      benchmark::DoNotOptimize(y.data<float>());  // (host memory only: no device pointer here)
  };
  step();  // warm-up: allocator caches, cuBLAS heuristics
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) step();
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double iterations = static_cast<double>(state.iterations());
  if (b->flops > 0)
    state.counters["GFLOP/s"] = b->flops * (backward ? 3.0 : 1.0) * iterations / seconds * 1e-9;
  if (b->bytes > 0 && !backward)
    state.SetBytesProcessed(static_cast<int64_t>(b->bytes * iterations));
  if (gpu)
    state.counters["peak_gpu_MB"] =
        static_cast<double>(cuda::allocator_stats(0).peak_in_use_bytes) / (1024.0 * 1024.0);
  else
    state.counters["peak_rss_MB"] = peak_rss_mb();
}

// Registers the benchmarks of every case of the table on the CPU (prefix "") or the GPU
// (prefix "cuda/", only the benches with cuda set).
inline bool register_table_benchmarks(bool gpu) {
  for (const optable::OpCase& c : optable::op_table()) {
    for (const optable::Bench& b : c.benches) {
      if (gpu && !b.cuda) continue;
      const std::string prefix = gpu ? "cuda/" : "";
      const Device device = gpu ? cuda_device() : cpu_device();
      if (b.forward)
        benchmark::RegisterBenchmark((prefix + b.name + "_forward/" + b.label).c_str(),
                                     run_table_bench, &c, &b, false, device)
            ->Unit(benchmark::kMillisecond);
      if (b.forward_backward)
        benchmark::RegisterBenchmark((prefix + b.name + "_forward_backward/" + b.label).c_str(),
                                     run_table_bench, &c, &b, true, device)
            ->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}

}  // namespace ldae::bench
