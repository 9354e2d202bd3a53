// Softmax, log-softmax and their backward passes on the GPU: the twins of the row
// functions of tensor/softmax.cpp, on the same contiguous (count, len) rows (the softmax
// axis moved last), with the same arithmetic (row max in T, sums in double).
#pragma once
#include <string>

#include "tensor/tensor.h"

namespace ldae::cuda {

// op: "softmax", "log_softmax" (in0 = x), "softmax_backward", "log_softmax_backward"
// (in0 = y, the forward's output; in1 = g, the upstream gradient). in0, in1 and out are
// contiguous CUDA tensors of count * len elements. One block per row.
void softmax_rows(const std::string& op, const Tensor& in0, const Tensor& in1, Tensor& out,
                  int64_t count, int64_t len);

}  // namespace ldae::cuda
