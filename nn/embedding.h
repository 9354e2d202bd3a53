// Timestep embeddings of the diffusion UNet (ldae-reference 4.1).
#pragma once
#include <memory>

#include "nn/activation.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace ldae::nn {

// The sinusoidal timestep embedding of guided-diffusion / PDAE:
//   half = dim / 2, f_i = exp(-ln(max_period) * i / half) for i = 0 .. half-1,
//   emb[n] = [cos(t_n f_0), ..., cos(t_n f_{half-1}), sin(t_n f_0), ..., sin(t_n f_{half-1})]
// (first half cosines, second half sines), with one zero column appended when dim is
// odd. The network receives the original integer timesteps (0 .. 999) as numbers.
// t: (N,) -> (N, dim), in t's dtype. Computed in that dtype step by step as PyTorch
// does (frequencies, then products, then cos/sin), so an F32 result matches PyTorch's.
// Not differentiable (the timesteps are data, not parameters).
Tensor timestep_embedding(const Tensor& t, int64_t dim, double max_period = 10000.0);

// The UNet's `time_embed`: timestep_embedding(t, model_channels) followed by
// Linear(model_channels -> time_embed_dim), SiLU, Linear(time_embed_dim -> time_embed_dim).
// Children "0", "1", "2" as in PyTorch's nn.Sequential, so the keys are
// "<name>.0.weight", "<name>.2.bias", ...
class TimeEmbedding : public Module {
 public:
  TimeEmbedding(int64_t model_channels, int64_t time_embed_dim, Generator& gen);

  // t: (N,) timesteps -> (N, time_embed_dim)
  Tensor forward(const Tensor& t) const;

 private:
  int64_t model_channels_;
  std::shared_ptr<Linear> fc1_, fc2_;
  std::shared_ptr<SiLU> act_;
};

}  // namespace ldae::nn
