// GPU benchmarks of the op table, part of ldae_bench: the CPU names of bench_ops.cpp with
// the prefix "cuda/" (e.g. cuda/conv3d_forward_backward/1x32x32x40x32/32,
// cuda/matmul_forward/1024x1024x1024), float32 CUDA tensors through the same ops. Each
// iteration ends with a device synchronisation, so the wall-clock time covers the
// kernels; counters as table_bench.h, with peak_gpu_MB (the caching allocator's peak).
// Without a GPU every one of them stops at once with "no CUDA device: <reason>".
// LDAE_CUDA_TF32=1 lets cuBLAS use TF32 tensor cores. tests/bench/pytorch_bench_cuda.py
// runs these and PyTorch (cuDNN) on the same GPU and prints the ratios
// (docs/gpu-results.md has the commands).
#include "bench/table_bench.h"

namespace {
const bool kRegistered = ldae::bench::register_table_benchmarks(/*gpu=*/true);
}  // namespace
