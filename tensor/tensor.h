// Tensor: a handle to shared storage seen through a shape, element strides and an
// offset. Copying a Tensor copies the handle (both copies are the same tensor);
// views (reshape, permute, transpose, slice, expand, ...) are new tensors sharing
// the storage; clone()/contiguous() copy the data.
//
// The ops of this header and of tensor/ops.h compute values only. To record an
// autograd graph, use the ag:: functions of autograd/. A plain op given a tensor
// that requires grad throws (outside a NoGrad scope), so gradients are never lost
// silently.
#pragma once
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <ostream>
#include <string>
#include <vector>

#include "tensor/device.h"
#include "tensor/dtype.h"
#include "tensor/error.h"
#include "tensor/shape.h"
#include "tensor/storage.h"

namespace ldae {

struct Node;  // an autograd graph node; defined in autograd/node.h
class Tensor;

// The state behind a Tensor handle. Students can ignore the autograd fields: the
// tensor layer only stores them, autograd/ reads and writes them.
struct TensorImpl {
  std::shared_ptr<Storage> storage;
  Shape shape;
  Strides strides;
  int64_t offset = 0;  // in elements
  DType dtype = DType::F32;

  bool requires_grad = false;
  std::shared_ptr<TensorImpl> grad;  // accumulated gradient of a leaf
  std::shared_ptr<Node> grad_fn;     // the node that produced this tensor (null: leaf)
};

class Tensor {
 public:
  Tensor() = default;  // an undefined tensor (defined() == false)
  explicit Tensor(std::shared_ptr<TensorImpl> impl) : impl_(std::move(impl)) {}

  // ---- Factories ---------------------------------------------------------------
  static Tensor empty(const Shape& shape, DType dtype = DType::F32, Device device = cpu_device());
  static Tensor zeros(const Shape& shape, DType dtype = DType::F32, Device device = cpu_device());
  static Tensor ones(const Shape& shape, DType dtype = DType::F32, Device device = cpu_device());
  static Tensor full(const Shape& shape, double value, DType dtype = DType::F32,
                     Device device = cpu_device());
  // A 0-d tensor holding `value`.
  static Tensor scalar(double value, DType dtype = DType::F32);
  // Copies `values` (size must equal numel(shape)) into a new contiguous tensor.
  static Tensor from_vector(const std::vector<double>& values, const Shape& shape,
                            DType dtype = DType::F32);
  // 0, 1, ..., n-1.
  static Tensor arange(int64_t n, DType dtype = DType::F32);

  // ---- Metadata ----------------------------------------------------------------
  bool defined() const { return impl_ != nullptr; }
  const Shape& shape() const { return impl().shape; }
  const Strides& strides() const { return impl().strides; }
  int64_t offset() const { return impl().offset; }
  int64_t dim() const { return static_cast<int64_t>(impl().shape.size()); }
  int64_t size(int64_t axis) const;  // negative axes count from the end
  int64_t numel() const { return ldae::numel(impl().shape); }
  DType dtype() const { return impl().dtype; }
  Device device() const { return impl().storage->device(); }
  bool is_contiguous() const;
  std::string str() const;  // readable contents, see operator<<
  const std::shared_ptr<TensorImpl>& impl_ptr() const { return impl_; }
  TensorImpl& impl() const;
  const std::shared_ptr<Storage>& storage() const { return impl().storage; }
  bool same_storage(const Tensor& other) const { return storage() == other.storage(); }

  // ---- Element access ------------------------------------------------------------
  // Reading and writing are separate accessors, so that every write through a raw
  // pointer is seen by autograd. Autograd saves some tensors for the backward pass
  // together with their storage version (autograd/node.h, SavedTensor); a write made
  // through mutable_data() bumps that version, so the backward pass throws instead of
  // using the changed values. data() gives a `const T*`: writing through it does not
  // compile. The write accessors are `const` members on purpose: a Tensor is a handle
  // (copies share the data), so a non-const member would protect nothing (any copy of
  // a `const Tensor&` is non-const); the version bump is what catches the write. Its
  // cost is one integer increment per call, nothing next to the loop that follows.
  // Call mutable_data() once, before writing, and keep the pointer: a kernel filling a
  // fresh output bumps a version that nobody has recorded yet, which is harmless.
  // (Storage::data() is the unchecked raw memory underneath, for allocators and I/O on
  // storage that is not shared yet; code writing through it calls bump_version() itself.)
  //
  // Read-only pointer to element 0 (storage + offset) of a CPU tensor. T must match
  // dtype(); a CUDA tensor throws (its memory cannot be read by the host: use
  // to(cpu_device())).
  template <typename T> const T* data() const;
  // Writable pointer to element 0 of a CPU tensor, as data(); bumps the storage version.
  template <typename T> T* mutable_data() const;
  // Read-only pointer to element 0 in the memory of the tensor's device: a GPU address
  // for a CUDA tensor, only for passing to kernels of that device. T must match dtype().
  template <typename T> const T* device_data() const;
  // Writable pointer in the device's memory, as device_data(); bumps the storage version.
  template <typename T> T* mutable_device_data() const;
  // The value of a one-element tensor, converted to double (copied from the GPU if needed).
  double item() const;
  // The value at a multi-index (for tests and debugging, not for loops).
  double at(const std::vector<int64_t>& index) const;
  // All elements in row-major order, converted to double (copied from the GPU if needed).
  std::vector<double> to_vector() const;

  // ---- Views: share storage, no copy ---------------------------------------------
  // A view when the strides allow it, else a contiguous copy. One size may be -1.
  Tensor reshape(const Shape& shape) const;
  Tensor permute(const std::vector<int64_t>& dims) const;
  Tensor transpose(int64_t dim0, int64_t dim1) const;
  // Elements start, start+step, ... < end along `axis` (end clamped to the size).
  Tensor slice(int64_t axis, int64_t start, int64_t end, int64_t step = 1) const;
  // Repeats size-1 axes (stride 0) to `shape`; new leading axes are allowed.
  Tensor expand(const Shape& shape) const;
  Tensor unsqueeze(int64_t axis) const;
  Tensor squeeze(int64_t axis) const;
  // The same data without autograd history (shares storage and version counter).
  Tensor detach() const;

  // ---- Copies ----------------------------------------------------------------------
  Tensor contiguous() const;  // itself if already contiguous, else a copy
  Tensor clone() const;       // always a new contiguous copy
  Tensor to(DType dtype) const;
  // The same values on `device` (itself if already there; a new contiguous tensor else).
  Tensor to(Device device) const;

  // ---- In-place writes (bump the storage version, like mutable_data) -----------------
  Tensor& fill_(double value);
  Tensor& zero_() { return fill_(0.0); }
  // Copies `src` (broadcast to this shape, any dtype) into this tensor.
  Tensor& copy_(const Tensor& src);

  // ---- Autograd slots (used through autograd/) ---------------------------------------
  bool requires_grad() const { return impl().requires_grad; }
  // Marks a leaf tensor as a parameter whose gradient backward() accumulates.
  Tensor& set_requires_grad(bool requires = true);
  Tensor grad() const;  // undefined until a backward pass reached it
  void set_grad(const Tensor& grad) const;
  const std::shared_ptr<Node>& grad_fn() const { return impl().grad_fn; }
  bool is_leaf() const { return impl().grad_fn == nullptr; }

 private:
  std::shared_ptr<TensorImpl> impl_;
};

// Prints like: tensor([[0.1000, 2.0000], [3.0000, 4.0000]], f32, shape=(2, 2)).
// Large tensors show the first and last 3 entries of each axis.
std::ostream& operator<<(std::ostream& os, const Tensor& t);

// A view with explicit geometry (no checks beyond bounds of the storage).
Tensor make_view(const Tensor& base, Shape shape, Strides strides, int64_t offset);

// Throws Error("<op>: ...") unless the tensor is defined; also refuses a tensor that
// requires grad while grad mode is on (use the ag:: op instead).
void check_plain_input(const std::string& op, const Tensor& t);

}  // namespace ldae
