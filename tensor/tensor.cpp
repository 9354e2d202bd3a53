#include "tensor/tensor.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <sstream>

#include "tensor/cpu/strided_loop.h"
#include "tensor/grad_mode.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/copy.h"
#endif

namespace ldae {

namespace {

std::shared_ptr<TensorImpl> new_impl(const Shape& shape, DType dtype, Device device) {
  // `if (!...) fail` rather than check(): these run for every tensor an op makes, and check()
  // would build its message (shape_str) each time.
  for (int64_t s : shape)
    if (s < 0) fail("empty", "negative size in shape " + shape_str(shape));
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = std::make_shared<Storage>(numel(shape) * dtype_size(dtype), device);
  impl->shape = shape;
  impl->strides = contiguous_strides(shape);
  impl->dtype = dtype;
  return impl;
}

// A copy whose source runs along another axis than the destination: after merging axes,
// dst[o, p, q] = src[o, p, q] with q contiguous in dst and p contiguous in src (a permute's
// contiguous(), e.g. (N, C, H, W) -> (N, H, W, C) in ConvNeXt's blocks). Row by row, each
// element of a dst row comes from another cache line of src; here the (p, q) plane is walked
// in kTile x kTile tiles, so each src line is read whole for kTile rows while it is in cache.
// Returns false, copying nothing, for any other layout (or a plane smaller than a tile).
template <typename Dst, typename Src>
bool copy_transposed(Dst* dst, const Strides& dst_strides, const Src* src, const Strides& src_strides,
                     const Shape& shape) {
  constexpr int64_t kTile = 16;
  const cpu::MergedLayout<2> m = cpu::merge_axes<2>(shape, {dst_strides, src_strides});
  const int64_t nd = static_cast<int64_t>(m.shape.size());
  if (nd < 2) return false;
  const Strides& ds = m.strides[0];
  const Strides& ss = m.strides[1];
  if (ds[nd - 1] != 1 || ss[nd - 2] != 1 || ss[nd - 1] == 1) return false;
  const int64_t P = m.shape[nd - 2], Q = m.shape[nd - 1];
  if (P < kTile || Q < kTile) return false;
  const int64_t dst_p = ds[nd - 2], src_q = ss[nd - 1];
  const int64_t outer = numel(m.shape) / (P * Q), p_tiles = (P + kTile - 1) / kTile;
#pragma omp parallel for schedule(static) if (outer * P * Q >= cpu::kParallelGrain)
  for (int64_t task = 0; task < outer * p_tiles; ++task) {
    const int64_t o = task / p_tiles, p0 = (task % p_tiles) * kTile, p1 = std::min(P, p0 + kTile);
    int64_t dst_o = 0, src_o = 0, rest = o;  // offsets of the outer multi-index o
    for (int64_t axis = nd - 3; axis >= 0; --axis) {
      const int64_t idx = rest % m.shape[axis];
      rest /= m.shape[axis];
      dst_o += idx * ds[axis];
      src_o += idx * ss[axis];
    }
    for (int64_t q0 = 0; q0 < Q; q0 += kTile) {
      const int64_t q1 = std::min(Q, q0 + kTile);
      for (int64_t p = p0; p < p1; ++p) {
        Dst* d = dst + dst_o + p * dst_p;
        const Src* s = src + src_o + p;
        for (int64_t q = q0; q < q1; ++q) d[q] = static_cast<Dst>(s[q * src_q]);
      }
    }
  }
  return true;
}

// Strided copy with conversion: dst[i] = (Dst) src[i] for tensors of the same shape.
template <typename Dst, typename Src>
void copy_elements(Dst* dst, const Strides& dst_strides, const Src* src, const Strides& src_strides,
                   const Shape& shape) {
  if (copy_transposed(dst, dst_strides, src, src_strides, shape)) return;
  cpu::for_each_row<2>(shape, {dst_strides, src_strides},
                       [&](const std::array<int64_t, 2>& off, int64_t n,
                           const std::array<int64_t, 2>& step) {
                         Dst* d = dst + off[0];
                         const Src* s = src + off[1];
                         if (step[0] == 1 && step[1] == 1) {
                           for (int64_t i = 0; i < n; ++i) d[i] = static_cast<Dst>(s[i]);
                         } else {
                           for (int64_t i = 0; i < n; ++i)
                             d[i * step[0]] = static_cast<Dst>(s[i * step[1]]);
                         }
                       });
}

}  // namespace

// ---- Factories -----------------------------------------------------------------------

Tensor Tensor::empty(const Shape& shape, DType dtype, Device device) {
  return Tensor(new_impl(shape, dtype, device));
}

Tensor Tensor::zeros(const Shape& shape, DType dtype, Device device) {
  return full(shape, 0.0, dtype, device);
}

Tensor Tensor::ones(const Shape& shape, DType dtype, Device device) {
  return full(shape, 1.0, dtype, device);
}

Tensor Tensor::full(const Shape& shape, double value, DType dtype, Device device) {
  Tensor t = empty(shape, dtype, device);
  t.fill_(value);
  return t;
}

Tensor Tensor::scalar(double value, DType dtype) { return full({}, value, dtype); }

Tensor Tensor::from_vector(const std::vector<double>& values, const Shape& shape, DType dtype) {
  check(static_cast<int64_t>(values.size()) == ldae::numel(shape), "from_vector",
        std::to_string(values.size()) + " values do not fill shape " + shape_str(shape));
  Tensor t = empty(shape, dtype);
  LDAE_DISPATCH(dtype, T, {
    // Filling a tensor nobody else has seen yet is its creation, not a modification:
    // write through the storage directly, so that it starts at version 0.
    T* p = static_cast<T*>(t.storage()->data());
    for (size_t i = 0; i < values.size(); ++i) p[i] = static_cast<T>(values[i]);
  });
  return t;
}

Tensor Tensor::arange(int64_t n, DType dtype) {
  std::vector<double> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<double>(i);
  return from_vector(v, {n}, dtype);
}

// ---- Metadata --------------------------------------------------------------------------

TensorImpl& Tensor::impl() const {
  if (!impl_) throw Error("Tensor: use of an undefined tensor");
  return *impl_;
}

int64_t Tensor::size(int64_t axis) const { return shape()[normalize_axis(axis, dim(), "size")]; }

bool Tensor::is_contiguous() const {
  int64_t expected = 1;
  for (int64_t i = dim() - 1; i >= 0; --i) {
    if (shape()[i] == 1) continue;  // the stride of a size-1 axis never matters
    if (strides()[i] != expected) return false;
    expected *= shape()[i];
  }
  return true;
}

template <typename T>
const T* Tensor::data() const {
  if (!device().is_cpu())  // not check(): its message would be built on every call of this hot accessor
    fail("data", "tensor of shape " + shape_str(shape()) + " is on " + device().str() +
                     ", whose memory the host cannot read; copy it with to(cpu_device())");
  return device_data<T>();
}
template const float* Tensor::data<float>() const;
template const double* Tensor::data<double>() const;

// The write accessors reuse the read accessors' checks; the const_cast is sound because
// the storage's memory itself is writable (data() only promises not to write).
template <typename T>
T* Tensor::mutable_data() const {
  T* p = const_cast<T*>(data<T>());
  storage()->bump_version();
  return p;
}
template float* Tensor::mutable_data<float>() const;
template double* Tensor::mutable_data<double>() const;

template <typename T>
const T* Tensor::device_data() const {
  if (dtype_of<T>() != dtype())
    fail("data", "requested " + dtype_name(dtype_of<T>()) + " from a " + dtype_name(dtype()) + " tensor");
  return static_cast<const T*>(storage()->data()) + offset();
}
template const float* Tensor::device_data<float>() const;
template const double* Tensor::device_data<double>() const;

template <typename T>
T* Tensor::mutable_device_data() const {
  T* p = const_cast<T*>(device_data<T>());
  storage()->bump_version();
  return p;
}
template float* Tensor::mutable_device_data<float>() const;
template double* Tensor::mutable_device_data<double>() const;

double Tensor::item() const {
  check(numel() == 1, "item", "tensor of shape " + shape_str(shape()) + " has more than one element");
  if (!device().is_cpu()) return detach().to(cpu_device()).item();
  double v = 0;
  LDAE_DISPATCH(dtype(), T, { v = static_cast<double>(*data<T>()); });
  return v;
}

double Tensor::at(const std::vector<int64_t>& index) const {
  check(static_cast<int64_t>(index.size()) == dim(), "at",
        "index has " + std::to_string(index.size()) + " entries for a tensor of shape " +
            shape_str(shape()));
  if (!device().is_cpu()) return detach().to(cpu_device()).at(index);
  int64_t off = 0;
  for (int64_t i = 0; i < dim(); ++i) {
    check(index[i] >= 0 && index[i] < shape()[i], "at",
          "index " + std::to_string(index[i]) + " out of range for axis " + std::to_string(i) +
              " of shape " + shape_str(shape()));
    off += index[i] * strides()[i];
  }
  double v = 0;
  LDAE_DISPATCH(dtype(), T, { v = static_cast<double>(data<T>()[off]); });
  return v;
}

std::vector<double> Tensor::to_vector() const {
  if (!device().is_cpu()) return detach().to(cpu_device()).to_vector();
  std::vector<double> out(numel());
  LDAE_DISPATCH(dtype(), T, {
    copy_elements<double, T>(out.data(), contiguous_strides(shape()), data<T>(), strides(), shape());
  });
  return out;
}

// ---- Views -------------------------------------------------------------------------------

Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset) {
  auto impl = std::make_shared<TensorImpl>();
  impl->storage = base.storage();
  impl->shape = std::move(shape);
  impl->strides = std::move(strides);
  impl->offset = offset;
  impl->dtype = base.dtype();
  return Tensor(impl);
}

namespace {

// Resolves a single -1 in `shape` so that it has `count` elements.
Shape infer_shape(Shape shape, int64_t count, const Shape& from) {
  int64_t known = 1, unknown_axis = -1;
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == -1) {
      check(unknown_axis < 0, "reshape", "only one size may be -1 in " + shape_str(shape));
      unknown_axis = static_cast<int64_t>(i);
    } else {
      check(shape[i] >= 0, "reshape", "invalid size in " + shape_str(shape));
      known *= shape[i];
    }
  }
  if (unknown_axis >= 0) {
    check(known != 0 && count % known == 0, "reshape",
          "cannot reshape " + shape_str(from) + " into " + shape_str(shape));
    shape[unknown_axis] = count / known;
  }
  check(ldae::numel(shape) == count, "reshape",
        "cannot reshape " + shape_str(from) + " (" + std::to_string(count) + " elements) into " +
            shape_str(shape));
  return shape;
}

// Strides that read the same elements in row-major order with `new_shape`, if the old
// layout allows it without a copy (each group of merged old axes must be contiguous
// within itself). Returns false if a copy is needed.
bool view_strides(const Shape& old_shape, const Strides& old_strides, const Shape& new_shape,
                  Strides* out) {
  // Collapse the old tensor into maximal contiguous chunks (size, innermost stride).
  std::vector<std::pair<int64_t, int64_t>> chunks;
  for (size_t i = 0; i < old_shape.size(); ++i) {
    if (old_shape[i] == 1) continue;
    if (!chunks.empty() && chunks.back().second == old_shape[i] * old_strides[i]) {
      chunks.back().first *= old_shape[i];
      chunks.back().second = old_strides[i];
    } else {
      chunks.push_back({old_shape[i], old_strides[i]});
    }
  }
  out->assign(new_shape.size(), 0);
  // Fill new axes from the right, consuming chunks from the right.
  int64_t c = static_cast<int64_t>(chunks.size()) - 1;
  int64_t remaining = c >= 0 ? chunks[c].first : 1;
  int64_t stride = c >= 0 ? chunks[c].second : 1;
  for (int64_t i = static_cast<int64_t>(new_shape.size()) - 1; i >= 0; --i) {
    const int64_t s = new_shape[i];
    if (s == 1) {
      (*out)[i] = stride * remaining;
      continue;
    }
    if (c < 0 || remaining % s != 0) return false;
    (*out)[i] = stride;
    stride *= s;
    remaining /= s;
    if (remaining == 1 && c > 0) {
      --c;
      remaining = chunks[c].first;
      stride = chunks[c].second;
    } else if (remaining == 1) {
      c = -1;
    }
  }
  return true;
}

}  // namespace

Tensor Tensor::reshape(const Shape& new_shape_in) const {
  check_plain_input("reshape", *this);
  const Shape new_shape = infer_shape(new_shape_in, numel(), shape());
  if (numel() == 0) return Tensor::empty(new_shape, dtype(), device());
  Strides new_strides;
  if (view_strides(shape(), strides(), new_shape, &new_strides))
    return make_view(*this, new_shape, new_strides, offset());
  return contiguous().reshape(new_shape);
}

Tensor Tensor::permute(const std::vector<int64_t>& dims) const {
  check_plain_input("permute", *this);
  check(static_cast<int64_t>(dims.size()) == dim(), "permute",
        "got " + std::to_string(dims.size()) + " axes for a tensor of shape " + shape_str(shape()));
  std::vector<bool> seen(dim(), false);
  Shape s(dim());
  Strides st(dim());
  for (int64_t i = 0; i < dim(); ++i) {
    const int64_t d = normalize_axis(dims[i], dim(), "permute");
    check(!seen[d], "permute", "axis " + std::to_string(d) + " repeated");
    seen[d] = true;
    s[i] = shape()[d];
    st[i] = strides()[d];
  }
  return make_view(*this, s, st, offset());
}

Tensor Tensor::transpose(int64_t dim0, int64_t dim1) const {
  check_plain_input("transpose", *this);
  std::vector<int64_t> order(dim());
  for (int64_t i = 0; i < dim(); ++i) order[i] = i;
  std::swap(order[normalize_axis(dim0, dim(), "transpose")],
            order[normalize_axis(dim1, dim(), "transpose")]);
  return permute(order);
}

Tensor Tensor::slice(int64_t axis, int64_t start, int64_t end, int64_t step) const {
  check_plain_input("slice", *this);
  const int64_t a = normalize_axis(axis, dim(), "slice");
  const int64_t n = shape()[a];
  check(step >= 1, "slice", "step must be positive, got " + std::to_string(step));
  if (start < 0) start += n;
  if (end < 0) end += n;
  end = std::min(end, n);
  check(start >= 0 && start <= n && end >= start, "slice",
        "range [" + std::to_string(start) + ", " + std::to_string(end) + ") is invalid for axis " +
            std::to_string(a) + " of shape " + shape_str(shape()));
  Shape s = shape();
  Strides st = strides();
  s[a] = (end - start + step - 1) / step;
  st[a] = strides()[a] * step;
  return make_view(*this, s, st, offset() + start * strides()[a]);
}

Tensor Tensor::expand(const Shape& target) const {
  check_plain_input("expand", *this);
  check(target.size() >= shape().size(), "expand",
        "cannot expand " + shape_str(shape()) + " to fewer dimensions " + shape_str(target));
  const size_t lead = target.size() - shape().size();
  for (size_t i = 0; i < shape().size(); ++i)
    check(shape()[i] == target[lead + i] || shape()[i] == 1, "expand",
          "cannot expand " + shape_str(shape()) + " to " + shape_str(target));
  return make_view(*this, target, broadcast_strides(shape(), strides(), target), offset());
}

Tensor Tensor::unsqueeze(int64_t axis) const {
  check_plain_input("unsqueeze", *this);
  const int64_t a = normalize_axis(axis, dim() + 1, "unsqueeze");
  Shape s = shape();
  Strides st = strides();
  const int64_t stride = a < dim() ? shape()[a] * strides()[a] : 1;
  s.insert(s.begin() + a, 1);
  st.insert(st.begin() + a, stride);
  return make_view(*this, s, st, offset());
}

Tensor Tensor::squeeze(int64_t axis) const {
  check_plain_input("squeeze", *this);
  const int64_t a = normalize_axis(axis, dim(), "squeeze");
  check(shape()[a] == 1, "squeeze",
        "axis " + std::to_string(a) + " of shape " + shape_str(shape()) + " is not of size 1");
  Shape s = shape();
  Strides st = strides();
  s.erase(s.begin() + a);
  st.erase(st.begin() + a);
  return make_view(*this, s, st, offset());
}

Tensor Tensor::detach() const {
  return make_view(*this, shape(), strides(), offset());
}

// ---- Copies ---------------------------------------------------------------------------------

Tensor Tensor::contiguous() const {
  check_plain_input("contiguous", *this);
  return is_contiguous() ? *this : clone();
}

Tensor Tensor::clone() const {
  check_plain_input("clone", *this);
  Tensor out = Tensor::empty(shape(), dtype(), device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(DType new_dtype) const {
  check_plain_input("to", *this);
  if (new_dtype == dtype()) return *this;
  Tensor out = Tensor::empty(shape(), new_dtype, device());
  out.copy_(*this);
  return out;
}

Tensor Tensor::to(Device new_device) const {
  check_plain_input("to", *this);
  if (new_device == device()) return *this;
  Tensor out = Tensor::empty(shape(), dtype(), new_device);  // throws if the device is unusable
  out.copy_(*this);
  return out;
}

// ---- In-place writes --------------------------------------------------------------------------

namespace {

// In-place writes to a tensor that takes part in autograd would corrupt its gradient;
// they are allowed only inside a NoGrad scope (e.g. an optimizer update).
void check_in_place_allowed(const std::string& op, const Tensor& t) {
  if (grad_mode_enabled() && (t.requires_grad() || t.grad_fn() != nullptr))
    fail(op, "in-place write to a tensor that requires grad; do it inside a NoGrad scope");
}

}  // namespace

Tensor& Tensor::fill_(double value) {
  check(defined(), "fill_", "undefined tensor");
  check_in_place_allowed("fill_", *this);
  if (device().is_cuda()) {
#ifdef LDAE_WITH_CUDA
    cuda::fill(*this, value);  // tensor/cuda/copy.cu
#else
    fail("fill_", "CUDA backend is not built into this program");
#endif
    storage()->bump_version();
    return *this;
  }
  LDAE_DISPATCH(dtype(), T, {
    T* p = mutable_data<T>();  // bumps the version
    const T v = static_cast<T>(value);
    cpu::for_each_row<1>(shape(), {strides()},
                         [&](const std::array<int64_t, 1>& off, int64_t n,
                             const std::array<int64_t, 1>& step) {
                           for (int64_t i = 0; i < n; ++i) p[off[0] + i * step[0]] = v;
                         });
  });
  return *this;
}

Tensor& Tensor::copy_(const Tensor& src) {
  check(defined() && src.defined(), "copy_", "undefined tensor");
  check_in_place_allowed("copy_", *this);
  broadcast_shapes(src.shape(), shape(), "copy_");
  check(src.dim() <= dim(), "copy_",
        "cannot copy " + shape_str(src.shape()) + " into " + shape_str(shape()));
  Tensor source = src.detach().expand(shape());
  // Copying from overlapping memory of the same storage would read written values.
  if (source.same_storage(*this) && !(source.strides() == strides() && source.offset() == offset()))
    source = source.clone();
  if (device().is_cuda() || source.device().is_cuda()) {
#ifdef LDAE_WITH_CUDA
    cuda::copy(*this, source);  // within a GPU or between host and GPU: tensor/cuda/copy.cu
#else
    fail("copy_", "CUDA backend is not built into this program");
#endif
    storage()->bump_version();
    return *this;
  }
  LDAE_DISPATCH(dtype(), D, {
    LDAE_DISPATCH(source.dtype(), S, {
      // mutable_data bumps the version.
      copy_elements<D, S>(mutable_data<D>(), strides(), source.data<S>(), source.strides(), shape());
    });
  });
  return *this;
}

// ---- Autograd slots -------------------------------------------------------------------------------

Tensor& Tensor::set_requires_grad(bool requires) {
  check(is_leaf(), "set_requires_grad",
        "only leaf tensors can be marked; this tensor was computed by an op");
  impl().requires_grad = requires;
  return *this;
}

Tensor Tensor::grad() const { return impl().grad ? Tensor(impl().grad) : Tensor(); }

void Tensor::set_grad(const Tensor& g) const {
  if (g.defined())
    check(g.shape() == shape(), "set_grad",
          "gradient shape " + shape_str(g.shape()) + " differs from tensor shape " +
              shape_str(shape()));
  impl().grad = g.impl_ptr();
}

void check_plain_input(const std::string& op, const Tensor& t) {
  check(t.defined(), op, "undefined tensor");
  if (grad_mode_enabled() && (t.requires_grad() || t.grad_fn() != nullptr))
    fail(op, "the input is part of an autograd graph; use ag::" + op +
                 " to record it, or detach() it / compute under a NoGrad scope");
}

// ---- Printing ----------------------------------------------------------------------------------

namespace {

void print_axis(std::ostream& os, const Tensor& t, const std::vector<double>& v, int64_t axis,
                int64_t base, int64_t indent) {
  const int64_t n = t.shape()[axis];
  const int64_t stride = contiguous_strides(t.shape())[axis];
  const bool summarize = t.numel() > 1000 && n > 6;
  os << "[";
  for (int64_t i = 0; i < n; ++i) {
    if (summarize && i == 3) {
      os << "...";
      i = n - 4;
      if (axis == t.dim() - 1) {
        os << ", ";
      } else {
        os << ",\n" << std::string(indent + 1, ' ');
      }
      continue;
    }
    if (axis == t.dim() - 1) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.4f", v[base + i * stride]);
      os << buf;
    } else {
      print_axis(os, t, v, axis + 1, base + i * stride, indent + 1);
    }
    if (i + 1 < n) {
      if (axis == t.dim() - 1)
        os << ", ";
      else
        os << ",\n" << std::string(indent + 1, ' ');
    }
  }
  os << "]";
}

}  // namespace

std::ostream& operator<<(std::ostream& os, const Tensor& t) {
  if (!t.defined()) return os << "tensor(undefined)";
  os << "tensor(";
  {
    const std::vector<double> v = t.detach().to_vector();  // copied to the host if on a GPU
    if (t.dim() == 0) {
      char buf[32];
      std::snprintf(buf, sizeof(buf), "%.4f", v[0]);
      os << buf;
    } else if (t.numel() == 0) {
      os << "[]";
    } else {
      print_axis(os, t, v, 0, 0, 7);
    }
    os << ", ";
  }
  os << dtype_name(t.dtype()) << ", shape=" << shape_str(t.shape());
  if (!t.device().is_cpu()) os << ", device=" << t.device().str();
  if (t.requires_grad()) os << ", requires_grad";
  if (t.grad_fn()) os << ", has grad_fn";
  return os << ")";
}

std::string Tensor::str() const {
  std::ostringstream os;
  os << *this;
  return os.str();
}

}  // namespace ldae
