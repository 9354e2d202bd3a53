// Differentiable scaled dot-product attention with its own backward (not composed from
// ag::matmul / ag::softmax): the forward saves q, k, v and the weights P, and the
// backward is, with s the scale, S = s q kᵀ, P = softmax(S), y = P v:
//   gv = Pᵀ g,   gP = g vᵀ,   gS = softmax_backward(P, gP),   gq = s gS k,   gk = s gSᵀ q.
// Batch axes broadcast as in matmul, so each gradient is summed back to its input's shape.
//
// When P does not fit the attention budget (tensor/kernels.h), the forward runs chunks of
// query rows (tensor/attention.cpp) and saves only q, k, v; the backward goes through the
// same chunks, recomputing each chunk's P (the same numbers as in the forward) and adding
// the chunks' parts of gk and gv in chunk order. Memory: the forward holds one chunk's
// weights at a time, the backward at most three chunk-sized matrices (P, gP, gS).
#include <algorithm>

#include "autograd/functions.h"
#include "autograd/plain.h"

namespace ldae::ag {

namespace {

// The backward of one chunk of query rows [start, end): g (..., rows, dv) is the upstream
// gradient of those rows; returns gq for them and adds their parts to gk, gv (undefined
// until the first chunk). Gradients have the broadcast batch shape (summed later).
void chunk_backward(const Tensor& q, const Tensor& k, const Tensor& v, double s, double scale,
                    int64_t start, int64_t end, const Tensor& g, const Needs& need, Tensor& gq_rows,
                    Tensor& gk, Tensor& gv) {
  const Tensor q_rows = q.slice(q.dim() - 2, start, end);
  const Tensor p = attention_weights(q_rows, k, scale);  // recomputed: (..., rows, Lk)
  auto accumulate = [](Tensor& total, const Tensor& part) {
    total = total.defined() ? ldae::add(total, part) : part;
  };
  if (need[2]) accumulate(gv, ldae::matmul(p.transpose(-2, -1), g));
  if (need[0] || need[1]) {
    Tensor gs;  // gS / s: (..., rows, Lk); gP is freed as soon as gS exists
    {
      const Tensor gp = ldae::matmul(g, v.transpose(-2, -1));
      gs = ldae::softmax_backward(p.expand(gp.shape()), gp, -1);
    }
    // The scale goes on the small (rows, d) products rather than on gS.
    if (need[0]) gq_rows = ldae::mul_scalar(ldae::matmul(gs, k), s);
    if (need[1]) accumulate(gk, ldae::mul_scalar(ldae::matmul(gs.transpose(-2, -1), q_rows), s));
  }
}

// Chunked attention: the forward keeps no weights; the backward recomputes them chunk by chunk.
Tensor chunked_attention(const Tensor& q, const Tensor& k, const Tensor& v, double scale, int64_t chunk) {
  const std::string op = "scaled_dot_product_attention";
  const Tensor y = plain([&] { return ldae::scaled_dot_product_attention(q, k, v, scale); });
  const double s = attention_scale(q, scale);
  const SavedTensor sq(q, op), sk(k, op), sv(v, op);
  return record(op, y, {q, k, v}, [sq, sk, sv, s, scale, chunk](const Tensor& g, const Needs& need) {
    const Tensor &qv = sq.get(), &kv = sk.get(), &vv = sv.get();
    const int64_t lq = qv.size(-2);
    std::vector<Tensor> gq_parts;
    Tensor gk, gv;
    for (int64_t start = 0; start < lq; start += chunk) {
      const int64_t end = std::min(start + chunk, lq);
      Tensor gq_rows;
      chunk_backward(qv, kv, vv, s, scale, start, end, g.slice(g.dim() - 2, start, end), need, gq_rows, gk, gv);
      if (need[0]) gq_parts.push_back(gq_rows);
    }
    Grads grads(3);
    if (need[0]) grads[0] = sum_to(ldae::cat(gq_parts, -2), sq.shape());
    if (need[1]) grads[1] = sum_to(gk, sk.shape());
    if (need[2]) grads[2] = sum_to(gv, sv.shape());
    return grads;
  });
}

}  // namespace

Tensor scaled_dot_product_attention(const Tensor& q, const Tensor& k, const Tensor& v,
                                    double scale) {
  const std::string op = "scaled_dot_product_attention";
  Tensor p, y;
  bool chunked = false;
  int64_t chunk = 0;
  plain([&] {
    check_attention_inputs(q, k, v);
    chunk = attention_query_chunk(q, k, v);
    chunked = chunk < q.size(-2);
    return Tensor();
  });
  if (chunked) return chunked_attention(q, k, v, scale, chunk);
  plain([&] {
    p = attention_weights(q, k, scale);  // (..., Lq, Lk)
    y = ldae::matmul(p, v);              // (..., Lq, dv)
    return y;
  });
  const double s = attention_scale(q, scale);
  const SavedTensor sq(q, op), sk(k, op), sv(v, op), sp(p, op);
  return record(op, y, {q, k, v}, [sq, sk, sv, sp, s](const Tensor& g, const Needs& need) {
    const Tensor &qv = sq.get(), &kv = sk.get(), &vv = sv.get();
    Grads grads(3);
    if (need[2]) grads[2] = sum_to(ldae::matmul(sp.get().transpose(-2, -1), g), sv.shape());
    if (need[0] || need[1]) {
      const Tensor gp = ldae::matmul(g, vv.transpose(-2, -1));  // (..., Lq, Lk)
      // P may have fewer batch axes than gP when v brings extra ones: expand it to match.
      const Tensor pe = sp.get().expand(gp.shape());
      const Tensor gs = ldae::mul_scalar(ldae::softmax_backward(pe, gp, -1), s);  // gS
      if (need[0]) grads[0] = sum_to(ldae::matmul(gs, kv), sq.shape());
      if (need[1]) grads[1] = sum_to(ldae::matmul(gs.transpose(-2, -1), qv), sk.shape());
    }
    return grads;
  });
}

}  // namespace ldae::ag
