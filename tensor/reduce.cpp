// Reductions over a set of axes. The plan is the same for every reduction: move the
// reduced axes to the end, make the tensor contiguous, view it as (outer, inner) rows
// and reduce each row. Float sums accumulate in double. One shortcut: a CPU sum whose
// kept axes sit between reduced ones (a bias gradient: (N, C, D, H, W) -> (C)) reads the
// tensor where it lies instead of copying it transposed (sum_kept_block).
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

// What a reduction over some axes of `a` produces: which axes go, the result's shape without
// and with keepdim, and how many elements of `a` go into each result element.
struct ReductionPlan {
  std::vector<bool> reduce;  // reduce[i]: axis i is reduced
  Shape out_shape;           // result shape without keepdim
  Shape keep_shape;          // result shape with keepdim (reduced axes of size 1)
  int64_t inner = 1;         // elements per result element (0 for an empty reduced axis)
  const Shape& shape(bool keepdim) const { return keepdim ? keep_shape : out_shape; }
};

// The plan for reducing `a` over `dims_in` (every axis when dims_in is empty).
ReductionPlan plan_reduction(const std::string& op, const Tensor& a, const std::vector<int64_t>& dims_in) {
  check_plain_input(op, a);
#ifndef LDAE_WITH_CUDA
  check(a.device().is_cpu(), op, "CUDA backend is not built into this program");
#endif
  const int64_t nd = a.dim();
  ReductionPlan plan;
  plan.reduce.assign(nd, dims_in.empty());
  for (int64_t d : dims_in) {
    const int64_t axis = normalize_axis(d, nd, op);
    check(!plan.reduce[axis] || dims_in.empty(), op, "axis " + std::to_string(axis) + " repeated");
    plan.reduce[axis] = true;
  }
  for (int64_t i = 0; i < nd; ++i) {
    if (plan.reduce[i]) {
      plan.inner *= a.shape()[i];
    } else {
      plan.out_shape.push_back(a.shape()[i]);
    }
    plan.keep_shape.push_back(plan.reduce[i] ? 1 : a.shape()[i]);
  }
  return plan;
}

// `a` with the reduced axes moved to the end, contiguous, viewed as (outer, inner) rows.
Tensor as_rows(const Tensor& a, const ReductionPlan& plan) {
  std::vector<int64_t> perm;
  for (int64_t i = 0; i < a.dim(); ++i)
    if (!plan.reduce[i]) perm.push_back(i);
  for (int64_t i = 0; i < a.dim(); ++i)
    if (plan.reduce[i]) perm.push_back(i);
  return a.permute(perm).contiguous().reshape({numel(plan.out_shape), plan.inner});
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

// The kept axes of a contiguous CPU tensor as one block between reduced axes: `a` viewed as
// (A, K, B), reduced over A and B, with A > 1 (else as_rows copies nothing) and K > 1
// (else it is a single row, which reduce_rows splits into chunks); an empty tensor takes the
// row plan.
struct KeptBlock {
  int64_t A = 0, K = 0, B = 0;
};
bool find_kept_block(const Tensor& a, const std::vector<bool>& reduce, KeptBlock& blk) {
  if (!a.device().is_cpu() || !a.is_contiguous() || a.numel() == 0) return false;
  const int64_t nd = a.dim();
  int64_t first = 0;
  while (first < nd && reduce[first]) ++first;  // kept block = axes [first, last)
  int64_t last = first;
  while (last < nd && !reduce[last]) ++last;
  for (int64_t i = last; i < nd; ++i)
    if (!reduce[i]) return false;  // a second block of kept axes
  blk = {1, 1, 1};
  for (int64_t i = 0; i < nd; ++i) (i < first ? blk.A : i < last ? blk.K : blk.B) *= a.shape()[i];
  return blk.A > 1 && blk.K > 1;
}

// out[k] = sum over (a, b) of x[a, k, b], for x (A, K, B) contiguous. Each out[k] adds its
// elements in as_rows' row order (a, then b) in double, so the result is bit-identical
// to the copy-and-rows plan. Columns go in blocks of 16: the innermost loop runs over the
// block's columns, 16 sums that do not wait for each other (and, for B = 1, 16 adjacent floats).
template <typename T>
void sum_kept_block(const T* x, const KeptBlock& blk, T* out) {
  constexpr int64_t kCols = 16;
  const int64_t blocks = (blk.K + kCols - 1) / kCols;
#pragma omp parallel for schedule(static) if (blk.A * blk.K * blk.B > 65536)
  for (int64_t block = 0; block < blocks; ++block) {
    const int64_t k0 = block * kCols, cols = std::min(blk.K - k0, kCols);
    double acc[kCols] = {};
    if (blk.B == 1 && cols == kCols) {  // rows of features (a Linear's bias): 16 adjacent floats
      for (int64_t a = 0; a < blk.A; ++a) {
        const T* xa = x + a * blk.K + k0;  // x[a, k0]
        for (int64_t c = 0; c < kCols; ++c) acc[c] += static_cast<double>(xa[c]);
      }
    } else {
      for (int64_t a = 0; a < blk.A; ++a) {
        const T* xa = x + (a * blk.K + k0) * blk.B;  // x[a, k0, 0]
        for (int64_t b = 0; b < blk.B; ++b)
          for (int64_t c = 0; c < cols; ++c) acc[c] += static_cast<double>(xa[c * blk.B + b]);
      }
    }
    for (int64_t c = 0; c < cols; ++c) out[k0 + c] = static_cast<T>(acc[c]);
  }
}

// Divides every element of `out` by `count`: a sum into a mean (of an empty set: NaN, as in
// PyTorch).
template <typename T>
void divide_by_count(Tensor& out, int64_t count) {
  const T scale = count > 0 ? T(1) / T(count) : std::numeric_limits<T>::quiet_NaN();
  T* o = out.mutable_data<T>();
  for (int64_t i = 0; i < out.numel(); ++i) o[i] *= scale;
}

Tensor reduce_sum(const std::string& op, const Tensor& a, const std::vector<int64_t>& dims,
                  bool keepdim, bool average) {
  const ReductionPlan plan = plan_reduction(op, a, dims);
  Tensor out = Tensor::empty(plan.shape(keepdim), a.dtype(), a.device());
#ifdef LDAE_WITH_CUDA
  if (a.device().is_cuda()) {
    cuda::sum_rows(as_rows(a, plan), out, average);  // tensor/cuda/reduce.cu
    return out;
  }
#endif
  KeptBlock blk;
  const bool in_place = find_kept_block(a, plan.reduce, blk);
  LDAE_DISPATCH(a.dtype(), T, {
    if (in_place) {
      sum_kept_block<T>(a.data<T>(), blk, out.mutable_data<T>());
    } else {
      auto add = [](double acc, T x) { return acc + static_cast<double>(x); };
      auto join = [](double x, double y) { return x + y; };
      reduce_rows<T, double>(as_rows(a, plan), out.mutable_data<T>(), 0.0, add, join);
    }
    if (average) divide_by_count<T>(out, plan.inner);
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
  const ReductionPlan plan = plan_reduction("amax", a, dims);
  check(plan.inner > 0, "amax", "cannot reduce over an empty axis of " + shape_str(a.shape()));
  Tensor out = Tensor::empty(plan.shape(keepdim), a.dtype(), a.device());
  const Tensor rows = as_rows(a, plan);
#ifdef LDAE_WITH_CUDA
  if (a.device().is_cuda()) {
    cuda::max_rows(rows, out);
    return out;
  }
#endif
  LDAE_DISPATCH(a.dtype(), T, {
    auto take_max = [](T acc, T x) { return x > acc || std::isnan(x) ? x : acc; };
    reduce_rows<T, T>(rows, out.mutable_data<T>(), -std::numeric_limits<T>::infinity(), take_max,
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
  if (!keepdim) out = out.reshape(plan_reduction("logsumexp", a, dims).out_shape);
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
