// The CUDA runtime layer (contracts in tensor/cuda/runtime.h and common.cuh): device
// discovery, error checking, the per-device caching allocators and cuBLAS handles, copies.
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "tensor/cuda/common.cuh"

namespace ldae::cuda {

// ---- Error checking ---------------------------------------------------------------------

void check_cuda(cudaError_t status, const char* call, const char* file, int line) {
  if (status == cudaSuccess) return;
  throw Error(std::string("CUDA error: ") + call + " failed at " + file + ":" +
              std::to_string(line) + ": " + cudaGetErrorString(status) + " (" +
              cudaGetErrorName(status) + ")");
}

void check_cublas(cublasStatus_t status, const char* call, const char* file, int line) {
  if (status == CUBLAS_STATUS_SUCCESS) return;
  throw Error(std::string("cuBLAS error: ") + call + " failed at " + file + ":" +
              std::to_string(line) + ": " + cublasGetStatusString(status) + " (" +
              cublasGetStatusName(status) + ")");
}

namespace {

// ---- Discovery: once per process ----------------------------------------------------------

struct Discovery {
  int usable_devices = 0;
  std::string reason;  // empty when usable_devices > 0
};

// The minimum compute capability: the code is compiled for sm_80 and sm_90 (+ PTX,
// which newer GPUs compile at load time); older GPUs cannot run it.
constexpr int kMinMajor = 8;

const Discovery& discovery() {
  static const Discovery d = [] {
    Discovery r;
    int count = 0;
    const cudaError_t status = cudaGetDeviceCount(&count);
    if (status != cudaSuccess) {
      r.reason = std::string("cudaGetDeviceCount failed: ") + cudaGetErrorString(status) + " (" +
                 cudaGetErrorName(status) + ")";
      cudaGetLastError();  // clear the sticky error state of the runtime API
      return r;
    }
    if (count == 0) {
      r.reason = "no CUDA device found (cudaGetDeviceCount returned 0)";
      return r;
    }
    // Devices are usable from index 0 up to the first too-old one.
    for (int i = 0; i < count; ++i) {
      cudaDeviceProp prop{};
      if (cudaGetDeviceProperties(&prop, i) != cudaSuccess) break;
      if (prop.major < kMinMajor) {
        if (i == 0)
          r.reason = "cuda:0 (" + std::string(prop.name) + ") has compute capability " +
                     std::to_string(prop.major) + "." + std::to_string(prop.minor) +
                     "; this build needs 8.0 or newer";
        break;
      }
      ++r.usable_devices;
    }
    return r;
  }();
  return d;
}

// ---- Per-device state ----------------------------------------------------------------------

// The allocator and cuBLAS handle of one device. Created on first use and deliberately
// never destroyed: at process exit the CUDA runtime may already be shut down, and the
// driver frees everything anyway.
struct DeviceState {
  CachingAllocator* allocator = nullptr;
  cublasHandle_t cublas = nullptr;
};

std::mutex& state_mutex() {
  static std::mutex m;
  return m;
}

constexpr int kMaxDevices = 64;

// A fixed array, so that references to an entry stay valid.
DeviceState* states() {
  static DeviceState* s = new DeviceState[kMaxDevices]();
  return s;
}

DeviceState& state(int device) {
  check(device >= 0 && device < kMaxDevices, "cuda",
        "device index " + std::to_string(device) + " is out of range");
  std::lock_guard<std::mutex> lock(state_mutex());
  DeviceState& d = states()[device];
  if (d.allocator == nullptr) {
    d.allocator = new CachingAllocator(
        "CUDA allocator",
        [device](size_t n) -> void* {
          void* p = nullptr;
          int previous = 0;
          cudaGetDevice(&previous);
          cudaSetDevice(device);
          const cudaError_t status = cudaMalloc(&p, n);
          cudaSetDevice(previous);
          if (status == cudaErrorMemoryAllocation) {
            cudaGetLastError();  // not sticky, but clear it: the allocator retries
            return nullptr;
          }
          check_cuda(status, "cudaMalloc(&p, n)", __FILE__, __LINE__);
          return p;
        },
        [device](void* p) {
          int previous = 0;
          cudaGetDevice(&previous);
          cudaSetDevice(device);
          cudaFree(p);  // errors at shutdown are of no use to anyone: ignored
          cudaSetDevice(previous);
        });
  }
  return d;
}

}  // namespace

// ---- Devices ---------------------------------------------------------------------------------

void require_device(const std::string& op, int index) {
  const Discovery& d = discovery();
  if (d.usable_devices == 0)
    fail(op, "cannot use CUDA device cuda:" + std::to_string(index) + ": " + d.reason);
  if (index < 0 || index >= d.usable_devices)
    fail(op, "cannot use CUDA device cuda:" + std::to_string(index) + ": this machine has " +
                 std::to_string(d.usable_devices) + " usable CUDA device(s)");
  // The current device is per host thread; set it only when it changes.
  thread_local int current = -1;
  if (current != index) {
    LDAE_CUDA_CHECK(cudaSetDevice(index));
    current = index;
  }
}

cublasHandle_t cublas_handle() {
  int device = 0;
  LDAE_CUDA_CHECK(cudaGetDevice(&device));
  DeviceState& d = state(device);
  std::lock_guard<std::mutex> lock(state_mutex());
  if (d.cublas == nullptr) {
    LDAE_CUBLAS_CHECK(cublasCreate(&d.cublas));
    // Full FP32 products by default (the CPU's numbers). LDAE_CUDA_TF32=1 allows the
    // tensor cores' TF32 mode: about 8x the FP32 peak, with a 10-bit mantissa per input.
    const char* tf32 = std::getenv("LDAE_CUDA_TF32");
    if (tf32 != nullptr && std::string(tf32) == "1")
      LDAE_CUBLAS_CHECK(cublasSetMathMode(d.cublas, CUBLAS_TF32_TENSOR_OP_MATH));
  }
  return d.cublas;
}

// ---- Memory ----------------------------------------------------------------------------------

void* allocate(size_t nbytes, int device) {
  return state(device).allocator->allocate(nbytes);
}

void deallocate(void* p, int device) noexcept {
  if (p == nullptr || device < 0 || device >= kMaxDevices) return;
  CachingAllocator* a = states()[device].allocator;
  if (a) a->deallocate(p);
}

AllocatorStats allocator_stats(int device) {
  if (device < 0 || device >= kMaxDevices || !states()[device].allocator) return AllocatorStats{};
  return states()[device].allocator->stats();
}

void empty_cache() {
  for (int i = 0; i < kMaxDevices; ++i)
    if (states()[i].allocator) states()[i].allocator->empty_cache();
}

DeviceBuffer::DeviceBuffer(size_t nbytes, int device) : device_(device) {
  data_ = allocate(nbytes, device);
}

DeviceBuffer::~DeviceBuffer() {
  deallocate(data_, device_);
}

// ---- Copies ----------------------------------------------------------------------------------

void copy_host_to_device(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  LDAE_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyHostToDevice));
}

void copy_device_to_host(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  LDAE_CUDA_CHECK(cudaMemcpy(dst, src, nbytes, cudaMemcpyDeviceToHost));
}

void copy_device_to_device(void* dst, const void* src, size_t nbytes) {
  if (nbytes == 0) return;
  LDAE_CUDA_CHECK(cudaMemcpyAsync(dst, src, nbytes, cudaMemcpyDeviceToDevice, 0));
}

void synchronize() {
  LDAE_CUDA_CHECK(cudaDeviceSynchronize());
}

}  // namespace ldae::cuda

namespace ldae {

bool cuda_available() {
  return cuda::discovery().usable_devices > 0;
}

std::string cuda_unavailable_reason() {
  return cuda::discovery().reason;
}

int cuda_device_count() {
  return cuda::discovery().usable_devices;
}

std::string cuda_device_name(int index) {
  if (index < 0 || index >= cuda_device_count()) return "";
  cudaDeviceProp prop{};
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) return "";
  return prop.name;
}

}  // namespace ldae
