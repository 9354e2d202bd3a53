// CPU benchmarks of the op table (tests/common/op_table.cpp, the cases with `benches`):
//   matmul_forward/1024x1024x1024
//   softmax_forward/4096x1024
//   group_norm_forward/1x64x32x40x32/g32, group_norm_forward_backward/...
//   conv3d_forward/<N>x<Cin>x<D>x<H>x<W>/<Cout>, conv3d_forward_backward/...
//   conv3d_stride2_forward_backward/1x64x32x40x32/64
// float32; threads follow OMP_NUM_THREADS. See table_bench.h for what is timed and the
// counters; bench_conv.cpp times the convolution kernels alone. Compare with PyTorch
// through tests/bench/pytorch_bench.py (docs/benchmarks.md).
#include "bench/table_bench.h"

namespace {
const bool kRegistered = ldae::bench::register_table_benchmarks(/*gpu=*/false);
}  // namespace
