#include "nn/embedding.h"

#include <cmath>

#include "autograd/no_grad.h"

namespace ldae::nn {

namespace {

// out: (N, dim) contiguous zeros; t: (N,) contiguous. All arithmetic in T.
template <typename T>
void fill_embedding(const Tensor& t, Tensor& out, int64_t dim, double max_period) {
  const T* tv = t.data<T>();
  T* o = out.mutable_data<T>();
  const int64_t n = t.numel(), half = dim / 2;
  const T neg_log_period = static_cast<T>(-std::log(max_period));
  for (int64_t i = 0; i < half; ++i) {
    // As PyTorch: (-ln(period) * i) / half, then exp, all in T.
    const T freq = std::exp(neg_log_period * static_cast<T>(i) / static_cast<T>(half));
    for (int64_t r = 0; r < n; ++r) {
      const T arg = tv[r] * freq;
      o[r * dim + i] = std::cos(arg);
      o[r * dim + half + i] = std::sin(arg);
    }
  }
}

}  // namespace

Tensor timestep_embedding(const Tensor& t, int64_t dim, double max_period) {
  check(t.defined() && t.dim() == 1, "timestep_embedding",
        "expected timesteps of shape (N,), got " + (t.defined() ? shape_str(t.shape()) : "undefined"));
  check(dim > 0 && max_period > 0.0, "timestep_embedding", "dim and max_period must be positive");
  NoGrad no_grad;
  // A few sines per sample: computed on the host, then moved to t's device.
  if (!t.device().is_cpu())
    return timestep_embedding(t.detach().to(cpu_device()), dim, max_period).to(t.device());
  const Tensor tc = t.detach().contiguous();
  Tensor out = Tensor::zeros({t.size(0), dim}, t.dtype());  // odd dim: last column stays 0
  LDAE_DISPATCH(t.dtype(), T, fill_embedding<T>(tc, out, dim, max_period));
  return out;
}

TimeEmbedding::TimeEmbedding(int64_t model_channels, int64_t time_embed_dim, Generator& gen)
    : model_channels_(model_channels) {
  fc1_ = register_module("0", std::make_shared<Linear>(model_channels, time_embed_dim, gen));
  act_ = register_module("1", std::make_shared<SiLU>());
  fc2_ = register_module("2", std::make_shared<Linear>(time_embed_dim, time_embed_dim, gen));
}

Tensor TimeEmbedding::forward(const Tensor& t) const {
  // The sinusoids take the dtype of the parameters (t may be given in either dtype).
  const Tensor emb = timestep_embedding(t.to(fc1_->weight.dtype()), model_channels_);
  return fc2_->forward(act_->forward(fc1_->forward(emb)));  // (N, time_embed_dim)
}

}  // namespace ldae::nn
