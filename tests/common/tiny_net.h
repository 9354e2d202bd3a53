// A tiny network for the training tests (optimizers, checkpoints, exact resume):
// Linear(in, hidden) -> SiLU -> Dropout -> Linear(hidden, out), plus a buffer, so that a
// state dict holds nested parameters and a buffer and a forward pass consumes random
// numbers from a Generator.
#pragma once
#include <memory>

#include "autograd/functions.h"
#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/module.h"

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

}  // namespace ldae::testing
