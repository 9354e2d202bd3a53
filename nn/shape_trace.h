// Shape traces: print the shape of the tensors a forward pass goes through, to learn how
// a network works (tutorials/programs/shape_trace.cpp).
//
//   {
//     nn::ShapeTrace trace(std::cout);  // while alive, nn::trace() prints on this thread
//     net.forward(x);                   // "encoder.blocks.1  ResBlock  (1, 8, 16, 20, 16)"
//   }
//
// The networks call nn::trace() after the steps worth seeing (each block of the autoencoder,
// each UNet block with its skip, ...). Outside a ShapeTrace scope, trace() only tests one
// thread-local pointer, so the calls cost nothing in training.
#pragma once
#include <cstdint>
#include <ostream>
#include <string>

#include "tensor/tensor.h"

namespace ldae::nn {

class ShapeTrace {
 public:
  // Throws ldae::Error if a trace is already active on this thread.
  explicit ShapeTrace(std::ostream& out);
  ~ShapeTrace();
  ShapeTrace(const ShapeTrace&) = delete;
  ShapeTrace& operator=(const ShapeTrace&) = delete;
};

// True inside a ShapeTrace scope on this thread.
bool tracing();

// Prints "<where>[.<index>]  <what>  <shape>" when tracing (index < 0: no index).
void trace(const char* where, int64_t index, const char* what, const Tensor& t);
inline void trace(const char* where, const char* what, const Tensor& t) { trace(where, -1, what, t); }

}  // namespace ldae::nn
