// Elementwise CPU kernels: apply a functor from tensor/math.h to every element.
// Inputs may have any strides (broadcast axes have stride 0); the output is written
// with its own strides. Contiguous rows take a plain loop the compiler vectorises.
#pragma once
#include "tensor/cpu/strided_loop.h"
#include "tensor/tensor.h"

namespace ldae::cpu {

// out[i] = f(a[i]); a already has out's shape (possibly via stride-0 axes).
template <typename T, typename F>
void unary_map(Tensor& out, const Tensor& a, F f) {
  T* po = out.mutable_data<T>();
  const T* pa = a.data<T>();
  for_each_row<2>(
      out.shape(), {out.strides(), a.strides()},
      [&](const std::array<int64_t, 2>& off, int64_t n, const std::array<int64_t, 2>& s) {
        // A local copy of the functor: the stores to o cannot change its parameters
        // (e.g. LeakyRelu's slope), so the compiler hoists them out of the loop and
        // vectorises it (with -fno-trapping-math, CMakeLists.txt); through the
        // captured reference it reloaded them for every element.
        const F f_local = f;
        T* o = po + off[0];
        const T* x = pa + off[1];
        if (s[0] == 1 && s[1] == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = f_local(x[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f_local(x[i * s[1]]);
        }
      });
}

// out[i] = f(a[i], b[i]); a and b already have out's shape (possibly via stride-0 axes).
template <typename T, typename F>
void binary_map(Tensor& out, const Tensor& a, const Tensor& b, F f) {
  T* po = out.mutable_data<T>();
  const T* pa = a.data<T>();
  const T* pb = b.data<T>();
  for_each_row<3>(
      out.shape(), {out.strides(), a.strides(), b.strides()},
      [&](const std::array<int64_t, 3>& off, int64_t n, const std::array<int64_t, 3>& s) {
        const F f_local = f;  // see unary_map
        T* o = po + off[0];
        const T* x = pa + off[1];
        const T* y = pb + off[2];
        if (s[0] == 1 && s[1] == 1 && s[2] == 1) {
          for (int64_t i = 0; i < n; ++i) o[i] = f_local(x[i], y[i]);
        } else if (s[0] == 1 && s[1] == 1 && s[2] == 0) {
          const T c = y[0];
          for (int64_t i = 0; i < n; ++i) o[i] = f_local(x[i], c);
        } else if (s[0] == 1 && s[1] == 0 && s[2] == 1) {
          const T c = x[0];
          for (int64_t i = 0; i < n; ++i) o[i] = f_local(c, y[i]);
        } else {
          for (int64_t i = 0; i < n; ++i) o[i * s[0]] = f_local(x[i * s[1]], y[i * s[2]]);
        }
      });
}

}  // namespace ldae::cpu
