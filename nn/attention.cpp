#include "nn/attention.h"

#include <cmath>

#include "autograd/functions.h"
#include "nn/init.h"

namespace ldae::nn {

MultiheadAttention::MultiheadAttention(int64_t embed_dim, int64_t num_heads, Generator& gen,
                                       double dropout, bool bias,
                                       std::shared_ptr<Generator> dropout_gen)
    : embed_dim_(embed_dim), num_heads_(num_heads) {
  check(embed_dim > 0 && num_heads > 0 && embed_dim % num_heads == 0, "MultiheadAttention",
        "embed_dim=" + std::to_string(embed_dim) + " is not divisible by num_heads=" +
            std::to_string(num_heads));
  // Registration order as PyTorch: in_proj_weight, in_proj_bias, out_proj.
  in_proj_weight = register_parameter("in_proj_weight", Tensor::empty({3 * embed_dim, embed_dim}));
  if (bias) in_proj_bias = register_parameter("in_proj_bias", Tensor::zeros({3 * embed_dim}));
  out_proj_ = register_module("out_proj", std::make_shared<Linear>(embed_dim, embed_dim, gen, bias));
  attn_dropout_ = register_module("attn_dropout", std::make_shared<Dropout>(dropout, std::move(dropout_gen)));
  // PyTorch's _reset_parameters: xavier_uniform on the in-projection, zero biases.
  init::xavier_uniform_(in_proj_weight, gen);
  if (bias) init::zeros_(out_proj_->bias);
}

Tensor MultiheadAttention::project(const Tensor& x, int64_t part) const {
  const int64_t e = embed_dim_, h = num_heads_;
  const Tensor w = ag::slice(in_proj_weight, 0, part * e, (part + 1) * e);  // (E, E)
  const Tensor b = in_proj_bias.defined() ? ag::slice(in_proj_bias, 0, part * e, (part + 1) * e) : Tensor();
  const Tensor y = ag::linear(x, w, b);                                     // (N, L, E)
  const Tensor heads = ag::reshape(y, {x.size(0), x.size(1), h, e / h});    // (N, L, H, d)
  return ag::transpose(heads, 1, 2);                                        // (N, H, L, d)
}

Tensor MultiheadAttention::forward(const Tensor& query, const Tensor& key, const Tensor& value) const {
  const int64_t e = embed_dim_;
  check(query.dim() == 3 && key.dim() == 3 && value.dim() == 3 && query.size(2) == e &&
            key.size(2) == e && value.size(2) == e && key.size(1) == value.size(1) &&
            query.size(0) == key.size(0) && key.size(0) == value.size(0),
        "MultiheadAttention",
        "expected query (N, Lq, " + std::to_string(e) + "), key and value (N, Lk, " +
            std::to_string(e) + "), got " + shape_str(query.shape()) + ", " + shape_str(key.shape()) +
            ", " + shape_str(value.shape()));
  const Tensor q = project(query, 0), k = project(key, 1), v = project(value, 2);  // (N, H, L, d)
  const double scale = 1.0 / std::sqrt(static_cast<double>(e / num_heads_));
  Tensor heads;  // (N, H, Lq, d)
  if (is_training() && attn_dropout_->p() > 0.0) {
    // Dropout on the attention weights needs them explicitly.
    const Tensor scores = ag::mul_scalar(ag::matmul(q, ag::transpose(k, -2, -1)), scale);  // (N, H, Lq, Lk)
    heads = ag::matmul(attn_dropout_->forward(ag::softmax(scores, -1)), v);
  } else {
    heads = ag::scaled_dot_product_attention(q, k, v, scale);
  }
  // (N, H, Lq, d) -> (N, Lq, H, d) -> (N, Lq, E)
  const Tensor merged = ag::reshape(ag::transpose(heads, 1, 2), {query.size(0), query.size(1), e});
  return out_proj_->forward(merged);
}

}  // namespace ldae::nn
