// Parameter initialisers, equal to PyTorch's defaults so that a freshly built layer
// behaves like PyTorch's (same distributions; the numbers themselves come from our
// Philox generator, so a seed reproduces a model here, not PyTorch's draws).
//
// All functions fill an existing tensor in place (outside the autograd graph) and
// advance the generator by the number of elements drawn.
#pragma once
#include <cstdint>

#include "tensor/random.h"
#include "tensor/tensor.h"

namespace ldae::nn::init {

// Fan-in and fan-out of a weight, as PyTorch computes them:
//   Linear weight (out, in): fan_in = in, fan_out = out;
//   Conv weight (out, in/groups, k...): fan_in = in/groups * prod(k), fan_out = out * prod(k).
// Needs at least 2 axes.
int64_t fan_in(const Shape& shape);
int64_t fan_out(const Shape& shape);

// Uniform in [low, high).
void uniform_(Tensor& t, double low, double high, Generator& gen);
// Kaiming (He) uniform with leaky-ReLU slope `a`: bound = gain * sqrt(3 / fan_in), gain =
// sqrt(2 / (1 + a^2)). PyTorch's Linear and Conv use a = sqrt(5), which gives
// bound = 1 / sqrt(fan_in).
void kaiming_uniform_(Tensor& w, Generator& gen, double a);
// Xavier (Glorot) uniform: bound = gain * sqrt(6 / (fan_in + fan_out))
// (nn.MultiheadAttention's in_proj_weight).
void xavier_uniform_(Tensor& w, Generator& gen, double gain = 1.0);
// Uniform(-1/sqrt(fan_in), 1/sqrt(fan_in)): PyTorch's default bias of Linear and Conv,
// where fan_in is that of the layer's weight.
void bias_uniform_(Tensor& b, int64_t weight_fan_in, Generator& gen);

// Normal(mean, std) truncated to [a, b] (PyTorch's trunc_normal_, whose bounds a, b are
// absolute values, default [-2, 2]; torchvision's ConvNeXt uses std 0.02). Drawn by
// rejection: a full normal draw, then fresh draws (a whole tensor each round, so the
// generator advances by a multiple of numel) for the values outside [a, b] until none is.
// Requires std > 0 and a < b with [a, b] not far out in a tail (mean within [a - 5 std,
// b + 5 std]).
void trunc_normal_(Tensor& t, Generator& gen, double mean = 0.0, double std = 1.0, double a = -2.0,
                   double b = 2.0);
// Normal with the given mean and standard deviation (PyTorch's nn.init.normal_).
void normal_(Tensor& t, double mean, double stddev, Generator& gen);

void zeros_(Tensor& t);
void ones_(Tensor& t);

// While a SkipInitialisation object lives (on this thread), every initialiser above
// returns at once: the tensor keeps whatever its allocation held and the generator is
// not advanced. For building a network only to read its structure (names, shapes,
// parameter counts) or to load every weight from a file right after. Layers allocate
// their parameters with Tensor::empty, which does not touch the memory, so the pages of
// a skipped fill are never written and cost nothing (the 865M-parameter ShiftUNet is
// built in well under a second). Nestable.
class SkipInitialisation {
 public:
  SkipInitialisation();
  ~SkipInitialisation();
  SkipInitialisation(const SkipInitialisation&) = delete;
  SkipInitialisation& operator=(const SkipInitialisation&) = delete;
};
// True while a SkipInitialisation lives on this thread.
bool initialisation_skipped();

}  // namespace ldae::nn::init
