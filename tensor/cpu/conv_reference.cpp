// Reference CPU convolution as plain nested loops. See conv_reference.h for the contracts and
// tensor/cpu/conv.h for the geometry. Read this file to learn what a convolution computes; read
// conv.cpp and the files it lists to learn how to compute it fast.
//
// The definition. Per axis a in (D, H, W), output index o reads input index
//   i = o * stride[a] - padding[a] + k * dilation[a]          for kernel tap k,
// and an index outside [0, in[a]) reads a zero (the padding). Output channel co belongs to group
//   grp = co / Cout_g  (Cout_g = Cout / groups)
// and sees only the input channels of that group, grp * Cin_g .. grp * Cin_g + Cin_g - 1. Then
//   y[n, co, od, oh, ow] = b[co] + sum over ci < Cin_g, kd, kh, kw of
//                          w[co, ci, kd, kh, kw] * x[n, grp * Cin_g + ci, id, ih, iw].
// The gradients follow from the same sum: every product w * x that contributes to y also sends
// gy * w back to that x and gy * x back to that w.
//
// Threads: the outermost loops are split over OpenMP threads only where every iteration writes its
// own outputs, so each output element is summed by one thread in the order written here: the
// results are the same for every thread count.
#include "tensor/cpu/conv_reference.h"

#include <cstdint>

namespace ldae::cpu {

namespace {

// Input index that output index o reads through kernel tap k on axis a, or -1 in the padding.
int64_t input_index(const ConvGeometry& g, int a, int64_t o, int64_t k) {
  const int64_t i = o * g.stride[a] - g.padding[a] + k * g.dilation[a];
  return (i >= 0 && i < g.in[a]) ? i : -1;
}

// Flat offsets into the contiguous arrays (see the layouts in conv.h).
int64_t x_offset(const ConvGeometry& g, int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) {
  return (((n * g.Cin + c) * g.in[0] + d) * g.in[1] + h) * g.in[2] + w;
}
int64_t y_offset(const ConvGeometry& g, int64_t n, int64_t c, int64_t d, int64_t h, int64_t w) {
  return (((n * g.Cout + c) * g.out[0] + d) * g.out[1] + h) * g.out[2] + w;
}
int64_t w_offset(const ConvGeometry& g, int64_t co, int64_t ci, int64_t kd, int64_t kh,
                 int64_t kw) {
  return (((co * (g.Cin / g.groups) + ci) * g.kernel[0] + kd) * g.kernel[1] + kh) * g.kernel[2] +
         kw;
}

}  // namespace

template <typename T>
void conv_reference_forward(const ConvGeometry& g, const T* x, const T* w, const T* b, T* y) {
  const int64_t Cin_g = g.Cin / g.groups, Cout_g = g.Cout / g.groups;
  // One (n, co) pair per iteration: it writes the output plane y[n, co] and nothing else.
#pragma omp parallel for schedule(static)
  for (int64_t nco = 0; nco < g.N * g.Cout; ++nco) {
    const int64_t n = nco / g.Cout, co = nco % g.Cout;
    const int64_t c0 = co / Cout_g * Cin_g;  // first input channel of co's group
    for (int64_t od = 0; od < g.out[0]; ++od)
      for (int64_t oh = 0; oh < g.out[1]; ++oh)
        for (int64_t ow = 0; ow < g.out[2]; ++ow) {
          T sum = b != nullptr ? b[co] : T(0);
          for (int64_t ci = 0; ci < Cin_g; ++ci)
            for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
              for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
                for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
                  const int64_t id = input_index(g, 0, od, kd), ih = input_index(g, 1, oh, kh),
                                iw = input_index(g, 2, ow, kw);
                  if (id < 0 || ih < 0 || iw < 0) continue;  // padding: x = 0
                  sum +=
                      w[w_offset(g, co, ci, kd, kh, kw)] * x[x_offset(g, n, c0 + ci, id, ih, iw)];
                }
          y[y_offset(g, n, co, od, oh, ow)] = sum;
        }
  }
}

template <typename T>
void conv_reference_backward_input(const ConvGeometry& g, const T* gy, const T* w, T* gx) {
  const int64_t Cin_g = g.Cin / g.groups, Cout_g = g.Cout / g.groups;
  const int64_t Pin = g.in[0] * g.in[1] * g.in[2];
  // One (n, group) pair per iteration: it writes the input channels of that group of sample n
  // (and only those), by walking the forward sum and sending each gy * w back to the x it used.
#pragma omp parallel for schedule(static)
  for (int64_t ng = 0; ng < g.N * g.groups; ++ng) {
    const int64_t n = ng / g.groups, grp = ng % g.groups;
    const int64_t c0 = grp * Cin_g;
    for (int64_t i = 0; i < Cin_g * Pin; ++i) gx[x_offset(g, n, c0, 0, 0, 0) + i] = T(0);
    for (int64_t co = grp * Cout_g; co < (grp + 1) * Cout_g; ++co)
      for (int64_t od = 0; od < g.out[0]; ++od)
        for (int64_t oh = 0; oh < g.out[1]; ++oh)
          for (int64_t ow = 0; ow < g.out[2]; ++ow) {
            const T dy = gy[y_offset(g, n, co, od, oh, ow)];
            for (int64_t ci = 0; ci < Cin_g; ++ci)
              for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
                for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
                  for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
                    const int64_t id = input_index(g, 0, od, kd), ih = input_index(g, 1, oh, kh),
                                  iw = input_index(g, 2, ow, kw);
                    if (id < 0 || ih < 0 || iw < 0) continue;  // this tap read padding
                    gx[x_offset(g, n, c0 + ci, id, ih, iw)] +=
                        w[w_offset(g, co, ci, kd, kh, kw)] * dy;
                  }
          }
  }
}

template <typename T>
void conv_reference_backward_weight(const ConvGeometry& g, const T* gy, const T* x, T* gw, T* gb) {
  const int64_t Cin_g = g.Cin / g.groups, Cout_g = g.Cout / g.groups;
  // One output channel per iteration: it writes gw[co] (and gb[co]).
#pragma omp parallel for schedule(static)
  for (int64_t co = 0; co < g.Cout; ++co) {
    const int64_t c0 = co / Cout_g * Cin_g;  // first input channel of co's group
    // gw[co, ci, kd, kh, kw] = sum over n and output positions of gy * (the x that tap read).
    for (int64_t ci = 0; ci < Cin_g; ++ci)
      for (int64_t kd = 0; kd < g.kernel[0]; ++kd)
        for (int64_t kh = 0; kh < g.kernel[1]; ++kh)
          for (int64_t kw = 0; kw < g.kernel[2]; ++kw) {
            T sum = 0;
            for (int64_t n = 0; n < g.N; ++n)
              for (int64_t od = 0; od < g.out[0]; ++od)
                for (int64_t oh = 0; oh < g.out[1]; ++oh)
                  for (int64_t ow = 0; ow < g.out[2]; ++ow) {
                    const int64_t id = input_index(g, 0, od, kd), ih = input_index(g, 1, oh, kh),
                                  iw = input_index(g, 2, ow, kw);
                    if (id < 0 || ih < 0 || iw < 0) continue;  // padding: x = 0
                    sum +=
                        gy[y_offset(g, n, co, od, oh, ow)] * x[x_offset(g, n, c0 + ci, id, ih, iw)];
                  }
            gw[w_offset(g, co, ci, kd, kh, kw)] = sum;
          }
    // gb[co] = sum over n and output positions of gy (the bias is added to every output).
    if (gb != nullptr) {
      T sum = 0;
      for (int64_t n = 0; n < g.N; ++n)
        for (int64_t od = 0; od < g.out[0]; ++od)
          for (int64_t oh = 0; oh < g.out[1]; ++oh)
            for (int64_t ow = 0; ow < g.out[2]; ++ow) sum += gy[y_offset(g, n, co, od, oh, ow)];
      gb[co] = sum;
    }
  }
}

template void conv_reference_forward<float>(const ConvGeometry&, const float*, const float*,
                                            const float*, float*);
template void conv_reference_forward<double>(const ConvGeometry&, const double*, const double*,
                                             const double*, double*);
template void conv_reference_backward_input<float>(const ConvGeometry&, const float*, const float*,
                                                   float*);
template void conv_reference_backward_input<double>(const ConvGeometry&, const double*,
                                                    const double*, double*);
template void conv_reference_backward_weight<float>(const ConvGeometry&, const float*, const float*,
                                                    float*, float*);
template void conv_reference_backward_weight<double>(const ConvGeometry&, const double*,
                                                     const double*, double*, double*);

}  // namespace ldae::cpu
