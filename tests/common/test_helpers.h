// Small helpers shared by the test suites.
#pragma once
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "autograd/gradcheck.h"
#include "tensor/random.h"

namespace ldae::testing {

// A float64 leaf with uniform entries in [low, high) that requires grad.
inline Tensor leaf(const Shape& shape, Generator& gen, double low = -1.0, double high = 1.0) {
  Tensor t = rand(shape, gen, DType::F64, low, high);
  t.set_requires_grad(true);
  return t;
}

// EXPECT that `body` throws ldae::Error whose message contains every string in `parts`.
template <typename Body>
void expect_error(Body body, const std::vector<std::string>& parts) {
  try {
    body();
    ADD_FAILURE() << "expected ldae::Error containing \"" << parts[0] << "\"";
  } catch (const Error& e) {
    const std::string msg = e.what();
    for (const std::string& p : parts)
      EXPECT_NE(msg.find(p), std::string::npos) << "message \"" << msg << "\" lacks \"" << p << "\"";
  }
}

// sum(a * b) over two equally long float vectors, in double (e.g. a label-weighted volume).
inline double dot(const std::vector<float>& a, const std::vector<float>& b) {
  double s = 0;
  for (size_t i = 0; i < a.size(); ++i) s += static_cast<double>(a[i]) * b[i];
  return s;
}

#define EXPECT_GRADCHECK(f, inputs)                            \
  do {                                                         \
    const auto r_ = ::ldae::ag::gradcheck((f), (inputs));      \
    EXPECT_TRUE(r_.ok) << r_.message;                          \
  } while (0)

}  // namespace ldae::testing
