// e^x and the normal distribution's CDF for float, written so that the compiler vectorises the
// loops that call them.
//
// glibc's expf and erff are library calls per element: a loop over a tensor that calls them
// stays scalar (about 20 cycles per element), which made SiLU, GELU and their gradients a tenth
// of the demo's training time. These are plain arithmetic, no call and no branch, so an
// elementwise loop (tensor/cpu/map.h) runs 8 (AVX2) or 16 (AVX-512) lanes at a time. float only:
// double keeps std::exp and std::erf (the gradient checks run in float64).
// tests/unit/test_vector_math.cpp checks both contracts on dense grids.
//
// exp_float, by Cody and Waite's range reduction and a polynomial:
//   x = n ln2 + r, n = round(x / ln2), |r| <= ln2 / 2,
//   e^x = 2^n e^r, e^r = sum_{k <= 7} r^k / k! (Taylor; the remainder is below 0.05 ulp),
//   2^n is built from its bits (exponent field n + 127).
// ln2 is split as ln2_hi + ln2_lo, with ln2_hi short enough (9 significant bits) that n * ln2_hi
// is exact, so r loses no precision in the subtraction.
// Contract: within 2 ulp of the exact e^x for every finite float x whose e^x is a normal float
// (x in [-87.33, 88.72]); +inf above that range, 0 below it (where e^x would be subnormal:
// < 1.2e-38); NaN for NaN; e^0 = 1 exactly.
//
// normal_cdf_float, Phi(x) = (1 + erf(x / sqrt 2)) / 2, the GELU's gate:
//   Q(|x|) = erfc(|x| / sqrt 2) / 2 = t P(t) e^{-x^2/2} / 2,  t = 1 / (1 + |x| / 4),
//   Phi(x) = 1 - Q(|x|) for x >= 0 and Q(|x|) for x < 0,
// P a degree-8 polynomial fitted here (numpy, iteratively reweighted least squares for the
// relative error of erfc(|x|/sqrt 2) e^{x^2/2} / t on 0 <= x <= 13.4; 7e-8 with float
// coefficients). Computing the small tail Q directly (not as 1 - something) keeps Phi accurate
// relative to its value for negative x, where 1 + erf(x / sqrt 2) would cancel. x^2 is split into
// its float value and rounding error (one FMA) so that e^{-x^2/2} keeps its accuracy for large x.
// Contract: within 1e-6 relative (about 8 ulp) of the exact Phi(x) wherever Phi(x) >= 1e-37
// (x >= -12.9); 0 below that; NaN for NaN.
#pragma once

#include <cstdint>
#include <cmath>
#include <cstring>
#include <limits>

namespace ldae::cpu {

// (always_inline: a call, which GCC chose in some loops, would keep the loop scalar.)
#define LDAE_VECTOR_MATH_INLINE inline __attribute__((always_inline))

LDAE_VECTOR_MATH_INLINE float exp_float(float x) {
  constexpr float kMaxArg = 88.72283f;     // just below ln(FLT_MAX): e^x overflows above
  constexpr float kMinArg = -87.33654f;    // ln(FLT_MIN): e^x is subnormal below
  constexpr float kLog2e = 1.44269504f;    // 1 / ln 2
  constexpr float kLn2Hi = 0.693359375f;   // 355 / 512, exact in 9 bits
  constexpr float kLn2Lo = -2.12194440e-4f;  // ln 2 - kLn2Hi
  constexpr float kRound = 12582912.0f;    // 1.5 * 2^23: adding it rounds to an integer
  constexpr uint32_t kRoundBits = 0x4B400000;  // the bits of kRound

  const float xc = x < kMinArg ? kMinArg : (x > kMaxArg ? kMaxArg : x);  // NaN passes through
  // n = round(xc / ln2), in t's low mantissa bits and as a float.
  const float t = xc * kLog2e + kRound;
  const float n = t - kRound;
  float r = xc - n * kLn2Hi;  // exact
  r = r - n * kLn2Lo;
  // e^r by Horner: 1 + r (1 + r/2 (1 + r/3 (... (1 + r/7)))).
  float p = 1.0f / 5040.0f;
  p = p * r + 1.0f / 720.0f;
  p = p * r + 1.0f / 120.0f;
  p = p * r + 1.0f / 24.0f;
  p = p * r + 1.0f / 6.0f;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  // 2^n from its bits: n = bits(t) - bits(kRound), in [-126, 128] after the clamp. (Unsigned
  // arithmetic: a NaN's bits give a meaningless n, but no overflow; the NaN carries through p.)
  uint32_t t_bits;
  std::memcpy(&t_bits, &t, sizeof t_bits);
  const int32_t n_int = static_cast<int32_t>(t_bits - kRoundBits);
  // 2^n as two factors (each a normal float) so that n = 128 (x near kMaxArg) does not leave
  // the exponent range before the product with p < 1.
  const int32_t half = n_int / 2;
  const uint32_t bits_a = static_cast<uint32_t>(half + 127) << 23;
  const uint32_t bits_b = static_cast<uint32_t>(n_int - half + 127) << 23;
  float scale_a, scale_b;
  std::memcpy(&scale_a, &bits_a, sizeof scale_a);
  std::memcpy(&scale_b, &bits_b, sizeof scale_b);
  float y = p * scale_a * scale_b;
  y = x > kMaxArg ? std::numeric_limits<float>::infinity() : y;
  y = x < kMinArg ? 0.0f : y;
  return y;
}

// e^{-x^2/2}, the normal density times sqrt(2 pi): e^{-s/2} e^{-err/2} ~ e^{-s/2} (1 - err/2)
// with s = fl(x^2) and err = x^2 - s exactly (one FMA), so that the rounding of x^2 (relative
// 6e-8, times x^2 / 2 in the result) does not cost accuracy for large |x|. 0 for |x| > 13.2.
LDAE_VECTOR_MATH_INLINE float gauss_float(float x) {
  const float xc = std::fabs(x) > 14.0f ? 14.0f : x;  // keeps x^2 finite; NaN passes through
  const float s = xc * xc;
  const float err = std::fma(xc, xc, -s);
  return exp_float(-0.5f * s) * (1.0f - 0.5f * err);
}

// Phi(x), the standard normal CDF (see the top of the file), given gauss = gauss_float(x) (so
// that the GELU's gradient, which needs both, computes e^{-x^2/2} once).
LDAE_VECTOR_MATH_INLINE float normal_cdf_from_gauss(float x, float gauss) {
  constexpr float kQ = 0.25f;  // t = 1 / (1 + kQ |x|)
  const float t = 1.0f / (1.0f + kQ * std::fabs(x));
  // P(t), highest degree first (Horner).
  float p = 5.282691494e-02f;
  p = p * t - 3.124445081e-01f;
  p = p * t + 6.066317558e-01f;
  p = p * t - 4.284118712e-01f;
  p = p * t + 4.154727161e-01f;
  p = p * t + 6.059885025e-02f;
  p = p * t + 2.088890523e-01f;
  p = p * t + 1.968294531e-01f;
  p = p * t + 1.996075660e-01f;
  const float tail = 0.5f * t * p * gauss;  // Q(|x|) = Phi(-|x|)
  return x >= 0.0f ? 1.0f - tail : tail;
}

// Phi(x).
LDAE_VECTOR_MATH_INLINE float normal_cdf_float(float x) { return normal_cdf_from_gauss(x, gauss_float(x)); }

}  // namespace ldae::cpu

#undef LDAE_VECTOR_MATH_INLINE
