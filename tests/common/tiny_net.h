// Tiny networks for the training tests (optimizers, checkpoints, exact resume).
// TinyNet: Linear(in, hidden) -> SiLU -> Dropout -> Linear(hidden, out), plus a buffer, so that
// a state dict holds nested parameters and a buffer and a forward pass consumes random
// numbers from a Generator.
// TinyConvNet: the layer kinds of the real networks on a tiny volume: a stride-2 Conv3d, group
// norm, an attention block, dropout and a stride-1 Conv3d.
#pragma once
#include <memory>

#include "autograd/functions.h"
#include "nn/blocks.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/norm.h"

namespace ldae::testing {

class TinyNet : public nn::Module {
 public:
  // init: draws the initial weights; noise: the dropout masks (kept by the caller, e.g.
  // saved in checkpoints).
  TinyNet(Generator& init, std::shared_ptr<Generator> noise, int64_t in = 3, int64_t hidden = 8,
          int64_t out = 2, double dropout = 0.25) {
    fc1 = register_module("fc1", std::make_shared<nn::Linear>(in, hidden, init));
    drop = register_module("drop", std::make_shared<nn::Dropout>(dropout, std::move(noise)));
    fc2 = register_module("fc2", std::make_shared<nn::Linear>(hidden, out, init));
    scale = register_buffer("scale", Tensor::full({out}, 1.5));
  }

  // x: (N, in) -> (N, out)
  Tensor forward(const Tensor& x) const {
    return ag::mul(fc2->forward(drop->forward(ag::silu(fc1->forward(x)))), scale);
  }

  std::shared_ptr<nn::Linear> fc1, fc2;
  std::shared_ptr<nn::Dropout> drop;
  Tensor scale;
};

class TinyConvNet : public nn::Module {
 public:
  // init: draws the initial weights; noise: the dropout masks.
  TinyConvNet(Generator& init, std::shared_ptr<Generator> noise, int64_t channels = 8) {
    down = register_module(
        "down", std::make_shared<nn::Conv3d>(1, channels, nn::ConvOptions{{3}, {2}, {1}}, init));
    norm = register_module("norm", std::make_shared<nn::GroupNorm>(2, channels));
    nn::AttentionBlockOptions a;
    a.channels = channels;
    a.num_heads = 2;
    a.num_groups = 2;
    attn = register_module("attn", std::make_shared<nn::AttentionBlock>(a, init));
    drop = register_module("drop", std::make_shared<nn::Dropout>(0.25, std::move(noise)));
    out = register_module(
        "out", std::make_shared<nn::Conv3d>(channels, 1, nn::ConvOptions{{3}, {1}, {1}}, init));
  }

  // x: (N, 1, D, H, W) -> (N, 1, D/2, H/2, W/2) (D, H, W even)
  Tensor forward(const Tensor& x) const {
    const Tensor h = ag::silu(norm->forward(down->forward(x)));  // (N, channels, D/2, H/2, W/2)
    return out->forward(drop->forward(attn->forward(h)));
  }

  std::shared_ptr<nn::Conv3d> down, out;
  std::shared_ptr<nn::GroupNorm> norm;
  std::shared_ptr<nn::AttentionBlock> attn;
  std::shared_ptr<nn::Dropout> drop;
};

}  // namespace ldae::testing
