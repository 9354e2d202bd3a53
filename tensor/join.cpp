// Concatenation and constant padding: both allocate the result and copy each input
// into a slice view of it.
#include "tensor/ops.h"

namespace ldae {

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  check(!tensors.empty(), "cat", "needs at least one tensor");
  for (const Tensor& t : tensors) check_plain_input("cat", t);
  const Tensor& first = tensors[0];
  const int64_t axis = normalize_axis(dim, first.dim(), "cat");
  Shape out_shape = first.shape();
  out_shape[axis] = 0;
  for (const Tensor& t : tensors) {
    bool compatible = t.dim() == first.dim() && t.dtype() == first.dtype() && t.device() == first.device();
    for (int64_t i = 0; compatible && i < first.dim(); ++i)
      compatible = i == axis || t.shape()[i] == first.shape()[i];
    check(compatible, "cat",
          "tensors of shape " + shape_str(first.shape()) + " (" + dtype_name(first.dtype()) +
              ") and " + shape_str(t.shape()) + " (" + dtype_name(t.dtype()) +
              ") cannot be joined along axis " + std::to_string(axis));
    out_shape[axis] += t.shape()[axis];
  }
  Tensor out = Tensor::empty(out_shape, first.dtype(), first.device());
  int64_t start = 0;
  for (const Tensor& t : tensors) {
    out.slice(axis, start, start + t.shape()[axis]).copy_(t);
    start += t.shape()[axis];
  }
  return out;
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  check_plain_input("pad", x);
  check(pads.size() % 2 == 0 && static_cast<int64_t>(pads.size()) <= 2 * x.dim(), "pad",
        "pad needs an even number of entries, at most 2 per axis; got " + std::to_string(pads.size()) +
            " for shape " + shape_str(x.shape()));
  // pads[2k], pads[2k+1] are the (low, high) padding of axis dim-1-k.
  Shape out_shape = x.shape();
  Tensor src = x;
  std::vector<std::pair<int64_t, int64_t>> dst_range(x.dim());
  for (int64_t axis = 0; axis < x.dim(); ++axis) dst_range[axis] = {0, x.shape()[axis]};
  for (size_t k = 0; k < pads.size() / 2; ++k) {
    const int64_t axis = x.dim() - 1 - static_cast<int64_t>(k);
    const int64_t lo = pads[2 * k], hi = pads[2 * k + 1];
    const int64_t n = x.shape()[axis];
    out_shape[axis] = n + lo + hi;
    check(out_shape[axis] >= 0, "pad",
          "padding (" + std::to_string(lo) + ", " + std::to_string(hi) + ") crops axis " +
              std::to_string(axis) + " of " + shape_str(x.shape()) + " below size 0");
    // Negative padding crops the source; positive padding offsets the destination.
    const int64_t src_lo = std::max<int64_t>(0, -lo), src_hi = n - std::max<int64_t>(0, -hi);
    src = src.slice(axis, src_lo, std::max(src_lo, src_hi));
    const int64_t dst_lo = std::max<int64_t>(0, lo);
    dst_range[axis] = {dst_lo, dst_lo + src.shape()[axis]};
  }
  Tensor out = Tensor::full(out_shape, value, x.dtype(), x.device());
  Tensor window = out;
  for (int64_t axis = 0; axis < x.dim(); ++axis)
    window = window.slice(axis, dst_range[axis].first, dst_range[axis].second);
  if (src.numel() > 0) window.copy_(src);
  return out;
}

}  // namespace ldae
