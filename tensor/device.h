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

// "cpu", "cuda" (= cuda:0) or "cuda:N" -> the Device. Throws ldae::Error naming `op` for
// any other text. Says nothing about whether the device can be used (see below).
Device parse_device(const std::string& op, const std::string& text);

// Throws ldae::Error("<op>: cannot use cuda:N: <reason>") unless `device` is the CPU or a
// usable GPU of this program and machine (tensor/cuda/runtime.h). Commands call it before
// any work, so that a missing GPU is refused at once, not after a stage has started.
void require_usable_device(const std::string& op, Device device);

}  // namespace ldae
