// NoGrad: while an instance lives, ag:: ops record no graph (inference, optimizer
// updates, the backward pass itself). Scopes nest; the previous mode is restored.
#pragma once
#include "tensor/grad_mode.h"

namespace ldae {

class NoGrad {
 public:
  NoGrad() : previous_(grad_mode_enabled()) { set_grad_mode_enabled(false); }
  ~NoGrad() { set_grad_mode_enabled(previous_); }
  NoGrad(const NoGrad&) = delete;
  NoGrad& operator=(const NoGrad&) = delete;

 private:
  bool previous_;
};

}  // namespace ldae
