// Shapes and strides: small vectors of int64, plus the arithmetic on them that every
// op needs (element count, contiguous strides, broadcasting, axis normalisation).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace ldae {

using Shape = std::vector<int64_t>;    // sizes, outermost first: (N, C, D, H, W)
using Strides = std::vector<int64_t>;  // in elements, not bytes

// Product of the sizes (1 for a scalar shape ()).
int64_t numel(const Shape& shape);

// Row-major strides: the last axis has stride 1.
Strides contiguous_strides(const Shape& shape);

// "(2, 3, 4)"; a 1-d shape prints as "(4,)" and a scalar as "()".
std::string shape_str(const Shape& shape);

// NumPy broadcasting of two shapes; throws Error naming `op` and both shapes.
Shape broadcast_shapes(const Shape& a, const Shape& b, const std::string& op);

// Maps axis in [-ndim, ndim) to [0, ndim); throws Error naming `op` otherwise.
int64_t normalize_axis(int64_t axis, int64_t ndim, const std::string& op);

// Strides that read a tensor of `shape`/`strides` as if it had `target` shape
// (broadcast axes get stride 0). `shape` must broadcast to `target`.
Strides broadcast_strides(const Shape& shape, const Strides& strides, const Shape& target);

}  // namespace ldae
