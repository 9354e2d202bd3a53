// Element types and the one switch that turns a runtime dtype into a C++ type.
#pragma once
#include <cstddef>
#include <string>

namespace ldae {

// f32 is the training type; f64 exists for gradient checks and reference cases.
enum class DType { F32, F64 };

inline size_t dtype_size(DType d) { return d == DType::F32 ? 4 : 8; }
inline std::string dtype_name(DType d) { return d == DType::F32 ? "f32" : "f64"; }

template <typename T> DType dtype_of();
template <> inline DType dtype_of<float>() { return DType::F32; }
template <> inline DType dtype_of<double>() { return DType::F64; }

}  // namespace ldae

// LDAE_DISPATCH(dtype, scalar_t, body): runs `body` with `scalar_t` bound to float or
// double. Example: LDAE_DISPATCH(x.dtype(), T, { fill<T>(x, 1); });
#define LDAE_DISPATCH(DTYPE, TYPE_NAME, ...)       \
  do {                                             \
    if ((DTYPE) == ::ldae::DType::F32) {           \
      using TYPE_NAME = float;                     \
      __VA_ARGS__;                                 \
    } else {                                       \
      using TYPE_NAME = double;                    \
      __VA_ARGS__;                                 \
    }                                              \
  } while (0)
