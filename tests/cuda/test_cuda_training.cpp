// A short training run on both devices: the same tiny conv net (Conv3d -> GroupNorm ->
// SiLU -> avg_pool3d -> Linear), the same initial weights, the same data, 20 AdamW steps
// (nn::AdamW, whose update is the fused adam_update op) and the same loss curve within a
// tolerance. This checks the pieces together: module moves, autograd on the GPU, gradient
// accumulation, the optimizer kernel and the caching allocator over many steps.
#include <gtest/gtest.h>

#include <cmath>
#include <memory>
#include <vector>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "cuda/cuda_test_helpers.h"
#include "nn/adam.h"
#include "nn/clip_grad.h"
#include "nn/dropout.h"
#include "nn/ema.h"
#include "nn/embedding.h"
#include "nn/conv.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"
#include "tensor/optim_update.h"
#include "tensor/random.h"

using namespace ldae;

namespace {

class TinyConvNet : public nn::Module {
 public:
  explicit TinyConvNet(Generator& gen) {
    nn::ConvOptions o;
    o.kernel_size = {3};
    o.padding = {1};
    conv = register_module("conv", std::make_shared<nn::Conv3d>(1, 4, o, gen));
    norm = register_module("norm", std::make_shared<nn::GroupNorm>(2, 4));
    head = register_module("head", std::make_shared<nn::Linear>(4 * 2 * 2 * 2, 3, gen));
  }
  // x: (N, 1, 4, 4, 4) -> (N, 3)
  Tensor forward(const Tensor& x) const {
    Tensor h = ag::silu(norm->forward(conv->forward(x)));
    h = ag::avg_pool3d(h, {2, 2, 2}, {});
    return head->forward(ag::reshape(h, {x.size(0), -1}));
  }
  std::shared_ptr<nn::Conv3d> conv;
  std::shared_ptr<nn::GroupNorm> norm;
  std::shared_ptr<nn::Linear> head;
};

// The loss after each of `steps` AdamW steps on `device`.
std::vector<double> train(Device device, int steps) {
  Generator init(7);
  TinyConvNet net(init);
  net.to(device);
  nn::AdamOptions options;
  options.lr = 1e-2;
  options.weight_decay = 1e-2;
  nn::AdamW opt(net.named_parameters(), options);
  Generator data(8);
  const Tensor x = randn({6, 1, 4, 4, 4}, data).to(device);
  const Tensor target = randn({6, 3}, data).to(device);
  std::vector<double> losses;
  for (int step = 0; step < steps; ++step) {
    net.zero_grad();
    const Tensor loss = ag::mse_loss(net.forward(x), target);
    ag::backward(loss);
    opt.step();
    losses.push_back(loss.item());
  }
  return losses;
}

}  // namespace

TEST(CudaTraining, SameLossCurveOnBothDevices) {
  LDAE_REQUIRE_CUDA();
  const std::vector<double> cpu = train(cpu_device(), 20), gpu = train(cuda_device(), 20);
  ASSERT_EQ(cpu.size(), gpu.size());
  EXPECT_LT(cpu.back(), cpu.front());  // it does learn
  for (size_t i = 0; i < cpu.size(); ++i)
    EXPECT_NEAR(gpu[i], cpu[i], 1e-3 * std::max(1.0, std::fabs(cpu[i]))) << "step " << i;
}

// The fused update ops against each other (the training test above goes through them).
TEST(CudaTraining, FusedOptimizerUpdatesMatchTheCpu) {
  LDAE_REQUIRE_CUDA();
  for (DType dtype : {DType::F32, DType::F64}) {
    for (bool decoupled : {false, true}) {
      Generator gen(21);
      Tensor p = rand({257}, gen, dtype), g = rand({257}, gen, dtype);
      Tensor m = Tensor::zeros({257}, dtype), v = Tensor::zeros({257}, dtype);
      Tensor pg = p.to(cuda_device()), gg = g.to(cuda_device());
      Tensor mg = m.to(cuda_device()), vg = v.to(cuda_device());
      for (int64_t step = 1; step <= 3; ++step) {
        adam_update(p, g, m, v, 1e-2, 0.9, 0.999, 1e-8, 0.1, decoupled, step);
        adam_update(pg, gg, mg, vg, 1e-2, 0.9, 0.999, 1e-8, 0.1, decoupled, step);
      }
      const auto tol = ldae::testing::tolerance_for(dtype, 1e-6);
      ldae::testing::expect_parity(p, pg, tol, "adam param");
      ldae::testing::expect_parity(m, mg, tol, "adam exp_avg");
      ldae::testing::expect_parity(v, vg, tol, "adam exp_avg_sq");
      Tensor buf = Tensor::zeros({257}, dtype), bufg = buf.to(cuda_device());
      for (int64_t step = 1; step <= 3; ++step) {
        sgd_update(p, g, buf, 0.1, 0.9, 0.0, 1e-3, true, step == 1);
        sgd_update(pg, gg, bufg, 0.1, 0.9, 0.0, 1e-3, true, step == 1);
      }
      ldae::testing::expect_parity(p, pg, tol, "sgd param");
      ldae::testing::expect_parity(buf, bufg, tol, "sgd momentum_buffer");
    }
  }
}

// The nn helpers that have a GPU branch: gradient clipping, EMA, the timestep embedding
// and dropout (whose mask is drawn on the host, so it is the same on both devices).
TEST(CudaTraining, NnHelpersMatchTheCpu) {
  LDAE_REQUIRE_CUDA();
  Generator init_c(3), init_g(3);
  TinyConvNet cpu(init_c), gpu(init_g);
  gpu.to(cuda_device());
  Generator data(4);
  const Tensor x = randn({2, 1, 4, 4, 4}, data), target = randn({2, 3}, data);
  ag::backward(ag::mse_loss(cpu.forward(x), target));
  ag::backward(ag::mse_loss(gpu.forward(x.to(cuda_device())), target.to(cuda_device())));
  const double norm_c = nn::clip_grad_norm(cpu.parameters(), 0.01);
  const double norm_g = nn::clip_grad_norm(gpu.parameters(), 0.01);
  EXPECT_NEAR(norm_g, norm_c, 1e-4 * norm_c);
  const auto pc = cpu.named_parameters(), pg = gpu.named_parameters();
  for (size_t i = 0; i < pc.size(); ++i)
    ldae::testing::expect_parity(pc[i].second.grad(), pg[i].second.grad(), {2e-4},
                                 "clipped grad of " + pc[i].first);

  nn::Ema ema_c(cpu), ema_g(gpu);
  for (TinyConvNet* net : {&cpu, &gpu}) {  // change the weights, then one EMA step
    NoGrad no_grad;
    for (auto& [name, p] : net->named_parameters()) p.copy_(mul_scalar(p, 1.5));
  }
  ema_c.update(cpu);
  ema_g.update(gpu);
  const auto sc = ema_c.state_dict(), sg = ema_g.state_dict();
  for (const auto& [name, t] : sc) ldae::testing::expect_parity(t, sg.at(name), {1e-6}, "ema " + name);

  const Tensor steps = Tensor::from_vector({0, 1, 10, 500}, {4});
  ldae::testing::expect_parity(nn::timestep_embedding(steps, 7),
                               nn::timestep_embedding(steps.to(cuda_device()), 7), {1e-7},
                               "timestep_embedding");
  nn::Dropout drop_c(0.3, std::make_shared<Generator>(5)), drop_g(0.3, std::make_shared<Generator>(5));
  const Tensor ones = Tensor::ones({4, 5});
  ldae::testing::expect_parity(drop_c.forward(ones), drop_g.forward(ones.to(cuda_device())), {1e-7},
                               "dropout");
}
