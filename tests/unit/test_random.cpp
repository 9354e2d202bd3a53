// The Philox generator: known-answer vectors, determinism from (seed, offset), and the
// statistics of uniform and normal tensors.
#include <gtest/gtest.h>

#include <cmath>

#include "tensor/ops.h"
#include "tensor/philox.h"
#include "tensor/random.h"

using namespace ldae;

TEST(Philox, KnownAnswerVectors) {
  // Known-answer tests of the Random123 reference implementation (kat_vectors).
  philox::Block zero = philox::philox4x32_10(0, 0, 0);
  EXPECT_EQ(zero.v[0], 0x6627e8d5u);
  EXPECT_EQ(zero.v[1], 0xe169c58du);
  EXPECT_EQ(zero.v[2], 0xbc57ac4cu);
  EXPECT_EQ(zero.v[3], 0x9b00dbd8u);
  philox::Block ones = philox::philox4x32_10(~0ull, ~0ull, ~0ull);
  EXPECT_EQ(ones.v[0], 0x408f276du);
  EXPECT_EQ(ones.v[1], 0x41c83b0eu);
  EXPECT_EQ(ones.v[2], 0xa20bc7c6u);
  EXPECT_EQ(ones.v[3], 0x6d5451fdu);
  philox::Block pi = philox::philox4x32_10(0x85a308d3243f6a88ull, 0x0370734413198a2eull,
                                            0x299f31d0a4093822ull);
  EXPECT_EQ(pi.v[0], 0xd16cfe09u);
  EXPECT_EQ(pi.v[1], 0x94fdccebu);
  EXPECT_EQ(pi.v[2], 0x5001e420u);
  EXPECT_EQ(pi.v[3], 0x24126ea1u);
}

TEST(Random, SameSeedAndOffsetSameNumbers) {
  Generator g1(42), g2(42);
  EXPECT_EQ(randn({100}, g1).to_vector(), randn({100}, g2).to_vector());
  EXPECT_EQ(g1.offset, 100u);
  // Continuing from a saved (seed, offset) reproduces the rest of the stream.
  Generator resumed(42, g1.offset);
  EXPECT_EQ(rand({7, 3}, g1).to_vector(), rand({7, 3}, resumed).to_vector());
}

TEST(Random, ElementsDoNotDependOnTheTensorSplit) {
  // Drawing 10 then 5 numbers equals drawing 15 at once: each element is its own block.
  Generator a(7), b(7);
  std::vector<double> first = randn({10}, a).to_vector(), second = randn({5}, a).to_vector();
  std::vector<double> all = randn({15}, b).to_vector();
  first.insert(first.end(), second.begin(), second.end());
  EXPECT_EQ(first, all);
}

TEST(Random, DifferentSeedsDiffer) {
  Generator g1(1), g2(2);
  EXPECT_NE(rand({16}, g1).to_vector(), rand({16}, g2).to_vector());
}

TEST(Random, Statistics) {
  Generator g(123);
  const int n = 200000;
  Tensor u = rand({n}, g, DType::F64, -2.0, 6.0);
  EXPECT_NEAR(mean(u).item(), 2.0, 0.03);
  EXPECT_GE(amax(neg(u)).item(), -6.0);  // min >= -2 means max(-u) <= 2
  EXPECT_LE(amax(u).item(), 6.0);
  Tensor z = randn({n}, g, DType::F32, 1.0, 3.0);
  EXPECT_NEAR(mean(z).item(), 1.0, 0.03);
  const double var = mean(pow_scalar(add_scalar(z, -1.0), 2.0)).item();
  EXPECT_NEAR(std::sqrt(var), 3.0, 0.03);
}
