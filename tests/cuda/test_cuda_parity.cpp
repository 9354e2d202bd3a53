// CPU-vs-GPU parity of every op of tensor/ops.h, forward and backward, driven by the
// op table of tests/common/op_table.cpp (the style of ggml's test-backend-ops), which
// also drives the gradient checks, the determinism tests and the benchmarks: adding an
// op is one entry there.
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
#include "common/op_table.h"
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

using optable::OpCase;

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
  for (const OpCase& c : optable::op_table()) {
    if (!c.parity) continue;
    for (DType d : {DType::F32, DType::F64}) out.push_back({c, d});
  }
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
  const std::vector<Tensor> inputs = optable::draw_inputs(c.inputs, gen);
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
    const std::vector<Tensor> inputs = optable::draw_inputs(p.op.inputs, gen);
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
    const ConvParams p{{1}, {1}, {1}, 1};
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
