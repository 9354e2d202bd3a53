// The op table (see op_table.h). Each entry: family, name, inputs, function; then, where
// useful, determinism inputs (det_inputs) and benchmark shapes (benches).
//
// Sizes: `inputs` stay small (the gradient check perturbs every entry of small inputs and
// runs the function twice per entry). `det_inputs` are larger than the thresholds of the
// `#pragma omp ... if (...)` loops (32768 elements in tensor/cpu/, 65536 in reductions,
// 64^3 multiply-adds per product in batched matmul), so that several threads share the
// work.
#include "common/op_table.h"

#include <cmath>
#include <utility>

#include "autograd/functions.h"
#include "nn/stochastic_depth.h"
#include "tensor/kernels.h"
#include "tensor/ops.h"

namespace ldae::optable {

Input pos(Shape shape) {
  return Input{std::move(shape), 0.5, 2.0};
}

Input nograd(Shape shape, double low, double high) {
  return Input{std::move(shape), low, high, false};
}

bool has_grad_input(const OpCase& c) {
  for (const Input& in : c.inputs)
    if (in.grad) return true;
  return false;
}

std::vector<Tensor> draw_inputs(const std::vector<Input>& specs, Generator& gen) {
  std::vector<Tensor> out;
  for (const Input& s : specs) {
    Tensor t = rand(s.shape, gen, DType::F64, s.low, s.high);
    if (s.away_from_zero > 0) t = add(t, mul_scalar(sign(t), s.away_from_zero));
    if (s.relative_to >= 0) t = add(out.at(static_cast<size_t>(s.relative_to)), t);
    out.push_back(t.contiguous());
  }
  return out;
}

uint64_t seed_of(const std::string& name) {
  uint64_t h = 14695981039346656037ull;  // FNV-1a offset basis
  for (unsigned char ch : name) {
    h ^= ch;
    h *= 1099511628211ull;  // FNV prime
  }
  return h;
}

namespace {

using V = std::vector<Tensor>;

ConvParams conv(std::vector<int64_t> stride, std::vector<int64_t> padding,
                std::vector<int64_t> dilation, int64_t groups = 1) {
  return ConvParams{std::move(stride), std::move(padding), std::move(dilation), groups};
}

// An input kept at least 0.1 away from 0 (abs, relu, leaky_relu).
Input kinked(Shape shape) {
  Input in{std::move(shape), -2.0, 2.0};
  in.away_from_zero = 0.1;
  return in;
}

// Builds the table. `add` appends a case; `last()` is that case, for the optional settings
// (det_inputs, benches, ...). Use the references at once: the next `add` may move the vector.
struct Builder {
  std::vector<OpCase> cases;
  std::string family;
  OpCase& last() { return cases.back(); }
  OpCase& add(std::string name, std::vector<Input> inputs, OpFn f) {
    OpCase c;
    c.name = std::move(name);
    c.family = family;
    c.inputs = std::move(inputs);
    c.f = std::move(f);
    cases.push_back(std::move(c));
    return cases.back();
  }
};

void elementwise(Builder& b) {
  b.family = "elementwise";
  // Binary, with broadcasting.
  b.add("add_bcast", {{{2, 3, 4}}, {{3, 1}}}, [](const V& v) { return ag::add(v[0], v[1]); });
  b.add("sub_bcast", {{{4, 1, 5}}, {{3, 5}}}, [](const V& v) { return ag::sub(v[0], v[1]); });
  b.add("sub_bcast_vec", {{{4}}, {{2, 3, 4}}}, [](const V& v) { return ag::sub(v[0], v[1]); });
  b.add("mul_bcast", {{{2, 1, 3}}, {{4, 1}}}, [](const V& v) { return ag::mul(v[0], v[1]); });
  b.add("mul_bcast_col", {{{2, 3, 4}}, {{3, 1}}}, [](const V& v) { return ag::mul(v[0], v[1]); });
  b.add("div", {{{3, 4}}, pos({3, 4})}, [](const V& v) { return ag::div(v[0], v[1]); });
  b.add("div_bcast", {{{2, 3, 4}}, pos({3, 1})}, [](const V& v) { return ag::div(v[0], v[1]); });
  b.add("maximum", {nograd({3, 4}), nograd({4})}, [](const V& v) { return maximum(v[0], v[1]); });
  b.add("add_scaled", {nograd({5, 2}), nograd({5, 2})},
        [](const V& v) { return add_scaled(v[0], v[1], -0.3); });
  b.add("operators", {{{2, 2}}, {{2, 2}, 0.5, 1.5}},
        [](const V& x) { return (x[0] * x[1] - x[0] / x[1] + 2.0) * 3.0 - x[0]; });
  // Non-contiguous operands (transposed, sliced, permuted views).
  b.add("add_transposed", {{{4, 3}}, {{3, 4}}},
        [](const V& v) { return ag::add(ag::transpose(v[0], 0, 1), v[1]); });
  b.add("mul_sliced", {{{3, 8}}, {{3, 4}}},
        [](const V& v) { return ag::mul(ag::slice(v[0], 1, 0, 8, 2), v[1]); });
  b.add("mul_transposed_sliced", {{{4, 3}}, {{3, 4}}},
        [](const V& v) { return ag::mul(ag::transpose(v[0], 0, 1), ag::slice(v[1], 1, 0, 4, 1)); });
  b.add("exp_sliced", {{{4, 3}}}, [](const V& v) { return ag::exp(ag::slice(v[0], 0, 0, 4, 2)); });
  b.add("exp_permuted", {{{2, 3, 4}}}, [](const V& v) {
    return ag::exp(ag::permute(v[0], {2, 0, 1}));
  });
  // Long enough for several threads (one chunk of strided_loop.h is 32768 elements).
  b.add("add_large", {{{3, 70000}}, {{70000}}}, [](const V& v) { return ag::add(v[0], v[1]); });
  b.last().gradcheck = false;  // for the GPU's many blocks; add_bcast checks the same gradient
  // With a scalar.
  b.add("add_scalar", {{{6}}}, [](const V& v) { return ag::add_scalar(v[0], 1.5); });
  b.add("mul_scalar", {{{6}}}, [](const V& v) { return ag::mul_scalar(v[0], -2.0); });
  b.add("pow2", {{{2, 5}}}, [](const V& v) { return ag::pow(v[0], 2.0); });
  b.add("pow3", {pos({5})}, [](const V& v) { return ag::pow(v[0], 3.0); });
  b.add("pow_half", {pos({5})}, [](const V& v) { return ag::pow(v[0], 0.5); });
  b.add("pow_neg", {pos({5})}, [](const V& v) { return ag::pow(v[0], -1.5); });
  b.add("pow_frac", {pos({2, 5})}, [](const V& v) { return ag::pow(v[0], 1.7); });
  b.add("clamp", {{{4, 5}}}, [](const V& v) { return ag::clamp(v[0], -0.5, 0.3); });
  // Unary.
  b.add("neg", {{{7}}}, [](const V& v) { return ag::neg(v[0]); });
  b.add("exp", {{{3, 4}, -2, 2}}, [](const V& v) { return ag::exp(v[0]); });
  b.add("log", {{{3, 4}, 0.2, 3}}, [](const V& v) { return ag::log(v[0]); });
  b.add("sqrt", {{{3, 4}, 0.2, 3}}, [](const V& v) { return ag::sqrt(v[0]); });
  b.add("abs", {kinked({3, 4})}, [](const V& v) { return ag::abs(v[0]); });
  b.add("sign", {nograd({9})}, [](const V& v) { return sign(v[0]); });
  b.add("tanh", {{{3, 4}, -3, 3}}, [](const V& v) { return ag::tanh(v[0]); });
  b.add("sigmoid", {{{3, 4}, -6, 6}}, [](const V& v) { return ag::sigmoid(v[0]); });
  b.add("relu", {kinked({3, 4})}, [](const V& v) { return ag::relu(v[0]); });
  b.add("leaky_relu", {kinked({3, 4})}, [](const V& v) { return ag::leaky_relu(v[0], 0.2); });
  b.add("silu", {{{3, 4}, -4, 4}}, [](const V& v) { return ag::silu(v[0]); });
  {
    // The course autoencoder's first-level activation: 16 channels of 64x80x64.
    Bench s{"silu", "1x16x64x80x64", {{{1, 16, 64, 80, 64}, -4, 4}}};
    s.forward_backward = true;
    s.bytes = 2.0 * 4 * 16 * 64 * 80 * 64;  // reads x, writes y
    b.last().benches = {s};
  }
  b.add("gelu_erf", {{{3, 4}, -3, 3}}, [](const V& v) { return ag::gelu(v[0], "none"); });
  {
    // ConvNeXt's first-stage hidden layer at the course preset: 64 slices x 16x20 x 4*32.
    Bench g{"gelu_erf", "64x16x20x128", {{{64, 16, 20, 128}, -3, 3}}};
    g.forward_backward = true;
    g.bytes = 2.0 * 4 * 64 * 16 * 20 * 128;  // reads x, writes y
    b.last().benches = {g};
  }
  b.add("gelu_tanh", {{{3, 4}, -3, 3}}, [](const V& v) { return ag::gelu(v[0], "tanh"); });
}

void reductions(Builder& b) {
  b.family = "reduction";
  b.add("sum_all", {{{3, 4, 5}}}, [](const V& v) { return ag::sum(v[0]); });
  b.last().det_inputs = {{{40, 50, 60}}};
  b.add("sum_dims", {{{2, 3, 4}}}, [](const V& v) { return ag::sum(v[0], {0, 2}); });
  b.last().det_inputs = {{{64, 30, 64}}};
  // A per-channel gradient (ConvNeXt's layer scale, a conv bias): the course preset's first
  // ConvNeXt stage, 64 slices x 32 channels x 16*20 positions, summed to the 32 channels.
  b.last().benches = {{"sum_dims", "64x32x320", {{{64, 32, 320}}}}};
  b.last().benches[0].cuda = false;
  b.last().benches[0].bytes = 4.0 * 64 * 32 * 320;
  // A Linear's bias gradient: rows summed to features (ConvNeXt's first fc1: 64 x 16 x 20
  // positions of 128 features).
  b.add("sum_rows", {{{5, 3}}}, [](const V& v) { return ag::sum(v[0], {0}); });
  b.last().det_inputs = {{{2000, 70}}};
  b.last().benches = {{"sum_rows", "20480x128", {{{20480, 128}}}}};
  b.last().benches[0].cuda = false;
  b.last().benches[0].bytes = 4.0 * 20480 * 128;
  b.add("sum_dim_keep", {{{3, 4, 5}}}, [](const V& v) { return ag::sum(v[0], {1}, true); });
  b.add("mean_all", {{{2, 3, 4}}}, [](const V& v) { return ag::mean(v[0]); });
  b.add("mean_dims", {{{3, 4, 5}}}, [](const V& v) { return ag::mean(v[0], {0, 2}); });
  b.add("mean_last_keep", {{{2, 3, 4}}}, [](const V& v) { return ag::mean(v[0], {-1}, true); });
  b.add("mean_permuted", {{{2, 3, 4}}}, [](const V& v) {
    return ag::mean(ag::permute(v[0], {2, 0, 1}), {0});
  });
  // Large: the chunked and the row-parallel paths (CPU threads, GPU blocks). Their
  // gradients are those of sum_dims and mean_dims, checked there at a small size.
  b.add("sum_long_row", {{{1, 200000}}}, [](const V& v) { return ag::sum(v[0], {1}); });
  b.last().gradcheck = false;
  b.add("mean_many_rows", {{{300, 500}}}, [](const V& v) { return ag::mean(v[0], {1}); });
  b.last().gradcheck = false;
  b.add("amax", {nograd({4, 70})}, [](const V& v) { return amax(v[0], {1}); });
  b.last().det_inputs = {nograd({400, 700})};
  b.add("amax_all", {nograd({5, 6, 7})}, [](const V& v) { return amax(v[0]); });
  b.add("logsumexp", {{{3, 100}, -5, 5}}, [](const V& v) { return ag::logsumexp(v[0], {1}); });
  b.last().det_inputs = {{{300, 500}, -5, 5}};
  b.add("logsumexp_dims_keep", {{{2, 3, 4}}}, [](const V& v) {
    return ag::logsumexp(v[0], {0, 2}, true);
  });
  b.add("sum_to", {nograd({4, 3, 5})}, [](const V& v) { return sum_to(v[0], {3, 1}); });
}

void linear_algebra(Builder& b) {
  b.family = "matmul";
  {
    OpCase& c =
        b.add("matmul", {{{5, 7}}, {{7, 3}}}, [](const V& v) { return ag::matmul(v[0], v[1]); });
    c.det_inputs = {{{200, 300}}, {{300, 100}}};
    Bench mm{"matmul", "1024x1024x1024", {{{1024, 1024}}, {{1024, 1024}}}};
    mm.flops = 2.0 * 1024 * 1024 * 1024;
    c.benches = {mm};
  }
  b.add("matmul_batched_bcast", {{{2, 3, 5, 4}}, {{4, 6}}},
        [](const V& v) { return ag::matmul(v[0], v[1]); });
  b.last().det_inputs = {{{4, 16, 32, 24}}, {{24, 40}}};  // 64 small products, one per thread
  b.add("matmul_batched_mixed", {{{2, 1, 5, 4}}, {{1, 3, 4, 6}}},
        [](const V& v) { return ag::matmul(v[0], v[1]); });
  b.add("matmul_bcast_rank", {{{2, 1, 3, 4}}, {{5, 4, 2}}},
        [](const V& v) { return ag::matmul(v[0], v[1]); });
  b.add("matmul_transposed", {{{7, 5}}, {{3, 7}}}, [](const V& v) {
    return ag::matmul(ag::transpose(v[0], 0, 1), ag::transpose(v[1], 0, 1));
  });
  b.add("matmul_large_k", {{{16, 1000}}, {{1000, 8}}},
        [](const V& v) { return ag::matmul(v[0], v[1]); });
  b.last().gradcheck = false;  // long dot products for parity; `matmul` checks the gradient
  b.add("linear", {{{2, 3, 6}}, {{4, 6}}, {{4}}},
        [](const V& v) { return ag::linear(v[0], v[1], v[2]); });
  b.last().det_inputs = {{{8, 64, 96}}, {{80, 96}}, {{80}}};
  b.add("linear_nobias", {{{2, 3, 5}}, {{4, 5}}},
        [](const V& v) { return ag::linear(v[0], v[1]); });
}

void softmaxes(Builder& b) {
  b.family = "softmax";
  b.add("softmax_dim0", {{{3, 4, 5}, -3, 3}}, [](const V& v) { return ag::softmax(v[0], 0); });
  b.add("softmax_dim1", {{{3, 5, 4}, -3, 3}}, [](const V& v) { return ag::softmax(v[0], 1); });
  b.last().det_inputs = {{{16, 64, 48}, -3, 3}};
  b.add("softmax_last", {{{3, 4, 5}, -3, 3}}, [](const V& v) { return ag::softmax(v[0], -1); });
  {
    OpCase& c = b.add("softmax_long", {{{4, 1000}, -3, 3}},
                      [](const V& v) { return ag::softmax(v[0], -1); });
    c.det_inputs = {{{64, 1000}, -3, 3}};
    Bench sm{"softmax", "4096x1024", {{{4096, 1024}, -3, 3}}};
    sm.bytes = 2.0 * 4 * 4096 * 1024;  // reads and writes each float once
    c.benches = {sm};
  }
  b.add("log_softmax_dim0", {{{3, 4, 5}, -3, 3}},
        [](const V& v) { return ag::log_softmax(v[0], 0); });
  b.add("log_softmax_dim1", {{{3, 4, 5}, -3, 3}},
        [](const V& v) { return ag::log_softmax(v[0], 1); });
  b.add("log_softmax", {{{3, 5, 4}, -3, 3}}, [](const V& v) { return ag::log_softmax(v[0], 2); });
  b.add("log_softmax_long", {{{2, 777}, -3, 3}},
        [](const V& v) { return ag::log_softmax(v[0], 1); });
  b.last().det_inputs = {{{64, 777}, -3, 3}};
}

// A shape as a bench label: {64, 32, 16, 20} -> "64x32x16x20".
std::string dims_label(const Shape& shape) {
  std::string label;
  for (size_t i = 0; i < shape.size(); ++i) label += (i ? "x" : "") + std::to_string(shape[i]);
  return label;
}

// A conv3d benchmark with kernel k^3 (default 3), padding 1 and the given stride:
// "<name>_forward[_backward]/NxCinxDxHxW/Cout".
Bench conv_bench(const std::string& name, int64_t n, int64_t cin, int64_t d, int64_t h, int64_t w,
                 int64_t cout, int64_t stride, bool forward, int64_t k = 3) {
  Bench bench;
  bench.name = name;
  bench.label = dims_label({n, cin, d, h, w}) + "/" + std::to_string(cout);
  bench.inputs = {{{n, cin, d, h, w}}, {{cout, cin, k, k, k}, -0.1, 0.1}, {{cout}}};
  bench.forward = forward;
  bench.forward_backward = true;
  const auto out = [stride, k](int64_t s) { return (s + 2 - k) / stride + 1; };
  bench.flops = 2.0 * n * cout * cin * double(k * k * k) * out(d) * out(h) * out(w);
  return bench;
}

void convolutions(Builder& b) {
  b.family = "conv";
  b.add("conv2d_pad1", {{{2, 3, 5, 4}}, {{4, 3, 3, 3}}, {{4}}}, [](const V& v) {
    return ag::conv2d(v[0], v[1], v[2], conv({1, 1}, {1, 1}, {1, 1}));
  });
  b.add("conv2d_stride_dil", {{{2, 3, 5, 4}}, {{4, 3, 3, 3}}, {{4}}}, [](const V& v) {
    return ag::conv2d(v[0], v[1], v[2], conv({2, 1}, {0, 1}, {1, 2}));
  });
  b.add("conv2d_transposed_input", {{{2, 3, 4, 5}}, {{4, 3, 3, 3}}, {{4}}}, [](const V& v) {
    return ag::conv2d(ag::transpose(v[0], 2, 3), v[1], v[2], conv({1, 1}, {1, 1}, {1, 1}));
  });
  b.add("conv2d_groups_stride", {{{2, 4, 7, 6}}, {{6, 2, 3, 3}}, {{6}}},
        [](const V& v) { return ag::conv2d(v[0], v[1], v[2], conv({2}, {1}, {1}, 2)); });
  b.last().det_inputs = {{{2, 8, 40, 36}}, {{8, 4, 3, 3}}, {{8}}};
  b.add("conv2d_dilation", {{{1, 3, 9, 8}}, {{2, 3, 3, 2}}, {{2}}}, [](const V& v) {
    return ag::conv2d(v[0], v[1], v[2], conv({1}, {2, 1}, {2, 3}));
  });
  {
    OpCase& c = b.add("conv3d_pad1", {{{1, 3, 5, 6, 4}}, {{4, 3, 3, 3, 3}}, {{4}}},
                      [](const V& v) { return ag::conv3d(v[0], v[1], v[2], conv({1}, {1}, {1})); });
    c.det_inputs = {{{2, 4, 12, 12, 12}}, {{8, 4, 3, 3, 3}}, {{8}}};
    // The first convolutions of the LDAE `course` networks (as bench_conv.cpp used to).
    c.benches = {conv_bench("conv3d", 1, 32, 32, 40, 32, 32, 1, true),
                 conv_bench("conv3d", 1, 64, 16, 20, 16, 64, 1, true),
                 conv_bench("conv3d", 1, 1, 64, 80, 64, 32, 1, true)};
  }
  {
    OpCase& c = b.add("conv3d_stride2", {{{2, 2, 5, 4, 5}}, {{2, 2, 3, 3, 3}}, {{2}}},
                      [](const V& v) { return ag::conv3d(v[0], v[1], v[2], conv({2}, {1}, {1})); });
    // Several images and chunks: the weight gradient's tasks are shared among the threads.
    c.det_inputs = {{{5, 8, 24, 24, 24}}, {{8, 8, 3, 3, 3}}, {{8}}};
    // A stride-2 down-sampling conv: the CPU phase-split path (tensor/cpu/conv_phase_split.cpp);
    // timed with backward.
    c.benches = {conv_bench("conv3d_stride2", 1, 64, 32, 40, 32, 64, 2, false)};
    c.benches[0].cuda = false;
  }
  b.add("conv3d_valid_nobias", {{{2, 2, 4, 4, 4}}, {{2, 2, 3, 3, 3}}},
        [](const V& v) { return ag::conv3d(v[0], v[1], Tensor(), conv({1}, {0}, {1})); });
  b.add("conv3d_dilated_aniso", {{{2, 1, 4, 3, 4}}, {{2, 1, 3, 2, 3}}, {{2}}}, [](const V& v) {
    return ag::conv3d(v[0], v[1], v[2], conv({1}, {2, 1, 2}, {2, 1, 2}));
  });
  b.add("conv3d_groups_stride", {{{2, 4, 2, 4, 4}}, {{2, 2, 1, 3, 3}}, {{2}}}, [](const V& v) {
    return ag::conv3d(v[0], v[1], v[2], conv({1, 2, 2}, {0, 1, 1}, {1}, 2));
  });
  b.add("conv3d_nobias_aniso", {{{2, 2, 4, 5, 6}}, {{3, 2, 1, 3, 2}}}, [](const V& v) {
    return ag::conv3d(v[0], v[1], Tensor(), conv({1, 2, 1}, {0, 1, 1}, {1}));
  });
  // A stride with a dilation: the CPU im2col + GEMM path (tensor/cpu/conv_gemm.cpp).
  b.add("conv3d_stride2_dil2", {{{1, 2, 7, 7, 7}}, {{3, 2, 3, 3, 3}}, {{3}}},
        [](const V& v) { return ag::conv3d(v[0], v[1], v[2], conv({2}, {2}, {2})); });
  b.last().det_inputs = {{{5, 4, 23, 23, 23}}, {{8, 4, 3, 3, 3}}, {{8}}};
  // Kernel a multiple of the stride: the CPU polyphase path (tensor/cpu/conv_polyphase.cpp). The
  // PatchDiscriminator's 4x4x4 stride-2 padding-1 conv (odd sizes), mixed strides (1, 2, 2), and a
  // 2D one with groups.
  b.add("conv3d_k4_stride2", {{{2, 2, 5, 6, 5}}, {{3, 2, 4, 4, 4}}, {{3}}},
        [](const V& v) { return ag::conv3d(v[0], v[1], v[2], conv({2}, {1}, {1})); });
  b.last().det_inputs = {{{2, 8, 16, 16, 16}}, {{16, 8, 4, 4, 4}}, {{16}}};
  // The discriminator's down-sampling conv at the shape of the conv3d_stride2 benchmark.
  b.last().benches = {conv_bench("conv3d_k4_stride2", 1, 64, 32, 40, 32, 64, 2, false, 4)};
  b.last().benches[0].cuda = false;
  // ConvNeXt's depthwise 7x7 conv2d (groups = channels, padding 3). The bench: the course
  // preset's first stage (64 slices of 32 channels at 16x20), forward + backward.
  b.add("conv2d_depthwise7", {{{2, 4, 9, 8}}, {{4, 1, 7, 7}}, {{4}}}, [](const V& v) {
    return ag::conv2d(v[0], v[1], v[2], conv({1}, {3}, {1}, v[0].shape()[1]));
  });
  {
    Bench bench{"conv2d_depthwise7", "64x32x16x20", {{{64, 32, 16, 20}}, {{32, 1, 7, 7}}, {{32}}}};
    bench.forward = false;
    bench.forward_backward = true;
    bench.cuda = false;
    bench.flops = 2.0 * 64 * 32 * 49 * 16 * 20;
    b.last().benches = {bench};
  }
  b.add("conv3d_k244_stride122", {{{1, 2, 4, 6, 5}}, {{2, 2, 2, 4, 4}}, {{2}}}, [](const V& v) {
    return ag::conv3d(v[0], v[1], v[2], conv({1, 2, 2}, {0, 1, 1}, {1}));
  });
  b.add("conv2d_k4_stride2_groups", {{{2, 4, 7, 6}}, {{6, 2, 4, 4}}, {{6}}},
        [](const V& v) { return ag::conv2d(v[0], v[1], v[2], conv({2}, {1}, {1}, 2)); });
  b.last().det_inputs = {{{2, 8, 40, 36}}, {{8, 4, 4, 4}}, {{8}}};
  b.add("conv3d_pointwise", {{{2, 4, 3, 4, 5}}, {{6, 4, 1, 1, 1}}, {{6}}},
        [](const V& v) { return ag::conv3d(v[0], v[1], v[2], conv({1}, {0}, {1})); });
  b.last().det_inputs = {{{2, 8, 16, 16, 16}}, {{8, 8, 1, 1, 1}}, {{8}}};
  b.add("conv3d_groups", {{{1, 4, 4, 4, 4}}, {{4, 2, 3, 3, 3}}, {{4}}},
        [](const V& v) { return ag::conv3d(v[0], v[1], v[2], conv({1}, {1}, {1}, 2)); });
  b.last().det_inputs = {{{2, 8, 12, 12, 12}}, {{8, 4, 3, 3, 3}}, {{8}}};
  // A tiny im2col bound on the GPU: chunks of a few positions (forward, both backward passes).
  b.add("conv3d_chunked", {{{2, 3, 5, 4, 6}}, {{4, 3, 3, 3, 3}}, {{4}}},
        [](const V& v) { return ag::conv3d(v[0], v[1], v[2], conv({1}, {1}, {1})); });
  b.last().conv_workspace = 3 * 27 * 8 * 7;  // 7 positions per chunk in f64, 14 in f32
  b.add("conv3d_pointwise_chunked", {{{1, 4, 3, 4, 5}}, {{2, 4, 1, 1, 1}}, {{2}}},
        [](const V& v) { return ag::conv3d(v[0], v[1], v[2], conv({1}, {0}, {1})); });
  b.last().conv_workspace = 4 * 8 * 9;
}

void resampling(Builder& b) {
  b.family = "resample";
  b.add("avg_pool3d_k2", {{{2, 3, 4, 6, 4}}}, [](const V& v) {
    return ag::avg_pool3d(v[0], {2, 2, 2}, {});
  });
  b.last().det_inputs = {{{2, 4, 16, 16, 20}}};
  b.add("avg_pool3d_k122", {{{2, 2, 4, 4, 4}}}, [](const V& v) {
    return ag::avg_pool3d(v[0], {1, 2, 2}, {1, 2, 2});
  });
  b.add("avg_pool3d_overlap", {{{1, 2, 5, 6, 7}}}, [](const V& v) {
    return ag::avg_pool3d(v[0], {3, 2, 3}, {1, 2, 2});
  });
  b.last().det_inputs = {{{2, 4, 16, 16, 17}}};
  b.add("avg_pool3d_uneven", {{{1, 2, 5, 4, 5}}}, [](const V& v) {
    return ag::avg_pool3d(v[0], {2, 3, 2}, {2, 1, 3});
  });
  b.add("avg_pool3d_transposed", {{{2, 4, 2, 4, 4}}}, [](const V& v) {
    return ag::avg_pool3d(ag::transpose(v[0], 1, 2), {2, 2, 2}, {2, 2, 2});
  });
  for (const std::string mode : {"nearest", "trilinear"}) {
    b.add("interp_" + mode + "3d_x2", {{{1, 2, 2, 3, 2}}}, [mode](const V& v) {
      return ag::interpolate(v[0], {2, 2, 2}, mode);
    });
    b.last().det_inputs = {{{2, 4, 8, 8, 10}}};
    if (mode == "trilinear") {  // 2x upsampling of a 64-channel 16x20x16 volume
      Bench bench{"interp_trilinear_x2", "1x64x16x20x16", {{{1, 64, 16, 20, 16}}}};
      bench.forward_backward = true;
      bench.cuda = false;
      b.last().benches = {bench};
    }
    b.add("interp_" + mode + "3d_122", {{{1, 2, 2, 3, 2}}}, [mode](const V& v) {
      return ag::interpolate(v[0], {1, 2, 2}, mode);
    });
    b.add("interp_" + mode + "3d_frac", {{{1, 2, 2, 3, 2}}}, [mode](const V& v) {
      return ag::interpolate(v[0], {1.5, 0.7, 2.5}, mode);
    });
    b.last().det_inputs = {{{2, 8, 12, 12, 8}}};
  }
  b.add("interp_nearest3d", {{{1, 2, 3, 4, 2}}}, [](const V& v) {
    return ag::interpolate(v[0], {2, 2, 2}, "nearest");
  });
  b.add("interp_nearest_frac", {{{2, 3, 5}}},
        [](const V& v) { return ag::interpolate(v[0], {1.7}, "nearest"); });
  b.add("interp_trilinear", {{{1, 2, 3, 4, 3}}}, [](const V& v) {
    return ag::interpolate(v[0], {2, 1.5, 2}, "trilinear");
  });
  b.add("interp_bilinear", {{{2, 2, 4, 3}}}, [](const V& v) {
    return ag::interpolate(v[0], {2, 3}, "bilinear");
  });
  b.add("interp_bilinear_frac", {{{2, 2, 3, 4}}}, [](const V& v) {
    return ag::interpolate(v[0], {2, 1.5}, "bilinear");
  });
  b.last().det_inputs = {{{2, 8, 40, 40}}};
  b.add("interp_nearest2d", {{{2, 2, 3, 4}}}, [](const V& v) {
    return ag::interpolate(v[0], {2, 2}, "nearest");
  });
  b.add("interp_linear", {{{2, 3, 6}}},
        [](const V& v) { return ag::interpolate(v[0], {0.5}, "linear"); });
  b.add("interp_linear_down", {{{2, 3, 5}}},
        [](const V& v) { return ag::interpolate(v[0], {0.6}, "linear"); });
  b.add("interp_trilinear_transposed", {{{1, 3, 2, 2, 3}}}, [](const V& v) {
    return ag::interpolate(ag::transpose(v[0], 1, 2), {2, 1, 2}, "trilinear");
  });
  b.add("interp_nearest_sliced", {{{1, 3, 2, 2, 3}}}, [](const V& v) {
    return ag::interpolate(ag::slice(v[0], 4, 0, 3, 2), {2, 2, 2}, "nearest");
  });
}

void normalisation(Builder& b) {
  b.family = "norm";
  for (int64_t groups : {1, 2, 3, 6}) {
    // The mean is shifted away from 0 to exercise the centring.
    b.add("group_norm_g" + std::to_string(groups), {{{2, 6, 3, 2}, 1, 3}, {{6}, 0.5, 1.5}, {{6}}},
          [groups](const V& v) { return ag::group_norm(v[0], groups, v[1], v[2]); });
  }
  {
    OpCase& c = b.add("group_norm_affine", {{{2, 6, 4, 5}}, {{6}}, {{6}}},
                      [](const V& v) { return ag::group_norm(v[0], 3, v[1], v[2], 1e-5); });
    c.det_inputs = {{{2, 6, 16, 16, 16}}, {{6}}, {{6}}};
  }
  {
    OpCase& c = b.add("group_norm_g32", {{{1, 64, 2, 2, 2}}, {{64}}, {{64}}},
                      [](const V& v) { return ag::group_norm(v[0], 32, v[1], v[2], 1e-5); });
    c.det_inputs = {{{2, 64, 8, 8, 8}}, {{64}}, {{64}}};
    Bench gn{"group_norm", "1x64x32x40x32/g32", {{{1, 64, 32, 40, 32}}, {{64}}, {{64}}}};
    gn.forward_backward = true;
    gn.bytes = 2.0 * 4 * 64 * 32 * 40 * 32;  // reads x, writes y
    c.benches = {gn};
  }
  b.add("group_norm_5d", {{{2, 4, 2, 3, 2}}, {{4}}, {{4}}},
        [](const V& v) { return ag::group_norm(v[0], 2, v[1], v[2], 1e-3); });
  b.add("group_norm_nc", {{{3, 4}}, {{4}}, {{4}}},  // no spatial axes: sets of C / groups values
        [](const V& v) { return ag::group_norm(v[0], 2, v[1], v[2]); });
  b.add("group_norm_plain_5d", {{{2, 4, 3, 2, 3}, 2.0, 4.0}},
        [](const V& v) { return ag::group_norm(v[0], 2, Tensor(), Tensor(), 1e-5); });
  b.add("group_norm_plain", {{{2, 4, 5}}},
        [](const V& v) { return ag::group_norm(v[0], 2, Tensor(), Tensor()); });
  b.add("group_norm_weight_only", {{{2, 4, 5}}, {{4}}},
        [](const V& v) { return ag::group_norm(v[0], 2, v[1], Tensor()); });
  b.add("group_norm_bias_only", {{{2, 4, 5}}, {{4}}},
        [](const V& v) { return ag::group_norm(v[0], 2, Tensor(), v[1]); });
  // x read through a transpose (2, 3, 4, 2) -> (2, 4, 3, 2); the weight through a stride-2 slice.
  b.add("group_norm_noncontig", {{{2, 3, 4, 2}}, {{8}}, {{4}}}, [](const V& v) {
    return ag::group_norm(ag::transpose(v[0], 1, 2), 2, ag::slice(v[1], 0, 0, 8, 2), v[2]);
  });
  // The gradient reaching group_norm is itself non-contiguous (from a transpose).
  b.add("group_norm_then_transpose", {{{2, 4, 3}}, {{4}}, {{4}}},
        [](const V& v) { return ag::transpose(ag::group_norm(v[0], 4, v[1], v[2]), 1, 2); });
  b.add("group_norm_large_group", {{{1, 4, 40, 50}}, {{4}}, {{4}}},
        [](const V& v) { return ag::group_norm(v[0], 1, v[1], v[2], 1e-5); });

  b.add("layer_norm_last", {{{3, 4, 5}, -1, 2}, {{5}}, {{5}}},
        [](const V& v) { return ag::layer_norm(v[0], {5}, v[1], v[2]); });
  b.last().det_inputs = {{{100, 80, 5}, -1, 2}, {{5}}, {{5}}};
  b.add("layer_norm_last_plain", {{{3, 4, 5}, -1, 2}},
        [](const V& v) { return ag::layer_norm(v[0], {5}, Tensor(), Tensor()); });
  b.add("layer_norm_last_bias_only", {{{3, 4, 5}, -1, 2}, {{5}}},
        [](const V& v) { return ag::layer_norm(v[0], {5}, Tensor(), v[1]); });
  b.add("layer_norm_affine", {{{3, 4, 5}}, {{4, 5}}, {{4, 5}}}, [](const V& v) {
    return ag::layer_norm(v[0], {4, 5}, v[1], v[2], 1e-5);
  });
  b.last().det_inputs = {{{2000, 4, 5}}, {{4, 5}}, {{4, 5}}};
  b.add("layer_norm_two_axes_eps", {{{3, 4, 5}}, {{4, 5}}, {{4, 5}}}, [](const V& v) {
    return ag::layer_norm(v[0], {4, 5}, v[1], v[2], 1e-3);
  });
  b.add("layer_norm_two_axes_weight_only", {{{3, 4, 5}}, {{4, 5}}}, [](const V& v) {
    return ag::layer_norm(v[0], {4, 5}, v[1], Tensor());
  });
  // x (5, 3, 6) read as (3, 5, 6) through a transpose: 15 rows of 6.
  b.add("layer_norm_transposed", {{{5, 3, 6}}, {{6}}, {{6}}},
        [](const V& v) { return ag::layer_norm(ag::transpose(v[0], 0, 1), {6}, v[1], v[2]); });
  // Rows wider than one column block of the weight-gradient kernel (256).
  b.add("layer_norm_wide", {{{2, 300}}, {{300}}, {{300}}},
        [](const V& v) { return ag::layer_norm(v[0], {300}, v[1], v[2]); });
  b.last().det_inputs = {{{200, 300}}, {{300}}, {{300}}};
  b.add("layer_norm_plain", {{{6, 700}}},
        [](const V& v) { return ag::layer_norm(v[0], {700}, Tensor(), Tensor(), 1e-5); });
  b.last().det_inputs = {{{100, 700}}};

  // Batch norm (PyTorch's F.batch_norm). Inputs: x, weight, bias (where affine), then the
  // running mean and variance (no gradient). Training cases update copies of the running
  // statistics (so that repeated calls see the same inputs); the output is y, except in
  // batch_norm_train_running, which appends the updated statistics to check the update too.
  const Input rmean = nograd({3}, -0.5, 0.5), rvar = nograd({3}, 0.5, 1.5);
  b.add("batch_norm_train_3d", {{{2, 3, 2, 3, 2}, 1, 3}, {{3}, 0.5, 1.5}, {{3}}, rmean, rvar},
        [](const V& v) {
          return ag::batch_norm(v[0], v[3].clone(), v[4].clone(), v[1], v[2], true, 0.1, 1e-5);
        });
  b.last().det_inputs = {{{2, 3, 16, 16, 16}, 1, 3}, {{3}, 0.5, 1.5}, {{3}}, rmean, rvar};
  b.add("batch_norm_train_2d", {{{4, 3, 3, 2}, -1, 2}, {{3}, 0.5, 1.5}, {{3}}},
        [](const V& v) { return ag::batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); });
  b.last().det_inputs = {{{16, 3, 40, 40}, -1, 2}, {{3}, 0.5, 1.5}, {{3}}};
  b.add("batch_norm_train_plain_3d", {{{3, 3, 2, 2, 2}}, rmean, rvar}, [](const V& v) {
    return ag::batch_norm(v[0], v[1].clone(), v[2].clone(), Tensor(), Tensor(), true, 0.1, 1e-3);
  });
  b.add("batch_norm_train_nc", {{{5, 3}}, {{3}}, {{3}}},  // no spatial axes: sets of N values
        [](const V& v) { return ag::batch_norm(v[0], Tensor(), Tensor(), v[1], v[2], true); });
  b.add("batch_norm_train_running", {{{3, 3, 2, 2}, 1, 3}, {{3}}, {{3}}, rmean, rvar},
        [](const V& v) {
          const Tensor rm = v[3].clone(), rv = v[4].clone();
          const Tensor y = ag::batch_norm(v[0], rm, rv, v[1], v[2], true, 0.3, 1e-5);
          return ag::cat({ag::reshape(y, {-1}), rm, rv}, 0);
        });
  // The appended statistics depend on x but carry no gradient (as in PyTorch): finite
  // differences would see them, so this case is for parity and determinism only.
  b.last().gradcheck = false;
  b.add("batch_norm_eval_3d", {{{2, 3, 2, 3, 2}}, {{3}, 0.5, 1.5}, {{3}}, rmean, rvar},
        [](const V& v) { return ag::batch_norm(v[0], v[3], v[4], v[1], v[2], false); });
  b.last().det_inputs = {{{2, 3, 16, 16, 16}}, {{3}, 0.5, 1.5}, {{3}}, rmean, rvar};
  b.add("batch_norm_eval_2d", {{{2, 3, 4, 3}}, {{3}, 0.5, 1.5}, {{3}}, rmean, rvar},
        [](const V& v) { return ag::batch_norm(v[0], v[3], v[4], v[1], v[2], false, 0.1, 1e-3); });
  b.add("batch_norm_eval_plain_2d", {{{2, 3, 4, 3}}, rmean, rvar},
        [](const V& v) { return ag::batch_norm(v[0], v[1], v[2], Tensor(), Tensor(), false); });
  // x read through a transpose (2, 4, 3, 2) -> (2, 3, 4, 2).
  b.add("batch_norm_train_noncontig", {{{2, 4, 3, 2}}, {{3}}, {{3}}},
        [](const V& v) {
          return ag::batch_norm(ag::transpose(v[0], 1, 2), Tensor(), Tensor(), v[1], v[2], true);
        });
}

// Runs f with the attention budget set to `bytes`, then restores it.
template <typename F>
Tensor with_attention_budget(size_t bytes, F f) {
  const size_t saved = attention_budget_bytes();
  set_attention_budget_bytes(bytes);
  try {
    Tensor out = f();
    set_attention_budget_bytes(saved);
    return out;
  } catch (...) {
    set_attention_budget_bytes(saved);
    throw;
  }
}

void attention(Builder& b) {
  b.family = "attention";
  b.add("attention", {{{2, 5, 8}}, {{2, 7, 8}}, {{2, 7, 4}}},
        [](const V& v) { return ag::scaled_dot_product_attention(v[0], v[1], v[2]); });
  b.last().det_inputs = {{{4, 128, 32}}, {{4, 160, 32}}, {{4, 160, 32}}};
  b.add("attention_scale", {{{2, 3, 4}}, {{2, 5, 4}}, {{2, 5, 3}}},
        [](const V& v) { return ag::scaled_dot_product_attention(v[0], v[1], v[2], 0.7); });
  b.add("attention_heads_scale", {{{2, 3, 4, 6}}, {{2, 3, 5, 6}}, {{2, 3, 5, 6}}},
        [](const V& v) { return ag::scaled_dot_product_attention(v[0], v[1], v[2], 0.3); });
  b.last().det_inputs = {{{2, 8, 64, 16}}, {{2, 8, 64, 16}}, {{2, 8, 64, 16}}};
  // q (2, 2, 3, 4) against k, v shared over the leading batch axis.
  b.add("attention_bcast", {{{2, 2, 3, 4}}, {{2, 5, 4}}, {{1, 5, 3}}},
        [](const V& v) { return ag::scaled_dot_product_attention(v[0], v[1], v[2]); });
  // v brings a batch axis that q and k lack.
  b.add("attention_bcast_v", {{{2, 3, 4}}, {{2, 5, 4}}, {{3, 2, 5, 2}}},
        [](const V& v) { return ag::scaled_dot_product_attention(v[0], v[1], v[2]); });
  // q and v given as (..., d, L) and transposed; k a strided slice.
  b.add("attention_noncontig", {{{2, 4, 3}}, {{2, 10, 4}}, {{2, 3, 5}}}, [](const V& v) {
    return ag::scaled_dot_product_attention(ag::transpose(v[0], 1, 2), ag::slice(v[1], 1, 0, 10, 2),
                                            ag::transpose(v[2], 1, 2));
  });
  // Over the attention budget (tensor/kernels.h): chunks of query rows, weights recomputed in
  // the backward. The budget here holds 2 rows of weights (2 rows x 2 batch x 9 keys x 8
  // bytes), so 7 query rows run as chunks of 2, 2, 2, 1 in float64 (4, 3 rows in float32).
  // The chunk size is fixed when the forward runs.
  b.add("attention_chunked", {{{1, 2, 7, 4}}, {{1, 2, 9, 4}}, {{1, 2, 9, 3}}}, [](const V& v) {
    return with_attention_budget(2 * 2 * 9 * 8, [&] { return ag::scaled_dot_product_attention(v[0], v[1], v[2]); });
  });
  b.last().det_inputs = {{{2, 4, 40, 16}}, {{2, 4, 30, 16}}, {{2, 4, 30, 16}}};
  // Chunked with broadcast batch axes and a strided q.
  b.add("attention_chunked_bcast", {{{2, 4, 3}}, {{1, 5, 4}}, {{3, 1, 5, 2}}}, [](const V& v) {
    return with_attention_budget(1, [&] {  // one row per chunk
      return ag::scaled_dot_product_attention(ag::transpose(v[0], 1, 2), v[1], v[2]);
    });
  });
}

// A bench of a permute's contiguous copy: read and write every element once.
Bench permute_bench(const std::string& name, const Shape& shape) {
  Bench bench{name, dims_label(shape), {{shape}}};
  bench.cuda = false;
  bench.bytes = 2.0 * 4.0 * static_cast<double>(numel(shape));  // float32 in and out
  return bench;
}

void shapes(Builder& b) {
  b.family = "shape";
  b.add("reshape", {{{2, 3, 4}}}, [](const V& v) { return ag::reshape(v[0], {4, -1}); });
  b.add("permute", {{{2, 3, 4}}}, [](const V& v) { return ag::permute(v[0], {2, 0, 1}); });
  b.add("transpose", {{{2, 3, 4}}}, [](const V& v) { return ag::transpose(v[0], 0, 2); });
  b.add("slice_step", {{{2, 3, 4}}}, [](const V& v) { return ag::slice(v[0], 2, 1, 4, 2); });
  b.add("expand_slice", {{{2, 3, 4}}}, [](const V& v) {
    return ag::expand(ag::slice(v[0], 1, 0, 1), {5, 2, 3, 4});
  });
  b.add("squeeze_unsqueeze", {{{2, 3, 4}}},
        [](const V& v) { return ag::squeeze(ag::unsqueeze(v[0], 1), 1); });
  b.add("reshape_contiguous", {{{2, 3, 4}}}, [](const V& v) {
    return ag::contiguous(ag::reshape(ag::transpose(v[0], 1, 2), {2, 12}));
  });
  // ConvNeXt's block permutes (N, C, H, W) to (N, H, W, C) for its LayerNorm and Linear layers
  // and back (ldae/convnext.cpp); the benches time the copies at the course preset's first
  // stage (64 slices of 32 channels at 16x20).
  b.add("permute_to_channels_last", {{{2, 3, 4, 5}}}, [](const V& v) {
    return ag::contiguous(ag::permute(v[0], {0, 2, 3, 1}));
  });
  b.last().det_inputs = {{{8, 32, 16, 20}}};
  b.last().benches = {permute_bench("permute_to_channels_last", {64, 32, 16, 20})};
  b.add("permute_to_channels_first", {{{2, 4, 5, 3}}}, [](const V& v) {
    return ag::contiguous(ag::permute(v[0], {0, 3, 1, 2}));
  });
  b.last().det_inputs = {{{8, 16, 20, 32}}};
  b.last().benches = {permute_bench("permute_to_channels_first", {64, 16, 20, 32})};
  b.add("reshape_permuted", {{{2, 3, 4}}}, [](const V& v) {
    return ag::contiguous(ag::reshape(ag::permute(v[0], {1, 0, 2}), {3, 8}));
  });
  b.add("expand_unsqueeze", {{{3}}}, [](const V& v) {
    return ag::contiguous(ag::expand(ag::unsqueeze(v[0], 0), {4, 3}));
  });
  b.add("cat", {{{2, 3}}, {{2, 1}}, {{2, 4}}}, [](const V& v) {
    return ag::cat({v[0], v[1], v[2]}, 1);
  });
  b.add("cat_same_twice", {{{2, 3}}}, [](const V& v) { return ag::cat({v[0], v[0]}, 0); });
  b.add("cat_dim0_views", {{{3, 4}}, {{2, 2}}}, [](const V& v) {
    return ag::cat({ag::slice(v[0], 1, 1, 3), ag::transpose(v[1], 0, 1)}, 0);
  });
  b.add("pad", {{{2, 3, 4}}}, [](const V& v) { return ag::pad(v[0], {1, 2, 0, 1}, 0.5); });
  b.add("pad_crop", {{{2, 3, 4}}}, [](const V& v) { return ag::pad(v[0], {-1, 2, 1, -1}); });
  b.add("pad_5d", {{{1, 2, 3, 4, 3}}}, [](const V& v) {
    return ag::pad(v[0], {1, 1, 0, 2, 1, 0}, 0.5);
  });
  b.add("pad_crop_5d", {{{1, 2, 3, 4, 3}}}, [](const V& v) {
    return ag::pad(v[0], {-1, 1, 0, -2});
  });
}

void losses(Builder& b) {
  b.family = "loss";
  for (const std::string r : {"mean", "sum", "none"}) {
    b.add("mse_" + r, {{{3, 4}}, {{3, 4}}},
          [r](const V& v) { return ag::mse_loss(v[0], v[1], r); });
    // The target is the input plus +-[0.3, 0.8): |input - target| stays away from the kink.
    Input offset{{3, 4}, -0.5, 0.5};
    offset.away_from_zero = 0.3;
    offset.relative_to = 0;
    b.add("l1_" + r, {{{3, 4}}, offset}, [r](const V& v) { return ag::l1_loss(v[0], v[1], r); });
    b.add("bce_logits_" + r, {{{3, 4}, -4, 4}, {{3, 4}, 0, 1}},
          [r](const V& v) { return ag::binary_cross_entropy_with_logits(v[0], v[1], r); });
  }
  // The input read through a transpose, the target through a stride-2 slice.
  b.add("mse_noncontig", {{{4, 3}}, {{3, 8}}}, [](const V& v) {
    return ag::mse_loss(ag::transpose(v[0], 0, 1), ag::slice(v[1], 1, 0, 8, 2));
  });
  b.add("bce_logits_noncontig", {{{4, 3}}, {{3, 4}, 0, 1}}, [](const V& v) {
    return ag::binary_cross_entropy_with_logits(ag::transpose(v[0], 0, 1), v[1], "sum");
  });
}

}  // namespace

// Stochastic depth (nn/stochastic_depth.h) with a fixed keep mask: the composition
// x * keep[n] / (1 - p) the random version applies.
void stochastic_depths(Builder& b) {
  b.family = "stochastic_depth";
  b.add("stochastic_depth_fixed_mask", {{{3, 2, 4, 5}}}, [](const V& v) {
    std::vector<double> mask(static_cast<size_t>(v[0].size(0)));  // 1, 0, 1, 1, 0, 1, ...
    for (size_t n = 0; n < mask.size(); ++n) mask[n] = n % 3 == 1 ? 0.0 : 1.0;
    const Tensor keep = Tensor::from_vector(mask, {v[0].size(0)}, v[0].dtype());
    return nn::stochastic_depth_with_mask(v[0], keep, 0.25);
  });
  b.last().det_inputs = {{{8, 16, 32, 32}}};
}

const std::vector<OpCase>& op_table() {
  static const std::vector<OpCase> table = [] {
    Builder b;
    elementwise(b);
    reductions(b);
    linear_algebra(b);
    softmaxes(b);
    convolutions(b);
    resampling(b);
    normalisation(b);
    attention(b);
    shapes(b);
    losses(b);
    stochastic_depths(b);
    return std::move(b.cases);
  }();
  return table;
}

}  // namespace ldae::optable
