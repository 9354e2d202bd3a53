// The one loop behind every elementwise CPU kernel: walk K tensors of the same shape
// (each with its own strides; broadcast axes have stride 0) row by row.
//
// for_each_row(shape, {strides_a, strides_b, ...}, body) calls
//   body(offsets, n, inner)   with offsets[k] = element offset of the row start in
//                             tensor k, n = row length, inner[k] = stride along the row,
// once per row, rows spread over OpenMP threads. Before looping, adjacent axes that
// are laid out contiguously in every tensor are merged, so a contiguous tensor is one
// long row that is cut into chunks for the threads.
#pragma once
#include <algorithm>
#include <array>
#include <cstdint>
#include <vector>

#include "tensor/shape.h"

namespace ldae::cpu {

// Rows shorter than this are not worth a thread of their own.
constexpr int64_t kParallelGrain = 32768;

template <size_t K>
struct MergedLayout {
  Shape shape;
  std::array<Strides, K> strides;
};

// Drops size-1 axes and merges axis i into i+1 when every tensor steps through them
// as one contiguous run (stride[i] == size[i+1] * stride[i+1]).
template <size_t K>
MergedLayout<K> merge_axes(const Shape& shape, const std::array<Strides, K>& strides) {
  MergedLayout<K> m;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 1) continue;
    bool mergeable = !m.shape.empty();
    for (size_t k = 0; k < K && mergeable; ++k)
      mergeable = m.strides[k].back() == shape[i] * strides[k][i];
    if (mergeable) {
      m.shape.back() *= shape[i];
      for (size_t k = 0; k < K; ++k) m.strides[k].back() = strides[k][i];
    } else {
      m.shape.push_back(shape[i]);
      for (size_t k = 0; k < K; ++k) m.strides[k].push_back(strides[k][i]);
    }
  }
  if (m.shape.empty()) {  // a scalar or all-ones shape: one row of one element
    m.shape.push_back(1);
    for (size_t k = 0; k < K; ++k) m.strides[k].push_back(1);
  }
  return m;
}

template <size_t K, typename Body>
void for_each_row(const Shape& shape, const std::array<Strides, K>& strides, Body body) {
  if (numel(shape) == 0) return;
  const MergedLayout<K> m = merge_axes<K>(shape, strides);
  const int64_t ndim = static_cast<int64_t>(m.shape.size());
  const int64_t row_len = m.shape.back();
  std::array<int64_t, K> inner;
  for (size_t k = 0; k < K; ++k) inner[k] = m.strides[k].back();

  if (ndim == 1) {
    // One long row: cut it into chunks so that several threads share it.
    const int64_t chunk = kParallelGrain;
    const int64_t chunks = (row_len + chunk - 1) / chunk;
#pragma omp parallel for schedule(static) if (chunks > 1)
    for (int64_t c = 0; c < chunks; ++c) {
      std::array<int64_t, K> offsets;
      for (size_t k = 0; k < K; ++k) offsets[k] = c * chunk * inner[k];
      body(offsets, std::min(chunk, row_len - c * chunk), inner);
    }
    return;
  }

  const int64_t rows = numel(m.shape) / row_len;
  const bool parallel = rows * row_len >= kParallelGrain && rows > 1;
#pragma omp parallel for schedule(static) if (parallel)
  for (int64_t r = 0; r < rows; ++r) {
    // Turn the row number into a multi-index over the outer axes, then into offsets.
    std::array<int64_t, K> offsets{};
    int64_t rest = r;
    for (int64_t axis = ndim - 2; axis >= 0; --axis) {
      const int64_t idx = rest % m.shape[axis];
      rest /= m.shape[axis];
      for (size_t k = 0; k < K; ++k) offsets[k] += idx * m.strides[k][axis];
    }
    body(offsets, row_len, inner);
  }
}

}  // namespace ldae::cpu
