// Storage: one reference-counted block of memory shared by a tensor and all its views.
#pragma once
#include <cstddef>
#include <cstdint>
#include <memory>

#include "tensor/device.h"

namespace ldae {

class Storage {
 public:
  // Allocates `nbytes` (64-byte aligned, uninitialised) on `device`.
  Storage(size_t nbytes, Device device);
  ~Storage();
  Storage(const Storage&) = delete;
  Storage& operator=(const Storage&) = delete;

  void* data() { return data_; }
  const void* data() const { return data_; }
  size_t nbytes() const { return nbytes_; }
  Device device() const { return device_; }

  // Version counter: bumped by every in-place write through any view. Autograd
  // records it when it saves a tensor and refuses to use the tensor if it changed.
  uint64_t version() const { return version_; }
  void bump_version() { ++version_; }

 private:
  void* data_ = nullptr;
  size_t nbytes_ = 0;
  Device device_;
  uint64_t version_ = 0;
};

}  // namespace ldae
