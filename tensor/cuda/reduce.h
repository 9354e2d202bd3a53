// Row reductions on the GPU: the twins of reduce_rows in tensor/reduce.cpp. The caller
// has moved the reduced axes last and made the tensor a contiguous (outer, inner) matrix
// of rows; each function reduces every row to one value. Sums accumulate in double (as on
// the CPU); the order of the additions is fixed, so results repeat exactly from run to run.
#pragma once
#include "tensor/tensor.h"

namespace ldae::cuda {

// rows: (outer, inner) contiguous CUDA tensor; out: outer contiguous elements, same dtype
// and device. out[r] = sum of row r (times 1/inner when average; NaN for an empty mean).
void sum_rows(const Tensor& rows, Tensor& out, bool average);
// out[r] = the largest value of row r, NaN if the row holds a NaN (inner >= 1).
void max_rows(const Tensor& rows, Tensor& out);

}  // namespace ldae::cuda
