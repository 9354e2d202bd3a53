// Where a tensor's storage lives.
#pragma once
#include <string>

namespace ldae {

enum class DeviceType { CPU, CUDA };

struct Device {
  DeviceType type = DeviceType::CPU;
  int index = 0;  // GPU ordinal; 0 for the CPU

  bool is_cpu() const { return type == DeviceType::CPU; }
  bool is_cuda() const { return type == DeviceType::CUDA; }
  bool operator==(const Device& o) const { return type == o.type && index == o.index; }
  bool operator!=(const Device& o) const { return !(*this == o); }
  std::string str() const { return is_cpu() ? "cpu" : "cuda:" + std::to_string(index); }
};

inline Device cpu_device() { return Device{DeviceType::CPU, 0}; }
// GPU number `index`. Tensors on it need the CUDA backend (see tensor/cuda/runtime.h:
// cuda_available() says whether this program and machine have one).
inline Device cuda_device(int index = 0) { return Device{DeviceType::CUDA, index}; }

}  // namespace ldae
