// Helpers of the CUDA parity tests (CTest label `cuda`).
//
// Every test that needs a GPU starts with LDAE_REQUIRE_CUDA(): without a usable GPU (or
// in a build without the CUDA backend) it skips with the reason, which CTest reports as
// "Skipped" (SKIP_REGULAR_EXPRESSION in tests/CMakeLists.txt) and GoogleTest prints as
//   [  SKIPPED ] ... no CUDA device: cudaGetDeviceCount failed: ...
#pragma once
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "tensor/cuda/runtime.h"
#include "tensor/tensor.h"

#define LDAE_REQUIRE_CUDA()                                                    \
  do {                                                                         \
    if (!::ldae::cuda_available())                                             \
      GTEST_SKIP() << "no CUDA device: " << ::ldae::cuda_unavailable_reason(); \
  } while (0)

namespace ldae::testing {

// The tolerance of a parity check: element i passes when
//   |gpu - cpu| <= atol + rtol |cpu|,  atol = rtol * max(1, max |cpu|)
// (the scale-aware rule of the reference cases). F64: rtol 1e-9 (only the order of
// additions differs); F32: the case's tolerance (default 2e-4: cuBLAS and the CPU's GEMM
// accumulate long dot products in different orders, and the GPU's expf/erff may differ
// from the host's by an ulp or two).
struct Tolerance {
  double rtol;
};

inline Tolerance tolerance_for(DType dtype, double f32_rtol) {
  return Tolerance{dtype == DType::F64 ? 1e-9 : f32_rtol};
}

// EXPECTs that the GPU tensor matches the CPU tensor (same shape, values within tol).
inline void expect_parity(const Tensor& cpu, const Tensor& gpu, Tolerance tol,
                          const std::string& what) {
  ASSERT_EQ(cpu.shape(), gpu.shape()) << what;
  EXPECT_TRUE(gpu.device().is_cuda()) << what << " was not computed on the GPU";
  const std::vector<double> a = cpu.to_vector(), b = gpu.to_vector();
  double max_ref = 0;
  for (double v : a)
    if (std::isfinite(v)) max_ref = std::max(max_ref, std::fabs(v));
  const double atol = tol.rtol * std::max(1.0, max_ref);
  int reported = 0;
  double worst = 0;
  for (size_t i = 0; i < a.size(); ++i) {
    const bool same_nonfinite =
        !std::isfinite(a[i]) && (std::isnan(a[i]) ? std::isnan(b[i]) : a[i] == b[i]);
    const double err = std::fabs(a[i] - b[i]);
    if (same_nonfinite) continue;
    worst = std::max(worst, err);
    if (!(err <= atol + tol.rtol * std::fabs(a[i])) && reported++ < 5)
      ADD_FAILURE() << what << ": element " << i << " cpu " << a[i] << " gpu " << b[i]
                    << " (|diff| " << err << " > " << atol + tol.rtol * std::fabs(a[i]) << ")";
  }
  if (reported > 5)
    ADD_FAILURE() << what << ": " << reported << " elements differ, worst |diff| " << worst;
}

}  // namespace ldae::testing
