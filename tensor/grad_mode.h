// The thread-local "is autograd recording?" switch. It lives in the tensor layer only
// so that plain ops can refuse, with a clear error, a tensor that belongs to an
// autograd graph (a silent loss of gradients otherwise). autograd/ owns the NoGrad
// scope that turns it off.
#pragma once

namespace ldae {

bool grad_mode_enabled();
void set_grad_mode_enabled(bool enabled);

}  // namespace ldae
