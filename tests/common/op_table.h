// The op table: one list of op cases that drives
//   - the float64 gradient checks          (tests/gradcheck/test_op_table_grad.cpp),
//   - the CPU-vs-CUDA parity tests          (tests/cuda/test_cuda_parity.cpp),
//   - the determinism tests over threads    (tests/unit/test_op_determinism.cpp),
//   - the op benchmarks                     (tests/bench/bench_ops.cpp, bench_cuda.cpp),
// in the style of ggml's test-backend-ops. Adding an op (or a variant of one) is one
// entry in op_table.cpp; every driver picks it up.
//
// A case is: a name (the test name), a family (for grouping and reports), the random
// inputs (shape, range, whether a gradient is wanted) and a function that runs the op
// through the differentiable ag:: functions. Optional parts: larger inputs for the
// determinism test, benchmark shapes, and a few per-driver settings.
#pragma once
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace ldae::optable {

// One random input of a case: uniform in [low, high) (then adjusted, see below).
struct Input {
  Shape shape;
  double low = -1.0, high = 1.0;
  // false: no gradient (targets, or inputs of plain ops that have no autograd version).
  bool grad = true;
  // > 0: each value u becomes u + away_from_zero * sign(u), so |value| >= away_from_zero
  // (inputs of abs, relu, ...: keeps the finite differences away from the kink at 0).
  double away_from_zero = 0.0;
  // >= 0: the value is added to the input with this index (same shape), e.g. an l1 target
  // that stays at least `away_from_zero` away from the prediction.
  int relative_to = -1;
};

// Shorthands for the table: an input in [0.5, 2) (log, sqrt, div, pow); an input without
// a gradient.
Input pos(Shape shape);
Input nograd(Shape shape, double low = -1.0, double high = 1.0);

// The function of a case: maps the inputs (in table order) to the output.
using OpFn = std::function<Tensor(const std::vector<Tensor>&)>;

// A benchmark of a case, registered as "<name>_forward/<label>" and/or
// "<name>_forward_backward/<label>" (and "cuda/..." for the GPU), float32.
struct Bench {
  std::string name;   // e.g. "matmul"
  std::string label;  // e.g. "1024x1024x1024"
  std::vector<Input> inputs;
  bool forward = true;            // time the forward pass alone (no autograd graph)
  bool forward_backward = false;  // time forward + ag::backward (every gradient)
  bool cuda = true;               // also register "cuda/..." (forward, forward_backward)
  double flops = 0;  // FLOPs of one forward pass (> 0: a GFLOP/s counter; backward counts 2x)
  double bytes = 0;  // bytes moved by one forward pass (> 0: a bytes/s counter, forward only)
};

struct OpCase {
  std::string name;    // unique; the GoogleTest parameter name (letters, digits, _)
  std::string family;  // "elementwise", "reduction", "matmul", "softmax", "conv", ...
  std::vector<Input> inputs;
  OpFn f;
  // Larger inputs for the determinism test, big enough for the OpenMP loops to split the
  // work (empty: the determinism test uses `inputs`).
  std::vector<Input> det_inputs;
  std::vector<Bench> benches;
  bool gradcheck = true;      // false: no float64 gradient check (also skipped with no grad input)
  bool parity = true;         // false: not in the CPU-vs-CUDA parity test
  double f32_rtol = 2e-4;     // parity tolerance in float32
  size_t conv_workspace = 0;  // parity: > 0 forces the GPU's im2col bound (bytes) to chunk
};

// The table (built once, on first use).
const std::vector<OpCase>& op_table();

// True when some input of the case wants a gradient.
bool has_grad_input(const OpCase& c);

// Draws the inputs of `specs` in order from `gen`: float64 CPU tensors, no requires_grad.
std::vector<Tensor> draw_inputs(const std::vector<Input>& specs, Generator& gen);

// A stable 64-bit seed from a case name (FNV-1a), so each case draws the same numbers
// whatever the order or the filter of the tests.
uint64_t seed_of(const std::string& name);

}  // namespace ldae::optable
