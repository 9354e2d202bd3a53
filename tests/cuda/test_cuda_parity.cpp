// CPU-vs-GPU parity of every op of tensor/ops.h, forward and backward, driven by one
// table of op cases (the style of ggml's test-backend-ops): adding an op is one entry.
//
// For each case and dtype (f32, f64): random inputs are drawn on the CPU; the case's
// function runs on CPU copies and on GPU copies of them; then ag::backward with the same
// random upstream gradient runs on both. The outputs and every input gradient must agree
// within the tolerance of cuda_test_helpers.h (f64: 1e-9 relative to the largest value;
// f32: the case's tolerance, 2e-4 by default). The backward passes of the autograd ops
// are the plain *_backward ops (conv_backward, group_norm_backward, softmax_backward,
// interpolate_backward, ...), so every kernel is covered.
//
// Without a GPU every case skips (LDAE_REQUIRE_CUDA) and CTest reports it as Skipped.
#include <gtest/gtest.h>

#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "cuda/cuda_test_helpers.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/conv.h"
#endif

using namespace ldae;
using ldae::testing::expect_parity;
using ldae::testing::tolerance_for;

namespace {

// One random input: its shape and range; `grad` false for inputs without a gradient
// (targets, or ops without an autograd version).
struct Input {
  Shape shape;
  double low = -1.0, high = 1.0;
  bool grad = true;
};

struct OpCase {
  std::string name;
  std::vector<Input> inputs;
  std::function<Tensor(const std::vector<Tensor>&)> f;  // ag:: ops (or plain ops without grad)
  double f32_rtol = 2e-4;
  size_t conv_workspace = 0;  // > 0: the GPU's im2col bound, in bytes (forces chunking)
};

Input pos(Shape s) {
  return Input{std::move(s), 0.5, 2.0};
}  // for log, sqrt, div
Input nograd(Shape s, double lo = -1, double hi = 1) {
  return Input{std::move(s), lo, hi, false};
}

ConvParams conv(std::vector<int64_t> stride, std::vector<int64_t> padding,
                std::vector<int64_t> dilation, int64_t groups = 1) {
  return ConvParams{std::move(stride), std::move(padding), std::move(dilation), groups};
}

// The table. Each function gets the inputs in order: v[0], v[1], ...
std::vector<OpCase> op_cases() {
  using V = std::vector<Tensor>;
  std::vector<OpCase> c;
  // ---- Elementwise, binary with broadcasting ----
  c.push_back(
      {"add_bcast", {{{2, 3, 4}}, {{3, 1}}}, [](const V& v) { return ag::add(v[0], v[1]); }});
  c.push_back(
      {"sub_bcast", {{{4, 1, 5}}, {{3, 5}}}, [](const V& v) { return ag::sub(v[0], v[1]); }});
  c.push_back(
      {"mul_bcast", {{{2, 1, 3}}, {{4, 1}}}, [](const V& v) { return ag::mul(v[0], v[1]); }});
  c.push_back({"div", {{{3, 4}}, pos({3, 4})}, [](const V& v) { return ag::div(v[0], v[1]); }});
  c.push_back(
      {"maximum", {nograd({3, 4}), nograd({4})}, [](const V& v) { return maximum(v[0], v[1]); }});
  c.push_back({"add_scaled", {nograd({5, 2}), nograd({5, 2})}, [](const V& v) {
                 return add_scaled(v[0], v[1], -0.3);
               }});
  c.push_back({"add_transposed", {{{4, 3}}, {{3, 4}}}, [](const V& v) {
                 return ag::add(ag::transpose(v[0], 0, 1), v[1]);
               }});
  c.push_back({"mul_sliced", {{{3, 8}}, {{3, 4}}}, [](const V& v) {
                 return ag::mul(ag::slice(v[0], 1, 0, 8, 2), v[1]);
               }});
  c.push_back(
      {"add_large", {{{3, 70000}}, {{70000}}}, [](const V& v) { return ag::add(v[0], v[1]); }});
  // ---- Elementwise with a scalar, unary ----
  c.push_back({"add_scalar", {{{6}}}, [](const V& v) { return ag::add_scalar(v[0], 1.5); }});
  c.push_back({"mul_scalar", {{{6}}}, [](const V& v) { return ag::mul_scalar(v[0], -2.0); }});
  c.push_back({"pow2", {{{2, 5}}}, [](const V& v) { return ag::pow(v[0], 2.0); }});
  c.push_back({"pow_frac", {pos({2, 5})}, [](const V& v) { return ag::pow(v[0], 1.7); }});
  c.push_back({"clamp", {{{4, 5}}}, [](const V& v) { return ag::clamp(v[0], -0.5, 0.3); }});
  c.push_back({"neg", {{{7}}}, [](const V& v) { return ag::neg(v[0]); }});
  c.push_back({"exp", {{{3, 4}}}, [](const V& v) { return ag::exp(v[0]); }});
  c.push_back({"log", {pos({3, 4})}, [](const V& v) { return ag::log(v[0]); }});
  c.push_back({"sqrt", {pos({3, 4})}, [](const V& v) { return ag::sqrt(v[0]); }});
  c.push_back({"abs", {{{3, 4}}}, [](const V& v) { return ag::abs(v[0]); }});
  c.push_back({"sign", {nograd({9})}, [](const V& v) { return sign(v[0]); }});
  c.push_back({"tanh", {{{3, 4}, -3, 3}}, [](const V& v) { return ag::tanh(v[0]); }});
  c.push_back({"sigmoid", {{{3, 4}, -6, 6}}, [](const V& v) { return ag::sigmoid(v[0]); }});
  c.push_back({"relu", {{{3, 4}}}, [](const V& v) { return ag::relu(v[0]); }});
  c.push_back({"leaky_relu", {{{3, 4}}}, [](const V& v) { return ag::leaky_relu(v[0], 0.2); }});
  c.push_back({"silu", {{{3, 4}, -4, 4}}, [](const V& v) { return ag::silu(v[0]); }});
  c.push_back({"gelu_erf", {{{3, 4}, -3, 3}}, [](const V& v) { return ag::gelu(v[0], "none"); }});
  c.push_back({"gelu_tanh", {{{3, 4}, -3, 3}}, [](const V& v) { return ag::gelu(v[0], "tanh"); }});
  c.push_back({"exp_permuted", {{{2, 3, 4}}}, [](const V& v) {
                 return ag::exp(ag::permute(v[0], {2, 0, 1}));
               }});
  // ---- Reductions ----
  c.push_back({"sum_all", {{{3, 4, 5}}}, [](const V& v) { return ag::sum(v[0]); }});
  c.push_back({"sum_dim_keep", {{{3, 4, 5}}}, [](const V& v) { return ag::sum(v[0], {1}, true); }});
  c.push_back({"mean_dims", {{{3, 4, 5}}}, [](const V& v) { return ag::mean(v[0], {0, 2}); }});
  c.push_back({"sum_long_row", {{{1, 200000}}}, [](const V& v) { return ag::sum(v[0], {1}); }});
  c.push_back({"mean_many_rows", {{{300, 500}}}, [](const V& v) { return ag::mean(v[0], {1}); }});
  c.push_back({"amax", {nograd({4, 70})}, [](const V& v) { return amax(v[0], {1}); }});
  c.push_back({"amax_all", {nograd({5, 6, 7})}, [](const V& v) { return amax(v[0]); }});
  c.push_back(
      {"logsumexp", {{{3, 100}, -5, 5}}, [](const V& v) { return ag::logsumexp(v[0], {1}); }});
  c.push_back({"sum_to", {nograd({4, 3, 5})}, [](const V& v) { return sum_to(v[0], {3, 1}); }});
  // ---- Linear algebra ----
  c.push_back({"matmul", {{{5, 7}}, {{7, 3}}}, [](const V& v) { return ag::matmul(v[0], v[1]); }});
  c.push_back({"matmul_batched_bcast", {{{2, 3, 5, 4}}, {{4, 6}}}, [](const V& v) {
                 return ag::matmul(v[0], v[1]);
               }});
  c.push_back({"matmul_batched_mixed", {{{2, 1, 5, 4}}, {{1, 3, 4, 6}}}, [](const V& v) {
                 return ag::matmul(v[0], v[1]);
               }});
  c.push_back({"matmul_transposed", {{{7, 5}}, {{3, 7}}}, [](const V& v) {
                 return ag::matmul(ag::transpose(v[0], 0, 1), ag::transpose(v[1], 0, 1));
               }});
  c.push_back({"matmul_large_k", {{{16, 1000}}, {{1000, 8}}}, [](const V& v) {
                 return ag::matmul(v[0], v[1]);
               }});
  c.push_back({"linear", {{{2, 3, 6}}, {{4, 6}}, {{4}}}, [](const V& v) {
                 return ag::linear(v[0], v[1], v[2]);
               }});
  // ---- Softmax ----
  c.push_back(
      {"softmax_dim1", {{{3, 5, 4}, -3, 3}}, [](const V& v) { return ag::softmax(v[0], 1); }});
  c.push_back(
      {"softmax_long", {{{4, 1000}, -3, 3}}, [](const V& v) { return ag::softmax(v[0], -1); }});
  c.push_back(
      {"log_softmax", {{{3, 5, 4}, -3, 3}}, [](const V& v) { return ag::log_softmax(v[0], 2); }});
  c.push_back({"log_softmax_long", {{{2, 777}, -3, 3}}, [](const V& v) {
                 return ag::log_softmax(v[0], 1);
               }});
  // ---- Convolution ----
  c.push_back({"conv2d_groups_stride", {{{2, 4, 7, 6}}, {{6, 2, 3, 3}}, {{6}}}, [](const V& v) {
                 return ag::conv2d(v[0], v[1], v[2], conv({2}, {1}, {1}, 2));
               }});
  c.push_back({"conv2d_dilation", {{{1, 3, 9, 8}}, {{2, 3, 3, 2}}, {{2}}}, [](const V& v) {
                 return ag::conv2d(v[0], v[1], v[2], conv({1}, {2, 1}, {2, 3}));
               }});
  c.push_back({"conv3d_pad1", {{{1, 3, 5, 6, 4}}, {{4, 3, 3, 3, 3}}, {{4}}}, [](const V& v) {
                 return ag::conv3d(v[0], v[1], v[2], conv({1}, {1}, {1}));
               }});
  c.push_back({"conv3d_nobias_aniso", {{{2, 2, 4, 5, 6}}, {{3, 2, 1, 3, 2}}}, [](const V& v) {
                 return ag::conv3d(v[0], v[1], Tensor(), conv({1, 2, 1}, {0, 1, 1}, {1}));
               }});
  c.push_back({"conv3d_stride2_dil2",
               {{{1, 2, 7, 7, 7}}, {{3, 2, 3, 3, 3}}, {{3}}},
               [](const V& v) { return ag::conv3d(v[0], v[1], v[2], conv({2}, {2}, {2})); }});
  c.push_back({"conv3d_pointwise", {{{2, 4, 3, 4, 5}}, {{6, 4, 1, 1, 1}}, {{6}}}, [](const V& v) {
                 return ag::conv3d(v[0], v[1], v[2], conv({1}, {0}, {1}));
               }});
  c.push_back({"conv3d_groups", {{{1, 4, 4, 4, 4}}, {{4, 2, 3, 3, 3}}, {{4}}}, [](const V& v) {
                 return ag::conv3d(v[0], v[1], v[2], conv({1}, {1}, {1}, 2));
               }});
  {  // Tiny im2col bound: chunks of a few positions (forward, both backward passes).
    OpCase chunked{"conv3d_chunked", {{{2, 3, 5, 4, 6}}, {{4, 3, 3, 3, 3}}, {{4}}}, [](const V& v) {
                     return ag::conv3d(v[0], v[1], v[2], conv({1}, {1}, {1}));
                   }};
    chunked.conv_workspace = 3 * 27 * 8 * 7;  // 7 positions per chunk in f64, 14 in f32
    c.push_back(chunked);
    OpCase chunked_pw{"conv3d_pointwise_chunked",
                      {{{1, 4, 3, 4, 5}}, {{2, 4, 1, 1, 1}}, {{2}}},
                      [](const V& v) { return ag::conv3d(v[0], v[1], v[2], conv({1}, {0}, {1})); }};
    chunked_pw.conv_workspace = 4 * 8 * 9;
    c.push_back(chunked_pw);
  }
  // ---- Pooling and resampling ----
  c.push_back({"avg_pool3d_k2", {{{2, 3, 4, 6, 4}}}, [](const V& v) {
                 return ag::avg_pool3d(v[0], {2, 2, 2}, {});
               }});
  c.push_back({"avg_pool3d_overlap", {{{1, 2, 5, 6, 7}}}, [](const V& v) {
                 return ag::avg_pool3d(v[0], {3, 2, 3}, {1, 2, 2});
               }});
  c.push_back({"interp_nearest3d", {{{1, 2, 3, 4, 2}}}, [](const V& v) {
                 return ag::interpolate(v[0], {2, 2, 2}, "nearest");
               }});
  c.push_back({"interp_nearest_frac", {{{2, 3, 5}}}, [](const V& v) {
                 return ag::interpolate(v[0], {1.7}, "nearest");
               }});
  c.push_back({"interp_trilinear", {{{1, 2, 3, 4, 3}}}, [](const V& v) {
                 return ag::interpolate(v[0], {2, 1.5, 2}, "trilinear");
               }});
  c.push_back({"interp_bilinear", {{{2, 2, 4, 3}}}, [](const V& v) {
                 return ag::interpolate(v[0], {2, 3}, "bilinear");
               }});
  c.push_back({"interp_linear", {{{2, 3, 6}}}, [](const V& v) {
                 return ag::interpolate(v[0], {0.5}, "linear");
               }});
  // ---- Normalisation ----
  c.push_back({"group_norm_affine", {{{2, 6, 4, 5}}, {{6}}, {{6}}}, [](const V& v) {
                 return ag::group_norm(v[0], 3, v[1], v[2], 1e-5);
               }});
  c.push_back({"group_norm_plain_5d", {{{2, 4, 3, 2, 3}, 2.0, 4.0}}, [](const V& v) {
                 return ag::group_norm(v[0], 2, Tensor(), Tensor(), 1e-5);
               }});
  c.push_back({"group_norm_large_group", {{{1, 4, 40, 50}}, {{4}}, {{4}}}, [](const V& v) {
                 return ag::group_norm(v[0], 1, v[1], v[2], 1e-5);
               }});
  c.push_back({"layer_norm_affine", {{{3, 4, 5}}, {{4, 5}}, {{4, 5}}}, [](const V& v) {
                 return ag::layer_norm(v[0], {4, 5}, v[1], v[2], 1e-5);
               }});
  c.push_back({"layer_norm_plain", {{{6, 700}}}, [](const V& v) {
                 return ag::layer_norm(v[0], {700}, Tensor(), Tensor(), 1e-5);
               }});
  // ---- Attention, padding, joining, shapes ----
  c.push_back({"attention", {{{2, 5, 8}}, {{2, 7, 8}}, {{2, 7, 4}}}, [](const V& v) {
                 return ag::scaled_dot_product_attention(v[0], v[1], v[2]);
               }});
  c.push_back({"attention_heads_scale",
               {{{2, 3, 4, 6}}, {{2, 3, 5, 6}}, {{2, 3, 5, 6}}},
               [](const V& v) { return ag::scaled_dot_product_attention(v[0], v[1], v[2], 0.3); }});
  c.push_back({"pad", {{{2, 3, 4}}}, [](const V& v) { return ag::pad(v[0], {1, 2, 0, 1}, 0.5); }});
  c.push_back({"pad_crop", {{{2, 3, 4}}}, [](const V& v) {
                 return ag::pad(v[0], {-1, 2, 1, -1});
               }});
  c.push_back({"cat", {{{2, 3}}, {{2, 1}}, {{2, 4}}}, [](const V& v) {
                 return ag::cat({v[0], v[1], v[2]}, 1);
               }});
  c.push_back({"cat_dim0_views", {{{3, 4}}, {{2, 2}}}, [](const V& v) {
                 return ag::cat({ag::slice(v[0], 1, 1, 3), ag::transpose(v[1], 0, 1)}, 0);
               }});
  c.push_back({"reshape_contiguous", {{{2, 3, 4}}}, [](const V& v) {
                 return ag::contiguous(ag::reshape(ag::transpose(v[0], 1, 2), {2, 12}));
               }});
  c.push_back({"expand_unsqueeze", {{{3}}}, [](const V& v) {
                 return ag::contiguous(ag::expand(ag::unsqueeze(v[0], 0), {4, 3}));
               }});
  // ---- Losses ----
  for (const char* reduction : {"mean", "sum", "none"}) {
    const std::string r = reduction;
    c.push_back({"mse_" + r, {{{3, 4}}, nograd({3, 4})}, [r](const V& v) {
                   return ag::mse_loss(v[0], v[1], r);
                 }});
    c.push_back({"l1_" + r, {{{3, 4}}, nograd({3, 4})}, [r](const V& v) {
                   return ag::l1_loss(v[0], v[1], r);
                 }});
    c.push_back({"bce_logits_" + r, {{{3, 4}, -4, 4}, nograd({3, 4}, 0, 1)}, [r](const V& v) {
                   return ag::binary_cross_entropy_with_logits(v[0], v[1], r);
                 }});
  }
  return c;
}

// A case and a dtype: one parity test.
struct Param {
  OpCase op;
  DType dtype;
};

// How GoogleTest prints a case (in failure messages).
void PrintTo(const Param& p, std::ostream* os) {
  *os << p.op.name << " " << dtype_name(p.dtype);
}

std::vector<Param> params() {
  std::vector<Param> out;
  for (const OpCase& c : op_cases())
    for (DType d : {DType::F32, DType::F64}) out.push_back({c, d});
  return out;
}

struct Result {
  Tensor out;
  std::vector<Tensor> grads;  // undefined for inputs without a gradient
};

// Runs the case on `device` with copies of the host inputs; backward with gout.
Result run(const OpCase& c, DType dtype, Device device, const std::vector<Tensor>& host_inputs,
           const Tensor& host_gout) {
  std::vector<Tensor> in;
  for (size_t k = 0; k < host_inputs.size(); ++k) {
    Tensor t = host_inputs[k].to(dtype).to(device).clone();
    if (c.inputs[k].grad) t.set_requires_grad(true);
    in.push_back(t);
  }
  Result r;
  r.out = c.f(in);
  if (host_gout.defined() && r.out.requires_grad())
    ag::backward(r.out, host_gout.to(dtype).to(device));
  for (const Tensor& t : in) r.grads.push_back(t.requires_grad() ? t.grad() : Tensor());
  return r;
}

class CudaParity : public ::testing::TestWithParam<Param> {};

TEST_P(CudaParity, MatchesCpu) {
  LDAE_REQUIRE_CUDA();
  const OpCase& c = GetParam().op;
  const DType dtype = GetParam().dtype;
#ifdef LDAE_WITH_CUDA
  struct WorkspaceGuard {  // restores the im2col bound when the test ends
    size_t previous;
    ~WorkspaceGuard() { cuda::set_conv_workspace_bytes(previous); }
  } guard{c.conv_workspace > 0 ? cuda::set_conv_workspace_bytes(c.conv_workspace)
                               : cuda::conv_workspace_bytes()};
#endif
  Generator gen(0xC0DA);
  std::vector<Tensor> inputs;
  for (const Input& spec : c.inputs)
    inputs.push_back(rand(spec.shape, gen, DType::F64, spec.low, spec.high));
  // The CPU run first, to learn the output's shape for the upstream gradient.
  const Result cpu0 = run(c, dtype, cpu_device(), inputs, Tensor());
  const Tensor gout = randn(cpu0.out.shape(), gen, DType::F64);
  const Result cpu = run(c, dtype, cpu_device(), inputs, gout);
  const Result gpu = run(c, dtype, cuda_device(), inputs, gout);

  const auto tol = tolerance_for(dtype, c.f32_rtol);
  expect_parity(cpu.out.detach(), gpu.out.detach(), tol, c.name + " out");
  for (size_t k = 0; k < inputs.size(); ++k) {
    ASSERT_EQ(cpu.grads[k].defined(), gpu.grads[k].defined()) << c.name << " grad " << k;
    if (cpu.grads[k].defined())
      expect_parity(cpu.grads[k], gpu.grads[k], tol,
                    c.name + " grad of input " + std::to_string(k));
  }
}

// The table itself, checked without a GPU: every case runs forward and backward on the
// CPU, in both dtypes, and gives gradients to the inputs that ask for one.
TEST(CudaParityTable, EveryCaseRunsOnTheCpu) {
  for (const Param& p : params()) {
    Generator gen(0xC0DA);
    std::vector<Tensor> inputs;
    for (const Input& spec : p.op.inputs)
      inputs.push_back(rand(spec.shape, gen, DType::F64, spec.low, spec.high));
    try {
      const Result r0 = run(p.op, p.dtype, cpu_device(), inputs, Tensor());
      const Result r =
          run(p.op, p.dtype, cpu_device(), inputs, randn(r0.out.shape(), gen, DType::F64));
      EXPECT_EQ(r.out.dtype(), p.dtype) << p.op.name;
      for (size_t k = 0; k < inputs.size(); ++k) {
        if (p.op.inputs[k].grad) {
          EXPECT_TRUE(r.grads[k].defined()) << p.op.name << " input " << k;
        }
      }
    } catch (const std::exception& e) {
      ADD_FAILURE() << p.op.name << ": " << e.what();
    }
  }
}

INSTANTIATE_TEST_SUITE_P(Ops, CudaParity, ::testing::ValuesIn(params()),
                         [](const ::testing::TestParamInfo<Param>& p) {
                           return p.param.op.name + (p.param.dtype == DType::F32 ? "_f32" : "_f64");
                         });

// ---- Plain ops without an autograd version ----------------------------------------------------

// The *_backward ops called directly (the table reaches them through ag::backward too).
TEST(CudaParityPlain, BackwardOpsDirectly) {
  LDAE_REQUIRE_CUDA();
  Generator gen(11);
  for (DType dtype : {DType::F32, DType::F64}) {
    const auto tol = tolerance_for(dtype, 2e-4);
    const Tensor x = rand({2, 3, 4, 4, 4}, gen, dtype), w = rand({5, 3, 3, 3, 3}, gen, dtype);
    const ConvParams p = conv({1}, {1}, {1});
    const Tensor gy = rand({2, 5, 4, 4, 4}, gen, dtype);
    const ConvGrads c = conv_backward(gy, x, w, p, true, true, true);
    const ConvGrads g = conv_backward(gy.to(cuda_device()), x.to(cuda_device()),
                                      w.to(cuda_device()), p, true, true, true);
    expect_parity(c.gx, g.gx, tol, "conv_backward gx");
    expect_parity(c.gw, g.gw, tol, "conv_backward gw");
    expect_parity(c.gb, g.gb, tol, "conv_backward gb");
    const ConvGrads only_b = conv_backward(gy.to(cuda_device()), x.to(cuda_device()),
                                           w.to(cuda_device()), p, false, false, true);
    EXPECT_FALSE(only_b.gx.defined());
    EXPECT_FALSE(only_b.gw.defined());
    expect_parity(c.gb, only_b.gb, tol, "conv_backward gb alone");

    const Tensor y = rand({3, 6}, gen, dtype), gs = rand({3, 6}, gen, dtype);
    expect_parity(softmax_backward(y, gs, 1),
                  softmax_backward(y.to(cuda_device()), gs.to(cuda_device()), 1), tol,
                  "softmax_backward");
    expect_parity(log_softmax_backward(y, gs, 0),
                  log_softmax_backward(y.to(cuda_device()), gs.to(cuda_device()), 0), tol,
                  "log_softmax_backward");
    const Tensor gp = rand({1, 2, 2, 3, 2}, gen, dtype);
    expect_parity(avg_pool3d_backward(gp, {1, 2, 4, 6, 4}, {2, 2, 2}, {}),
                  avg_pool3d_backward(gp.to(cuda_device()), {1, 2, 4, 6, 4}, {2, 2, 2}, {}), tol,
                  "avg_pool3d_backward");
    const Tensor gi = rand({1, 2, 4, 6}, gen, dtype);
    expect_parity(interpolate_backward(gi, {1, 2, 2, 3}, {2, 2}, "bilinear"),
                  interpolate_backward(gi.to(cuda_device()), {1, 2, 2, 3}, {2, 2}, "bilinear"), tol,
                  "interpolate_backward");
  }
}

// An all -inf row: logsumexp gives -inf on both devices (the shift of 0, math::ZeroIfInf).
TEST(CudaParityPlain, LogsumexpOfMinusInfinity) {
  LDAE_REQUIRE_CUDA();
  const double inf = std::numeric_limits<double>::infinity();
  const Tensor x = Tensor::from_vector({-inf, -inf, 1.0, 2.0}, {2, 2});
  expect_parity(logsumexp(x, {1}), logsumexp(x.to(cuda_device()), {1}), {1e-6}, "logsumexp");
}

// Empty tensors: no kernel launches with an empty grid.
TEST(CudaParityPlain, EmptyTensors) {
  LDAE_REQUIRE_CUDA();
  const Tensor x = Tensor::zeros({0, 4, 3}, DType::F32, cuda_device());
  EXPECT_EQ(sum(x).item(), 0.0);
  EXPECT_EQ(add(x, x).numel(), 0);
  EXPECT_EQ(matmul(Tensor::zeros({2, 0}, DType::F32, cuda_device()),
                   Tensor::zeros({0, 3}, DType::F32, cuda_device()))
                .to_vector(),
            std::vector<double>(6, 0.0));
}

}  // namespace
