// Multi-head attention as PyTorch's nn.MultiheadAttention(embed_dim, num_heads,
// dropout, bias, batch_first=True) with kdim = vdim = embed_dim. Parameters:
//   in_proj_weight (3E, E)  rows [0, E) project the query, [E, 2E) the key, [2E, 3E) the value
//   in_proj_bias   (3E)
//   out_proj.weight (E, E), out_proj.bias (E)
// initialised as PyTorch does: in_proj_weight xavier_uniform, biases zero,
// out_proj.weight like a Linear. Used for self-attention (forward(x, x, x)) and
// cross-attention (queries from one sequence, keys and values from another).
#pragma once
#include <memory>

#include "nn/dropout.h"
#include "nn/linear.h"
#include "nn/module.h"

namespace ldae::nn {

class MultiheadAttention : public Module {
 public:
  // embed_dim must be divisible by num_heads. `dropout` applies to the attention
  // weights in train mode; `dropout_gen` may be null when dropout == 0.
  MultiheadAttention(int64_t embed_dim, int64_t num_heads, Generator& gen, double dropout = 0.0,
                     bool bias = true, std::shared_ptr<Generator> dropout_gen = nullptr);

  // query: (N, Lq, E), key: (N, Lk, E), value: (N, Lk, E) -> (N, Lq, E).
  // Each head h attends with softmax(q_h k_hᵀ / sqrt(E/H)) v_h.
  Tensor forward(const Tensor& query, const Tensor& key, const Tensor& value) const;

  int64_t embed_dim() const { return embed_dim_; }
  int64_t num_heads() const { return num_heads_; }
  Tensor in_proj_weight;  // (3E, E)
  Tensor in_proj_bias;    // (3E), undefined without bias

 private:
  // x (N, L, E) projected by rows [part*E, (part+1)*E) of the in-projection, split into
  // heads: -> (N, H, L, E/H).
  Tensor project(const Tensor& x, int64_t part) const;

  int64_t embed_dim_, num_heads_;
  std::shared_ptr<Linear> out_proj_;
  std::shared_ptr<Dropout> attn_dropout_;
};

}  // namespace ldae::nn
