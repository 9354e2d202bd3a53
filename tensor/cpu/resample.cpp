// CPU kernels of average pooling and interpolation (contracts in tensor/cpu/resample.h).
// Forward kernels gather (each output reads its inputs), so they run in parallel over
// (plane, output depth). Backward kernels scatter-add into gx, where neighbouring outputs
// may write the same input, so they run in parallel over whole planes only.
#include "tensor/cpu/resample.h"

#include <algorithm>
#include <cmath>

#include "tensor/cpu/strided_loop.h"  // kParallelGrain

namespace ldae::cpu {

// ---- Average pooling ----------------------------------------------------------------------

template <typename T>
void avg_pool3d_forward(int64_t P, const Dims3& in, const Dims3& out, const Dims3& k,
                        const Dims3& s, const T* x, T* y) {
  const int64_t in_plane = in[0] * in[1] * in[2], out_plane = out[0] * out[1] * out[2];
  const T inv = static_cast<T>(1.0 / static_cast<double>(k[0] * k[1] * k[2]));
  const int64_t rows = P * out[0];
#pragma omp parallel for schedule(static) if (P * in_plane > kParallelGrain)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t p = row / out[0], od = row % out[0];
    const T* xp = x + p * in_plane;
    T* yr = y + p * out_plane + od * out[1] * out[2];
    for (int64_t oh = 0; oh < out[1]; ++oh)
      for (int64_t ow = 0; ow < out[2]; ++ow) {
        T acc = 0;
        for (int64_t kd = 0; kd < k[0]; ++kd)
          for (int64_t kh = 0; kh < k[1]; ++kh) {
            const T* xw = xp + ((od * s[0] + kd) * in[1] + oh * s[1] + kh) * in[2] + ow * s[2];
            for (int64_t kw = 0; kw < k[2]; ++kw) acc += xw[kw];
          }
        yr[oh * out[2] + ow] = acc * inv;
      }
  }
}

template <typename T>
void avg_pool3d_backward(int64_t P, const Dims3& in, const Dims3& out, const Dims3& k,
                         const Dims3& s, const T* gy, T* gx) {
  const int64_t in_plane = in[0] * in[1] * in[2], out_plane = out[0] * out[1] * out[2];
  const T inv = static_cast<T>(1.0 / static_cast<double>(k[0] * k[1] * k[2]));
#pragma omp parallel for schedule(static) if (P * in_plane > kParallelGrain)
  for (int64_t p = 0; p < P; ++p) {
    T* gp = gx + p * in_plane;
    const T* gyp = gy + p * out_plane;
    std::fill(gp, gp + in_plane, T(0));  // inputs no window covers get 0
    for (int64_t od = 0; od < out[0]; ++od)
      for (int64_t oh = 0; oh < out[1]; ++oh)
        for (int64_t ow = 0; ow < out[2]; ++ow) {
          const T g = gyp[(od * out[1] + oh) * out[2] + ow] * inv;
          for (int64_t kd = 0; kd < k[0]; ++kd)
            for (int64_t kh = 0; kh < k[1]; ++kh) {
              T* gw = gp + ((od * s[0] + kd) * in[1] + oh * s[1] + kh) * in[2] + ow * s[2];
              for (int64_t kw = 0; kw < k[2]; ++kw) gw[kw] += g;
            }
        }
  }
}

// ---- Interpolation: per-axis source indices and weights ----------------------------------

template <typename T>
AxisMap<T> nearest_axis_map(int64_t in, int64_t out, double scale) {
  AxisMap<T> m;
  m.i0.resize(out);
  // PyTorch computes this in float: 1/scale rounded to float, times o, floored. There is
  // no shortcut for out == in: in = 3 with scale 1.2 reads inputs (0, 0, 1), as PyTorch
  // 1.13's forward does. (Its backward does take shortcuts for out == in and out == 2 in,
  // so in those rare non-integer cases PyTorch's gradient is not the adjoint of its own
  // forward; ours is, since both directions use this one map.)
  const float ratio = static_cast<float>(1.0 / scale);
  for (int64_t o = 0; o < out; ++o) {
    const int64_t src = static_cast<int64_t>(std::floor(static_cast<float>(o) * ratio));
    m.i0[o] = std::min(src, in - 1);
  }
  m.i1 = m.i0;
  m.w0.assign(out, T(1));
  m.w1.assign(out, T(0));
  return m;
}

template <typename T>
AxisMap<T> linear_axis_map(int64_t in, int64_t out, double scale) {
  AxisMap<T> m;
  m.i0.resize(out);
  m.i1.resize(out);
  m.w0.resize(out);
  m.w1.resize(out);
  const T ratio = static_cast<T>(1.0 / scale);
  for (int64_t o = 0; o < out; ++o) {
    if (out == in) {  // a plain copy, even when scale != 1 (PyTorch's shortcut)
      m.i0[o] = m.i1[o] = o;
      m.w0[o] = T(1);
      m.w1[o] = T(0);
      continue;
    }
    // The centre of output cell o, in input coordinates; clamped at 0 on the left.
    const T src = std::max(ratio * (static_cast<T>(o) + T(0.5)) - T(0.5), T(0));
    const int64_t i0 = std::min(static_cast<int64_t>(src), in - 1);
    m.i0[o] = i0;
    m.i1[o] = i0 < in - 1 ? i0 + 1 : i0;  // on the right edge both taps are the last input
    m.w1[o] = std::min(std::max(src - static_cast<T>(i0), T(0)), T(1));
    m.w0[o] = T(1) - m.w1[o];
  }
  return m;
}

// ---- Interpolation: kernels ---------------------------------------------------------------

template <typename T>
void resample_forward(int64_t P, const Dims3& in, const Dims3& out,
                      const std::array<AxisMap<T>, 3>& maps, bool linear, const T* x, T* y) {
  const AxisMap<T>&md = maps[0], &mh = maps[1], &mw = maps[2];
  const int64_t in_plane = in[0] * in[1] * in[2], out_plane = out[0] * out[1] * out[2];
  const int64_t HW = in[1] * in[2], Wi = in[2];
  const int64_t rows = P * out[0];
#pragma omp parallel for schedule(static) if (P * out_plane > kParallelGrain)
  for (int64_t row = 0; row < rows; ++row) {
    const int64_t p = row / out[0], od = row % out[0];
    const T* xp = x + p * in_plane;
    T* yr = y + p * out_plane + od * out[1] * out[2];
    if (!linear) {
      const T* xd = xp + md.i0[od] * HW;
      for (int64_t oh = 0; oh < out[1]; ++oh) {
        const T* xh = xd + mh.i0[oh] * Wi;
        T* yh = yr + oh * out[2];
        for (int64_t ow = 0; ow < out[2]; ++ow) yh[ow] = xh[mw.i0[ow]];
      }
      continue;
    }
    // Trilinear: interpolate along W on the four (d, h) input rows, then along H and D.
    const T* xd0 = xp + md.i0[od] * HW;
    const T* xd1 = xp + md.i1[od] * HW;
    const T wd0 = md.w0[od], wd1 = md.w1[od];
    for (int64_t oh = 0; oh < out[1]; ++oh) {
      const T* r00 = xd0 + mh.i0[oh] * Wi;
      const T* r01 = xd0 + mh.i1[oh] * Wi;
      const T* r10 = xd1 + mh.i0[oh] * Wi;
      const T* r11 = xd1 + mh.i1[oh] * Wi;
      const T wh0 = mh.w0[oh], wh1 = mh.w1[oh];
      T* yh = yr + oh * out[2];
      for (int64_t ow = 0; ow < out[2]; ++ow) {
        const int64_t a = mw.i0[ow], b = mw.i1[ow];
        const T ww0 = mw.w0[ow], ww1 = mw.w1[ow];
        const T v00 = ww0 * r00[a] + ww1 * r00[b], v01 = ww0 * r01[a] + ww1 * r01[b];
        const T v10 = ww0 * r10[a] + ww1 * r10[b], v11 = ww0 * r11[a] + ww1 * r11[b];
        yh[ow] = wd0 * (wh0 * v00 + wh1 * v01) + wd1 * (wh0 * v10 + wh1 * v11);
      }
    }
  }
}

template <typename T>
void resample_backward(int64_t P, const Dims3& in, const Dims3& out,
                       const std::array<AxisMap<T>, 3>& maps, bool linear, const T* gy, T* gx) {
  const AxisMap<T>&md = maps[0], &mh = maps[1], &mw = maps[2];
  const int64_t in_plane = in[0] * in[1] * in[2], out_plane = out[0] * out[1] * out[2];
  const int64_t HW = in[1] * in[2], Wi = in[2];
#pragma omp parallel for schedule(static) if (P * out_plane > kParallelGrain)
  for (int64_t p = 0; p < P; ++p) {
    T* gp = gx + p * in_plane;
    const T* gyp = gy + p * out_plane;
    std::fill(gp, gp + in_plane, T(0));
    for (int64_t od = 0; od < out[0]; ++od)
      for (int64_t oh = 0; oh < out[1]; ++oh) {
        const T* gr = gyp + (od * out[1] + oh) * out[2];
        if (!linear) {
          T* xr = gp + md.i0[od] * HW + mh.i0[oh] * Wi;
          for (int64_t ow = 0; ow < out[2]; ++ow) xr[mw.i0[ow]] += gr[ow];
          continue;
        }
        // The 8 corners of each output, with the same weights as the forward.
        T* rows[4] = {gp + md.i0[od] * HW + mh.i0[oh] * Wi, gp + md.i0[od] * HW + mh.i1[oh] * Wi,
                      gp + md.i1[od] * HW + mh.i0[oh] * Wi, gp + md.i1[od] * HW + mh.i1[oh] * Wi};
        const T wrow[4] = {md.w0[od] * mh.w0[oh], md.w0[od] * mh.w1[oh], md.w1[od] * mh.w0[oh],
                           md.w1[od] * mh.w1[oh]};
        for (int64_t ow = 0; ow < out[2]; ++ow) {
          const int64_t a = mw.i0[ow], b = mw.i1[ow];
          for (int r = 0; r < 4; ++r) {
            const T g = gr[ow] * wrow[r];
            rows[r][a] += g * mw.w0[ow];
            rows[r][b] += g * mw.w1[ow];
          }
        }
      }
  }
}

#define LDAE_RESAMPLE_INSTANTIATE(T)                                                       \
  template void avg_pool3d_forward<T>(int64_t, const Dims3&, const Dims3&, const Dims3&,   \
                                      const Dims3&, const T*, T*);                         \
  template void avg_pool3d_backward<T>(int64_t, const Dims3&, const Dims3&, const Dims3&,  \
                                       const Dims3&, const T*, T*);                        \
  template AxisMap<T> nearest_axis_map<T>(int64_t, int64_t, double);                       \
  template AxisMap<T> linear_axis_map<T>(int64_t, int64_t, double);                        \
  template void resample_forward<T>(int64_t, const Dims3&, const Dims3&,                   \
                                    const std::array<AxisMap<T>, 3>&, bool, const T*, T*); \
  template void resample_backward<T>(int64_t, const Dims3&, const Dims3&,                  \
                                     const std::array<AxisMap<T>, 3>&, bool, const T*, T*);
LDAE_RESAMPLE_INSTANTIATE(float)
LDAE_RESAMPLE_INSTANTIATE(double)
#undef LDAE_RESAMPLE_INSTANTIATE

}  // namespace ldae::cpu
