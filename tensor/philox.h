// Philox 4x32-10 (Salmon et al., "Parallel random numbers: as easy as 1, 2, 3", SC 2011):
// a counter-based generator. The i-th block of four 32-bit numbers is a pure function
// of (key = seed, counter = i), so any element of a random tensor can be computed
// independently, by a CPU loop or a GPU thread, with identical results.
#pragma once
#include <cstdint>

#include "tensor/math.h"

namespace ldae::philox {

struct Block {
  uint32_t v[4];
};

LDAE_HD void mulhilo(uint32_t a, uint32_t b, uint32_t* hi, uint32_t* lo) {
  const uint64_t product = static_cast<uint64_t>(a) * b;
  *hi = static_cast<uint32_t>(product >> 32);
  *lo = static_cast<uint32_t>(product);
}

// Ten rounds of the Philox 4x32 bijection of `counter` under `key`.
LDAE_HD Block philox4x32_10(uint64_t counter_lo, uint64_t counter_hi, uint64_t key) {
  uint32_t c0 = static_cast<uint32_t>(counter_lo), c1 = static_cast<uint32_t>(counter_lo >> 32);
  uint32_t c2 = static_cast<uint32_t>(counter_hi), c3 = static_cast<uint32_t>(counter_hi >> 32);
  uint32_t k0 = static_cast<uint32_t>(key), k1 = static_cast<uint32_t>(key >> 32);
  for (int round = 0; round < 10; ++round) {
    uint32_t hi0, lo0, hi1, lo1;
    mulhilo(0xD2511F53u, c0, &hi0, &lo0);
    mulhilo(0xCD9E8D57u, c2, &hi1, &lo1);
    const uint32_t n0 = hi1 ^ c1 ^ k0, n1 = lo1, n2 = hi0 ^ c3 ^ k1, n3 = lo0;
    c0 = n0; c1 = n1; c2 = n2; c3 = n3;
    k0 += 0x9E3779B9u;  // the Weyl sequence that bumps the key between rounds
    k1 += 0xBB67AE85u;
  }
  return Block{{c0, c1, c2, c3}};
}

// A 32-bit integer to a float in (0, 1]: never 0, so log() is always finite.
LDAE_HD double to_unit_open_zero(uint32_t x) { return (static_cast<double>(x) + 1.0) / 4294967296.0; }

// Element `index` of a random stream (seed, offset): block (offset + index) of Philox,
// so every element uses its own block. Uniform in (0, 1] from lane 0 (53 bits from
// lanes 0 and 1 for double); standard normal by Box-Muller from lanes 0-3.
LDAE_HD double uniform(uint64_t seed, uint64_t offset, uint64_t index, bool as_double) {
  const Block b = philox4x32_10(offset + index, 0, seed);
  if (!as_double) return to_unit_open_zero(b.v[0]);
  const uint64_t bits = (static_cast<uint64_t>(b.v[0]) << 21) ^ (b.v[1] >> 11);  // 53 bits
  return (static_cast<double>(bits) + 1.0) / 9007199254740992.0;
}

LDAE_HD double normal(uint64_t seed, uint64_t offset, uint64_t index) {
  const Block b = philox4x32_10(offset + index, 0, seed);
  const double u1 = (static_cast<double>((static_cast<uint64_t>(b.v[0]) << 21) ^ (b.v[1] >> 11)) + 1.0) /
                    9007199254740992.0;
  const double u2 = (static_cast<double>((static_cast<uint64_t>(b.v[2]) << 21) ^ (b.v[3] >> 11))) /
                    9007199254740992.0;
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586477 * u2);
}

// shift + scale * draw, rounded once (a fused multiply-add): the last step of rand (low +
// (high - low) u) and randn (mean + stddev z). Written as an explicit fma because a plain
// a + b * c may or may not be fused, depending on the compiler and its flags (GCC with
// -march=native fuses it, nvcc fuses it by default), and a different rounding would make
// the CPU and GPU streams differ in the last bit.
LDAE_HD double scale_shift(double draw, double scale, double shift) {
  return std::fma(scale, draw, shift);
}

}  // namespace ldae::philox
