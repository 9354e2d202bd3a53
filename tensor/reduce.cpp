// Reductions over a set of axes. The plan is the same for every reduction: move the
// reduced axes to the end, make the tensor contiguous, view it as (outer, inner) rows
// and reduce each row. Float sums accumulate in double.
#include <algorithm>
#include <cmath>
#include <limits>
#include <vector>

#include "tensor/math.h"
#include "tensor/ops.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/elementwise.h"
#include "tensor/cuda/reduce.h"
#endif

namespace ldae {

namespace {

struct RowView {
  Tensor rows;          // (outer, inner), contiguous
  Shape out_shape;      // result shape without keepdim
  Shape keep_shape;     // result shape with keepdim
};

RowView plan_reduction(const std::string& op, const Tensor& a, const std::vector<int64_t>& dims_in) {
  check_plain_input(op, a);
#ifndef LDAE_WITH_CUDA
  check(a.device().is_cpu(), op, "CUDA backend is not built into this program");
#endif
  const int64_t nd = a.dim();
  std::vector<bool> reduce(nd, dims_in.empty());
  for (int64_t d : dims_in) {
    const int64_t axis = normalize_axis(d, nd, op);
    check(!reduce[axis] || dims_in.empty(), op, "axis " + std::to_string(axis) + " repeated");
    reduce[axis] = true;
  }
  std::vector<int64_t> perm;
  RowView v;
  int64_t outer = 1, inner = 1;
  for (int64_t i = 0; i < nd; ++i)
    if (!reduce[i]) {
      perm.push_back(i);
      v.out_shape.push_back(a.shape()[i]);
      v.keep_shape.push_back(a.shape()[i]);
      outer *= a.shape()[i];
    } else {
      v.keep_shape.push_back(1);
    }
  for (int64_t i = 0; i < nd; ++i)
    if (reduce[i]) {
      perm.push_back(i);
      inner *= a.shape()[i];
    }
  v.rows = a.permute(perm).contiguous().reshape({outer, inner});
  return v;
}

// out[r] = combine over row r, with `init` and `step(acc, x)`; parallel over rows, or
// over the row itself when there is a single long row.
template <typename T, typename Acc, typename Step, typename Join>
void reduce_rows(const Tensor& rows, T* out, Acc init, Step step, Join join) {
  const int64_t outer = rows.shape()[0], inner = rows.shape()[1];
  const T* p = rows.data<T>();
  if (outer == 1) {
    // One long row: fixed chunks, each reduced on its own, then joined in chunk order,
    // so the result is bit-identical from run to run whatever the thread timing.
    const int64_t chunk = 65536;
    const int64_t chunks = std::max<int64_t>(1, (inner + chunk - 1) / chunk);
    std::vector<Acc> partial(chunks, init);
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t c = 0; c < chunks; ++c) {
      Acc local = init;
      const int64_t end = std::min(inner, (c + 1) * chunk);
      for (int64_t i = c * chunk; i < end; ++i) local = step(local, p[i]);
      partial[c] = local;
    }
    Acc total = init;
    for (const Acc& v : partial) total = join(total, v);
    out[0] = static_cast<T>(total);
    return;
  }
#pragma omp parallel for schedule(static) if (outer * inner > 65536)
  for (int64_t r = 0; r < outer; ++r) {
    Acc acc = init;
    const T* row = p + r * inner;
    for (int64_t i = 0; i < inner; ++i) acc = step(acc, row[i]);
    out[r] = static_cast<T>(acc);
  }
}

Tensor reduce_sum(const std::string& op, const Tensor& a, const std::vector<int64_t>& dims,
                  bool keepdim, bool average) {
  RowView v = plan_reduction(op, a, dims);
  Tensor out = Tensor::empty(keepdim ? v.keep_shape : v.out_shape, a.dtype(), a.device());
  const int64_t inner = v.rows.shape()[1];
#ifdef LDAE_WITH_CUDA
  if (a.device().is_cuda()) {
    cuda::sum_rows(v.rows, out, average);  // tensor/cuda/reduce.cu
    return out;
  }
#endif
  LDAE_DISPATCH(a.dtype(), T, {
    auto add = [](double acc, T x) { return acc + static_cast<double>(x); };
    auto join = [](double x, double y) { return x + y; };
    reduce_rows<T, double>(v.rows, out.mutable_data<T>(), 0.0, add, join);
    if (average) {
      // mean of an empty set is NaN, as in PyTorch
      const T scale = inner > 0 ? T(1) / T(inner) : std::numeric_limits<T>::quiet_NaN();
      T* o = out.mutable_data<T>();
      for (int64_t i = 0; i < out.numel(); ++i) o[i] *= scale;
    }
  });
  return out;
}

}  // namespace

Tensor sum(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_sum("sum", a, dims, keepdim, false);
}

Tensor mean(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  return reduce_sum("mean", a, dims, keepdim, true);
}

Tensor amax(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  RowView v = plan_reduction("amax", a, dims);
  check(v.rows.shape()[1] > 0, "amax", "cannot reduce over an empty axis of " + shape_str(a.shape()));
  Tensor out = Tensor::empty(keepdim ? v.keep_shape : v.out_shape, a.dtype(), a.device());
#ifdef LDAE_WITH_CUDA
  if (a.device().is_cuda()) {
    cuda::max_rows(v.rows, out);
    return out;
  }
#endif
  LDAE_DISPATCH(a.dtype(), T, {
    auto take_max = [](T acc, T x) { return x > acc || std::isnan(x) ? x : acc; };
    reduce_rows<T, T>(v.rows, out.mutable_data<T>(), -std::numeric_limits<T>::infinity(), take_max,
                      take_max);
  });
  return out;
}

Tensor logsumexp(const Tensor& a, const std::vector<int64_t>& dims, bool keepdim) {
  // log sum exp(a) = m + log sum exp(a - m) with m the max, so exp never overflows.
  Tensor m = amax(a, dims, true);
  // An all -inf row would give (-inf) - (-inf) = NaN; shift by 0 there instead.
  if (m.device().is_cuda()) {
#ifdef LDAE_WITH_CUDA
    LDAE_DISPATCH(m.dtype(), T, { cuda::unary_map<T>(m, m, math::ZeroIfInf{}); });
#endif
  } else {
    LDAE_DISPATCH(m.dtype(), T, {
      T* p = m.mutable_data<T>();
      for (int64_t i = 0; i < m.numel(); ++i)
        if (std::isinf(p[i])) p[i] = 0;
    });
  }
  Tensor out = add(log(sum(exp(sub(a, m)), dims, true)), m);
  if (!keepdim) {
    RowView v = plan_reduction("logsumexp", a, dims);
    out = out.reshape(v.out_shape);
  }
  return out;
}

Tensor sum_to(const Tensor& a, const Shape& shape) {
  check_plain_input("sum_to", a);
  if (a.shape() == shape) return a;
  broadcast_shapes(shape, a.shape(), "sum_to");
  check(shape.size() <= a.shape().size(), "sum_to",
        "cannot sum " + shape_str(a.shape()) + " to the larger shape " + shape_str(shape));
  const size_t lead = a.shape().size() - shape.size();
  std::vector<int64_t> dims;
  for (size_t i = 0; i < a.shape().size(); ++i)
    if (i < lead || (shape[i - lead] == 1 && a.shape()[i] != 1)) dims.push_back(static_cast<int64_t>(i));
  if (dims.empty()) return a.reshape(shape);
  return sum(a, dims, true).reshape(shape);
}

}  // namespace ldae
