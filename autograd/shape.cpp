// Differentiable shape ops. Views share storage with their input; their backward
// maps the gradient back through the inverse view.
#include "autograd/functions.h"
#include "autograd/plain.h"

namespace ldae::ag {

Tensor reshape(const Tensor& a, const Shape& shape) {
  const Shape in = a.shape();
  return record("reshape", plain([&] { return a.reshape(shape); }), {a},
                [in](const Tensor& g, const Needs&) { return Grads{g.reshape(in)}; });
}

Tensor permute(const Tensor& a, const std::vector<int64_t>& dims) {
  Tensor y = plain([&] { return a.permute(dims); });
  std::vector<int64_t> inverse(dims.size());
  for (size_t i = 0; i < dims.size(); ++i)
    inverse[normalize_axis(dims[i], a.dim(), "permute")] = static_cast<int64_t>(i);
  return record("permute", y, {a},
                [inverse](const Tensor& g, const Needs&) { return Grads{g.permute(inverse)}; });
}

Tensor transpose(const Tensor& a, int64_t dim0, int64_t dim1) {
  return record("transpose", plain([&] { return a.transpose(dim0, dim1); }), {a},
                [dim0, dim1](const Tensor& g, const Needs&) { return Grads{g.transpose(dim0, dim1)}; });
}

Tensor slice(const Tensor& a, int64_t axis, int64_t start, int64_t end, int64_t step) {
  const Shape in = a.shape();
  const DType dtype = a.dtype();
  const Device device = a.device();
  return record("slice", plain([&] { return a.slice(axis, start, end, step); }), {a},
                [=](const Tensor& g, const Needs&) {
                  Tensor ga = Tensor::zeros(in, dtype, device);
                  ga.slice(axis, start, end, step).copy_(g);
                  return Grads{ga};
                });
}

Tensor expand(const Tensor& a, const Shape& shape) {
  const Shape in = a.shape();
  return record("expand", plain([&] { return a.expand(shape); }), {a},
                [in](const Tensor& g, const Needs&) { return Grads{sum_to(g, in)}; });
}

Tensor unsqueeze(const Tensor& a, int64_t axis) {
  const Shape in = a.shape();
  return record("unsqueeze", plain([&] { return a.unsqueeze(axis); }), {a},
                [in](const Tensor& g, const Needs&) { return Grads{g.reshape(in)}; });
}

Tensor squeeze(const Tensor& a, int64_t axis) {
  const Shape in = a.shape();
  return record("squeeze", plain([&] { return a.squeeze(axis); }), {a},
                [in](const Tensor& g, const Needs&) { return Grads{g.reshape(in)}; });
}

Tensor contiguous(const Tensor& a) {
  return record("contiguous", plain([&] { return a.contiguous(); }), {a},
                [](const Tensor& g, const Needs&) { return Grads{g}; });
}

Tensor cat(const std::vector<Tensor>& tensors, int64_t dim) {
  Tensor y = plain([&] { return ldae::cat(tensors, dim); });
  const int64_t axis = normalize_axis(dim, y.dim(), "cat");
  std::vector<int64_t> sizes;
  for (const Tensor& t : tensors) sizes.push_back(t.shape()[axis]);
  return record("cat", y, tensors, [axis, sizes](const Tensor& g, const Needs& need) {
    Grads grads(sizes.size());
    int64_t start = 0;
    for (size_t i = 0; i < sizes.size(); ++i) {
      if (need[i]) grads[i] = g.slice(axis, start, start + sizes[i]).contiguous();
      start += sizes[i];
    }
    return grads;
  });
}

Tensor pad(const Tensor& x, const std::vector<int64_t>& pads, double value) {
  return record("pad", plain([&] { return ldae::pad(x, pads, value); }), {x},
                [pads](const Tensor& g, const Needs&) {
                  std::vector<int64_t> crop(pads.size());
                  for (size_t i = 0; i < pads.size(); ++i) crop[i] = -pads[i];
                  return Grads{ldae::pad(g, crop, 0.0)};
                });
}

}  // namespace ldae::ag
