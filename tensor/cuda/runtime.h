// The CUDA runtime layer of the tensor library, in plain C++ declarations (no CUDA
// headers): whether a GPU is usable, device memory through the caching allocator,
// host <-> device copies. Defined in tensor/cuda/runtime.cu when the program is built
// with the CUDA backend (CMake option LDAE_CUDA, compile definition LDAE_WITH_CUDA);
// without it, tensor/cuda/not_built.cpp defines the first three functions (they report
// "not built") and the rest is never called, because no CUDA tensor can be created.
//
// Every CUDA and cuBLAS call of the backend is checked (LDAE_CUDA_CHECK and
// LDAE_CUBLAS_CHECK in tensor/cuda/common.cuh): a failure throws ldae::Error naming the
// call, the file and line, and CUDA's error string.
#pragma once
#include <cstddef>
#include <string>

#include "tensor/caching_allocator.h"
#include "tensor/device.h"

namespace ldae {

// True when this program has the CUDA backend and at least one usable GPU (a device of
// compute capability 8.0 or newer, reachable through a working driver). Never throws,
// never crashes: without a GPU or a driver it returns false. The answer is computed
// once per process.
bool cuda_available();
// Why cuda_available() is false, in one line (empty when it is true), e.g.
//   "the CUDA backend is not built into this program (configure with -DLDAE_CUDA=ON)"
//   "cudaGetDeviceCount failed: no CUDA-capable device is detected"
std::string cuda_unavailable_reason();
// The number of usable GPUs (0 when cuda_available() is false).
int cuda_device_count();
// The name of usable GPU `index` ("NVIDIA H200"); empty when there is no such GPU.
std::string cuda_device_name(int index);

}  // namespace ldae

namespace ldae::cuda {

// Throws Error("<op>: cannot use cuda:<index>: <reason>") unless cuda:<index> is usable;
// then makes it the calling thread's current device.
void require_device(const std::string& op, int index);

// Device memory of GPU `device` from its caching allocator (see caching_allocator.h).
// allocate(0) returns nullptr; deallocate never throws.
void* allocate(size_t nbytes, int device);
void deallocate(void* p, int device) noexcept;
// The statistics of GPU `device`'s allocator (zeros if it was never used).
AllocatorStats allocator_stats(int device);
// Returns the cached blocks of every GPU to the driver (cudaFree).
void empty_cache();

// Synchronous copies of nbytes between host memory and memory of the current device
// (the caller has called require_device). They wait for the queued kernels first, so
// the data is final.
void copy_host_to_device(void* dst, const void* src, size_t nbytes);
void copy_device_to_host(void* dst, const void* src, size_t nbytes);
// Asynchronous (queued on the stream) copy between two device buffers.
void copy_device_to_device(void* dst, const void* src, size_t nbytes);
// Waits until every queued kernel of the current device has finished; throws on an
// error a kernel reported (for timing and tests).
void synchronize();

// A device scratch buffer from the caching allocator, returned when it goes out of
// scope (no cudaMalloc once the cache is warm). Used for workspaces and small uploads.
class DeviceBuffer {
 public:
  DeviceBuffer(size_t nbytes, int device);
  ~DeviceBuffer();
  DeviceBuffer(const DeviceBuffer&) = delete;
  DeviceBuffer& operator=(const DeviceBuffer&) = delete;
  void* get() const { return data_; }
  template <typename T>
  T* as() const {
    return static_cast<T*>(data_);
  }

 private:
  void* data_ = nullptr;
  int device_ = 0;
};

}  // namespace ldae::cuda
