// Per-element math shared by the CPU kernels and the CUDA kernels: each op is a small
// functor whose operator() is marked LDAE_HD (__host__ __device__ under nvcc), so the
// CPU tests exercise exactly the formulas the GPU runs. One exception, for speed: the CPU's
// float sigmoid (and so SiLU) and erf GELU call exp_float and normal_cdf_float
// (tensor/cpu/vector_math.h) instead of std::exp and std::erf.
#pragma once
#include <cmath>
#include <type_traits>

#if !defined(__CUDA_ARCH__)
#include "tensor/cpu/vector_math.h"
#endif

#if defined(__CUDACC__)
#define LDAE_HD __host__ __device__ __forceinline__
#else
// always_inline: the CPU loops (tensor/cpu/map.h) vectorise only when the functor is inlined,
// and GCC declined to inline the larger ones (GeluErfGrad) into binary_map's loops.
#define LDAE_HD inline __attribute__((always_inline))
#endif

namespace ldae::math {

// ---- Binary ----
struct Add { template <typename T> LDAE_HD T operator()(T a, T b) const { return a + b; } };
struct Sub { template <typename T> LDAE_HD T operator()(T a, T b) const { return a - b; } };
struct Mul { template <typename T> LDAE_HD T operator()(T a, T b) const { return a * b; } };
struct Div { template <typename T> LDAE_HD T operator()(T a, T b) const { return a / b; } };
struct Maximum {
  template <typename T> LDAE_HD T operator()(T a, T b) const { return a > b ? a : b; }
};
struct AddScaled {  // a + alpha * b
  double alpha;
  template <typename T> LDAE_HD T operator()(T a, T b) const { return a + T(alpha) * b; }
};

// ---- Unary ----
struct AddScalar {
  double s;
  template <typename T> LDAE_HD T operator()(T x) const { return x + T(s); }
};
struct MulScalar {
  double s;
  template <typename T> LDAE_HD T operator()(T x) const { return x * T(s); }
};
struct PowScalar {
  double e;
  template <typename T> LDAE_HD T operator()(T x) const {
    if (e == 2.0) return x * x;  // exact and fast for the common square
    return std::pow(x, T(e));
  }
};
struct Clamp {
  double lo, hi;
  template <typename T> LDAE_HD T operator()(T x) const {
    return x < T(lo) ? T(lo) : (x > T(hi) ? T(hi) : x);
  }
};
struct Neg { template <typename T> LDAE_HD T operator()(T x) const { return -x; } };
struct Exp { template <typename T> LDAE_HD T operator()(T x) const { return std::exp(x); } };
struct Log { template <typename T> LDAE_HD T operator()(T x) const { return std::log(x); } };
struct Sqrt { template <typename T> LDAE_HD T operator()(T x) const { return std::sqrt(x); } };
struct Abs { template <typename T> LDAE_HD T operator()(T x) const { return std::fabs(x); } };
struct Sign {
  template <typename T> LDAE_HD T operator()(T x) const { return T((x > T(0)) - (x < T(0))); }
};
struct Tanh { template <typename T> LDAE_HD T operator()(T x) const { return std::tanh(x); } };
struct Sigmoid {
  template <typename T> LDAE_HD T operator()(T x) const {
#if !defined(__CUDA_ARCH__)
    // float on the CPU: one branch-free formula that the compiler vectorises (exp_float,
    // tensor/cpu/vector_math.h, within 2 ulp). For x < -88.7, e^-x is +inf and 1 / (1 + inf) = 0.
    if constexpr (std::is_same_v<T, float>) return 1.0f / (1.0f + cpu::exp_float(-x));
#endif
    // Written so that neither branch overflows: exp of a non-positive number only.
    if (x >= T(0)) return T(1) / (T(1) + std::exp(-x));
    const T e = std::exp(x);
    return e / (T(1) + e);
  }
};
struct Relu { template <typename T> LDAE_HD T operator()(T x) const { return x > T(0) ? x : T(0); } };
struct LeakyRelu {
  double slope;
  template <typename T> LDAE_HD T operator()(T x) const { return x > T(0) ? x : T(slope) * x; }
};
struct Silu {  // x * sigmoid(x)
  template <typename T> LDAE_HD T operator()(T x) const { return x * Sigmoid{}(x); }
};
struct GeluErf {  // 0.5 x (1 + erf(x / sqrt 2))
  template <typename T> LDAE_HD T operator()(T x) const {
#if !defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, float>) return x * cpu::normal_cdf_float(x);  // vectorised
#endif
    return T(0.5) * x * (T(1) + std::erf(x * T(0.70710678118654752440)));
  }
};
struct GeluTanh {  // 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))
  template <typename T> LDAE_HD T operator()(T x) const {
    const T u = T(0.79788456080286535588) * (x + T(0.044715) * x * x * x);
    return T(0.5) * x * (T(1) + std::tanh(u));
  }
};

// 0 for +-inf, x otherwise: logsumexp's shift, so that an all -inf row gives -inf, not NaN.
struct ZeroIfInf {
  template <typename T> LDAE_HD T operator()(T x) const {
    return (x == x && x - x != x - x) ? T(0) : x;  // x - x is NaN only for +-inf (and NaN)
  }
};

// ---- Derivatives: (saved value, upstream gradient g) -> input gradient ----
struct TanhGrad {  // from y = tanh(x): g (1 - y^2)
  template <typename T> LDAE_HD T operator()(T y, T g) const { return g * (T(1) - y * y); }
};
struct SigmoidGrad {  // from y = sigmoid(x): g y (1 - y)
  template <typename T> LDAE_HD T operator()(T y, T g) const { return g * y * (T(1) - y); }
};
struct ReluGrad {  // from x
  template <typename T> LDAE_HD T operator()(T x, T g) const { return x > T(0) ? g : T(0); }
};
struct LeakyReluGrad {
  double slope;
  template <typename T> LDAE_HD T operator()(T x, T g) const { return x > T(0) ? g : T(slope) * g; }
};
struct SiluGrad {  // d/dx x s(x) = s (1 + x (1 - s))
  template <typename T> LDAE_HD T operator()(T x, T g) const {
    const T s = Sigmoid{}(x);
    return g * s * (T(1) + x * (T(1) - s));
  }
};
struct GeluErfGrad {  // Phi(x) + x phi(x)
  template <typename T> LDAE_HD T operator()(T x, T g) const {
#if !defined(__CUDA_ARCH__)
    if constexpr (std::is_same_v<T, float>) {  // vectorised; 0.398942... = 1 / sqrt(2 pi)
      const float gauss = cpu::gauss_float(x);  // e^{-x^2/2}, shared by Phi and phi
      return g * (cpu::normal_cdf_from_gauss(x, gauss) + x * 0.39894228040143267794f * gauss);
    }
#endif
    const T cdf = T(0.5) * (T(1) + std::erf(x * T(0.70710678118654752440)));
    const T pdf = T(0.39894228040143267794) * std::exp(T(-0.5) * x * x);
    return g * (cdf + x * pdf);
  }
};
struct GeluTanhGrad {
  template <typename T> LDAE_HD T operator()(T x, T g) const {
    const T k = T(0.79788456080286535588);
    const T u = k * (x + T(0.044715) * x * x * x);
    const T t = std::tanh(u);
    const T du = k * (T(1) + T(3) * T(0.044715) * x * x);
    return g * (T(0.5) * (T(1) + t) + T(0.5) * x * (T(1) - t * t) * du);
  }
};

// ---- Losses, per element ----
struct SquaredDiff {
  template <typename T> LDAE_HD T operator()(T a, T b) const { return (a - b) * (a - b); }
};
struct AbsDiff {
  template <typename T> LDAE_HD T operator()(T a, T b) const { return std::fabs(a - b); }
};
struct BceWithLogits {  // max(x, 0) - x t + log(1 + exp(-|x|)), stable for any x
  template <typename T> LDAE_HD T operator()(T x, T t) const {
    return (x > T(0) ? x : T(0)) - x * t + std::log1p(std::exp(-std::fabs(x)));
  }
};

}  // namespace ldae::math
