// Includes Eigen's dense core. GCC 12 reports false "may be used uninitialized"
// warnings inside Eigen's AVX-512 GEMM packing code (a known compiler issue, not a
// bug in Eigen or here); the files that include this header build with
// -Wno-maybe-uninitialized (see tensor/CMakeLists.txt), everything else keeps the
// warning.
#pragma once
#include <Eigen/Core>
