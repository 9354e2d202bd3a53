// Benchmarks of the CPU convolution kernels alone (tensor/cpu/conv.h), part of ldae_bench:
//
//   conv3d_backward_input/<N>x<Cin>x<D>x<H>x<W>/<Cout>   gx from gy and w
//   conv3d_backward_weight/<N>x<Cin>x<D>x<H>x<W>/<Cout>  gw and gb from gy and x
//
// These time one kernel below the op level, which the op table cannot express (its cases
// run whole ops); conv3d_forward/... and conv3d_forward_backward/... come from the table
// (the conv3d_pad1 and conv3d_stride2 cases, registered by bench_ops.cpp) with the same
// shapes. Kernel 3, padding 1, stride 1, float32. Counters: GFLOP/s (2 * N * Cout * Cin *
// 27 * oD * oH * oW FLOPs per pass) and the process's peak resident memory.
// tests/bench/pytorch_bench.py prints these in its per-kernel table (docs/benchmarks.md).
#include <benchmark/benchmark.h>
#include <sys/resource.h>

#include <chrono>
#include <cstdint>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "tensor/cpu/conv.h"

namespace {

struct ConvShape {
  int64_t N, Cin, D, H, W, Cout;
  int64_t stride = 1;
};

// The shapes of the first convolutions of the LDAE `course` preset networks: a 32 -> 32 block, a
// deeper 64 -> 64 block, and the first layer (1 -> 32 on the 64x80x64 image).
const ConvShape kShapes[] = {
    {1, 32, 32, 40, 32, 32},
    {1, 64, 16, 20, 16, 64},
    {1, 1, 64, 80, 64, 32},
};

std::string shape_name(const ConvShape& s) {
  return std::to_string(s.N) + "x" + std::to_string(s.Cin) + "x" + std::to_string(s.D) + "x" +
         std::to_string(s.H) + "x" + std::to_string(s.W) + "/" + std::to_string(s.Cout);
}

std::vector<float> random_vector(int64_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (float& e : v) e = u(rng);
  return v;
}

double peak_rss_mb() {
  rusage ru{};
  getrusage(RUSAGE_SELF, &ru);
  return static_cast<double>(ru.ru_maxrss) / 1024.0;  // ru_maxrss is in KiB on Linux
}

// What one benchmark iteration runs.
enum class Pass {
  kBackwardInput,   // conv_backward_input alone
  kBackwardWeight,  // conv_backward_weight alone (with gb)
};

void run_conv(benchmark::State& state, ConvShape s, Pass pass) {
  const int64_t in[3] = {s.D, s.H, s.W}, k[3] = {3, 3, 3}, one[3] = {1, 1, 1};
  const int64_t stride[3] = {s.stride, s.stride, s.stride};
  const ldae::cpu::ConvGeometry g =
      ldae::cpu::make_conv_geometry(s.N, s.Cin, s.Cout, 1, in, k, stride, one, one);
  const int64_t P = g.out[0] * g.out[1] * g.out[2];
  const int64_t xn = s.N * s.Cin * s.D * s.H * s.W, yn = s.N * s.Cout * P, wn = s.Cout * s.Cin * 27;
  const std::vector<float> x = random_vector(xn, 1), w = random_vector(wn, 2),
                           gy = random_vector(yn, 4);
  std::vector<float> gx(xn), gw(wn), gb(s.Cout);
  const bool bin = pass == Pass::kBackwardInput;
  const bool bwt = pass == Pass::kBackwardWeight;
  // GFLOP/s from wall-clock time (the kernels are multi-threaded; CPU time of the main thread would
  // not be the elapsed time). The reported real_time is wall-clock too.
  const auto start = std::chrono::steady_clock::now();
  for (auto _ : state) {
    if (bin) ldae::cpu::conv_backward_input<float>(g, gy.data(), w.data(), gx.data());
    if (bwt) ldae::cpu::conv_backward_weight<float>(g, gy.data(), x.data(), gw.data(), gb.data());
    benchmark::DoNotOptimize(gx.data());
    benchmark::DoNotOptimize(gw.data());
    benchmark::ClobberMemory();
  }
  const double seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  const double flops = 2.0 * s.N * s.Cout * s.Cin * 27.0 * P * (bin + bwt);
  state.counters["GFLOP/s"] = flops * static_cast<double>(state.iterations()) / seconds * 1e-9;
  state.counters["peak_rss_MB"] = peak_rss_mb();
}

// Registered at static-initialisation time; ldae_bench links benchmark::benchmark_main.
// (No UseRealTime(): it would append "/real_time" to the names; real_time is reported anyway.)
const bool kRegistered = [] {
  const std::pair<const char*, Pass> passes[] = {
      {"conv3d_backward_input/", Pass::kBackwardInput},
      {"conv3d_backward_weight/", Pass::kBackwardWeight},
  };
  for (const auto& [prefix, pass] : passes) {
    for (const ConvShape& s : kShapes) {
      benchmark::RegisterBenchmark((prefix + shape_name(s)).c_str(), run_conv, s, pass)
          ->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}();

}  // namespace
