// The forward (noising) process and its inverse for one step, for a batch whose samples
// have their own timesteps. x: (N, ...) with t: N timesteps in [0, T).
#pragma once
#include <cstdint>
#include <vector>

#include "diffusion/schedule.h"
#include "tensor/random.h"
#include "tensor/tensor.h"

namespace ldae::diffusion {

// N timesteps drawn uniformly from {0, ..., T-1} (the training distribution).
std::vector<int64_t> sample_timesteps(int64_t n, int64_t T, Generator& gen);

// The timesteps t as the UNets take them: an (N,) float32 tensor on `device`.
Tensor timestep_tensor(const std::vector<int64_t>& t, Device device);

// values (one per sample) as a (N, 1, ..., 1) tensor with like.dim() axes and like's
// dtype, on like's device, ready to broadcast against x.
Tensor per_sample(const std::vector<double>& values, const Tensor& like);

// x_t = sqrt(alpha_bar_t) x0 + sqrt(1 - alpha_bar_t) eps.
// x0, eps: (N, ...) of the same shape; t: N timesteps. Differentiable in x0 and eps.
Tensor q_sample(const Schedule& s, const Tensor& x0, const std::vector<int64_t>& t, const Tensor& eps);

// The clean sample implied by a noise prediction:
// x0_hat = sqrt(1 / alpha_bar_t) x_t - sqrt(1 / alpha_bar_t - 1) eps_hat. Differentiable.
Tensor predict_x0(const Schedule& s, const Tensor& x_t, const std::vector<int64_t>& t, const Tensor& eps_hat);

}  // namespace ldae::diffusion
