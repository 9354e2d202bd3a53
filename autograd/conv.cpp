// Differentiable conv2d / conv3d: the backward kernels (transposed convolution for the
// input, correlation of input and gradient for the weight) are in tensor/cpu/conv.cpp.
#include "autograd/functions.h"
#include "autograd/plain.h"

namespace ldae::ag {

namespace {

Tensor conv(const std::string& op, const Tensor& x, const Tensor& w, const Tensor& bias,
            const ConvParams& p, Tensor (*forward)(const Tensor&, const Tensor&, const Tensor&,
                                                   const ConvParams&)) {
  SavedTensor sx(x, op), sw(w, op);
  std::vector<Tensor> inputs{x, w};
  if (bias.defined()) inputs.push_back(bias);
  return record(op, plain([&] { return forward(x, w, bias, p); }), inputs,
                [sx, sw, p](const Tensor& g, const Needs& need) {
                  const bool want_gb = need.size() > 2 && need[2];
                  ConvGrads c = conv_backward(g, sx.get(), sw.get(), p, need[0], need[1], want_gb);
                  Grads grads{c.gx, c.gw};
                  if (need.size() > 2) grads.push_back(c.gb);
                  return grads;
                });
}

}  // namespace

Tensor conv2d(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p) {
  return conv("conv2d", x, w, bias, p, &ldae::conv2d);
}

Tensor conv3d(const Tensor& x, const Tensor& w, const Tensor& bias, const ConvParams& p) {
  return conv("conv3d", x, w, bias, p, &ldae::conv3d);
}

}  // namespace ldae::ag
