// Dropout: in train mode each element is zeroed with probability p and the survivors
// are scaled by 1/(1-p) ("inverted" dropout, as PyTorch does), so the expected value is
// unchanged; in eval mode (or with p = 0) it is the identity.
//
// The masks come from a Philox Generator shared with the caller (typically one per
// model, saved in checkpoints): the same seed and offset give the same masks.
#pragma once
#include <memory>

#include "nn/module.h"
#include "tensor/random.h"

namespace ldae::nn {

class Dropout : public Module {
 public:
  // p in [0, 1). `gen` may be null only when p == 0.
  Dropout(double p, std::shared_ptr<Generator> gen);

  // x: any shape -> same shape.
  Tensor forward(const Tensor& x) const;

  double p() const { return p_; }

 private:
  double p_;
  std::shared_ptr<Generator> gen_;
};

}  // namespace ldae::nn
