// Pooling and interpolation kernels (contracts in tensor/cuda/resample.h).
#include <vector>

#include "tensor/cuda/common.cuh"
#include "tensor/cuda/resample.h"

namespace ldae::cuda {

namespace {

// (D, H, W) sizes as a plain struct a kernel can take by value.
struct Box {
  int64_t d, h, w;
  __host__ __device__ int64_t volume() const { return d * h * w; }
};

Box box(const Dims3& v) {
  return Box{v[0], v[1], v[2]};
}

template <typename T>
__global__ void avg_pool_forward_kernel(int64_t P, Box in, Box out, Box k, Box s, const T* x,
                                        T* y) {
  const T inv = static_cast<T>(1.0 / static_cast<double>(k.volume()));
  LDAE_KERNEL_LOOP(i, P * out.volume()) {
    const int64_t p = i / out.volume(), o = i % out.volume();
    const int64_t ow = o % out.w, oh = (o / out.w) % out.h, od = o / (out.w * out.h);
    const T* xp = x + p * in.volume();
    T acc = 0;
    for (int64_t kd = 0; kd < k.d; ++kd)
      for (int64_t kh = 0; kh < k.h; ++kh) {
        const T* xw = xp + ((od * s.d + kd) * in.h + oh * s.h + kh) * in.w + ow * s.w;
        for (int64_t kw = 0; kw < k.w; ++kw) acc += xw[kw];
      }
    y[i] = acc * inv;
  }
}

// The outputs along one axis whose window [o s, o s + k) covers input i: [first, last].
__device__ __forceinline__ void covering(int64_t i, int64_t k, int64_t s, int64_t out,
                                         int64_t* first, int64_t* last) {
  *first = i - k + 1 <= 0 ? 0 : (i - k + s) / s;  // ceil((i - k + 1) / s)
  const int64_t hi = i / s;
  *last = hi < out - 1 ? hi : out - 1;
}

template <typename T>
__global__ void avg_pool_backward_kernel(int64_t P, Box in, Box out, Box k, Box s, const T* gy,
                                         T* gx) {
  const T inv = static_cast<T>(1.0 / static_cast<double>(k.volume()));
  LDAE_KERNEL_LOOP(i, P * in.volume()) {
    const int64_t p = i / in.volume(), v = i % in.volume();
    const int64_t iw = v % in.w, ih = (v / in.w) % in.h, id = v / (in.w * in.h);
    int64_t d0, d1, h0, h1, w0, w1;
    covering(id, k.d, s.d, out.d, &d0, &d1);
    covering(ih, k.h, s.h, out.h, &h0, &h1);
    covering(iw, k.w, s.w, out.w, &w0, &w1);
    const T* gp = gy + p * out.volume();
    T acc = 0;
    for (int64_t od = d0; od <= d1; ++od)
      for (int64_t oh = h0; oh <= h1; ++oh)
        for (int64_t ow = w0; ow <= w1; ++ow) acc += gp[(od * out.h + oh) * out.w + ow] * inv;
    gx[i] = acc;
  }
}

// The three axis maps on the device: indices i0, i1 and weights w0, w1 per axis.
template <typename T>
struct DeviceMaps {
  const int64_t* i0[3];
  const int64_t* i1[3];
  const T* w0[3];
  const T* w1[3];
};

// Uploads the maps into two device buffers (indices, weights) and points `m` into them.
template <typename T>
void upload_maps(const std::array<cpu::AxisMap<T>, 3>& maps, DeviceBuffer& idx, DeviceBuffer& wts,
                 DeviceMaps<T>* m) {
  std::vector<int64_t> hi;
  std::vector<T> hw;
  size_t offsets[3];
  for (int a = 0; a < 3; ++a) {
    offsets[a] = hi.size();
    hi.insert(hi.end(), maps[a].i0.begin(), maps[a].i0.end());
    hi.insert(hi.end(), maps[a].i1.begin(), maps[a].i1.end());
    hw.insert(hw.end(), maps[a].w0.begin(), maps[a].w0.end());
    hw.insert(hw.end(), maps[a].w1.begin(), maps[a].w1.end());
  }
  copy_host_to_device(idx.get(), hi.data(), hi.size() * sizeof(int64_t));
  copy_host_to_device(wts.get(), hw.data(), hw.size() * sizeof(T));
  for (int a = 0; a < 3; ++a) {
    const size_t n = maps[a].i0.size();
    m->i0[a] = idx.as<int64_t>() + offsets[a];
    m->i1[a] = m->i0[a] + n;
    m->w0[a] = wts.as<T>() + offsets[a];
    m->w1[a] = m->w0[a] + n;
  }
}

template <typename T>
__global__ void resample_forward_kernel(int64_t P, Box in, Box out, DeviceMaps<T> m, bool linear,
                                        const T* x, T* y) {
  LDAE_KERNEL_LOOP(i, P * out.volume()) {
    const int64_t p = i / out.volume(), o = i % out.volume();
    const int64_t ow = o % out.w, oh = (o / out.w) % out.h, od = o / (out.w * out.h);
    const T* xp = x + p * in.volume();
    if (!linear) {
      y[i] = xp[(m.i0[0][od] * in.h + m.i0[1][oh]) * in.w + m.i0[2][ow]];
      continue;
    }
    // As the CPU: interpolate along W on the four (d, h) rows, then along H and D.
    const T* r00 = xp + (m.i0[0][od] * in.h + m.i0[1][oh]) * in.w;
    const T* r01 = xp + (m.i0[0][od] * in.h + m.i1[1][oh]) * in.w;
    const T* r10 = xp + (m.i1[0][od] * in.h + m.i0[1][oh]) * in.w;
    const T* r11 = xp + (m.i1[0][od] * in.h + m.i1[1][oh]) * in.w;
    const int64_t a = m.i0[2][ow], b = m.i1[2][ow];
    const T ww0 = m.w0[2][ow], ww1 = m.w1[2][ow];
    const T v00 = ww0 * r00[a] + ww1 * r00[b], v01 = ww0 * r01[a] + ww1 * r01[b];
    const T v10 = ww0 * r10[a] + ww1 * r10[b], v11 = ww0 * r11[a] + ww1 * r11[b];
    const T wh0 = m.w0[1][oh], wh1 = m.w1[1][oh];
    y[i] = m.w0[0][od] * (wh0 * v00 + wh1 * v01) + m.w1[0][od] * (wh0 * v10 + wh1 * v11);
  }
}

template <typename T>
__global__ void resample_backward_kernel(int64_t P, Box in, Box out, DeviceMaps<T> m, bool linear,
                                         const T* gy, T* gx) {
  LDAE_KERNEL_LOOP(i, P * out.volume()) {
    const int64_t p = i / out.volume(), o = i % out.volume();
    const int64_t ow = o % out.w, oh = (o / out.w) % out.h, od = o / (out.w * out.h);
    T* gp = gx + p * in.volume();
    if (!linear) {
      atomicAdd(gp + (m.i0[0][od] * in.h + m.i0[1][oh]) * in.w + m.i0[2][ow], gy[i]);
      continue;
    }
    T* rows[4] = {gp + (m.i0[0][od] * in.h + m.i0[1][oh]) * in.w,
                  gp + (m.i0[0][od] * in.h + m.i1[1][oh]) * in.w,
                  gp + (m.i1[0][od] * in.h + m.i0[1][oh]) * in.w,
                  gp + (m.i1[0][od] * in.h + m.i1[1][oh]) * in.w};
    const T wrow[4] = {m.w0[0][od] * m.w0[1][oh], m.w0[0][od] * m.w1[1][oh],
                       m.w1[0][od] * m.w0[1][oh], m.w1[0][od] * m.w1[1][oh]};
    const int64_t a = m.i0[2][ow], b = m.i1[2][ow];
    for (int r = 0; r < 4; ++r) {
      const T g = gy[i] * wrow[r];
      atomicAdd(rows[r] + a, g * m.w0[2][ow]);
      atomicAdd(rows[r] + b, g * m.w1[2][ow]);
    }
  }
}

size_t map_indices(const Dims3& out) {
  return static_cast<size_t>(2 * (out[0] + out[1] + out[2]));
}

}  // namespace

template <typename T>
void avg_pool3d_forward(int64_t P, const Dims3& in, const Dims3& out, const Dims3& kernel,
                        const Dims3& stride, const T* x, T* y) {
  const int64_t n = P * box(out).volume();
  if (n == 0) return;
  avg_pool_forward_kernel<T>
      <<<blocks_for(n), kThreads>>>(P, box(in), box(out), box(kernel), box(stride), x, y);
  LDAE_CUDA_CHECK_LAUNCH();
}

template <typename T>
void avg_pool3d_backward(int64_t P, const Dims3& in, const Dims3& out, const Dims3& kernel,
                         const Dims3& stride, const T* gy, T* gx) {
  const int64_t n = P * box(in).volume();
  if (n == 0) return;
  avg_pool_backward_kernel<T>
      <<<blocks_for(n), kThreads>>>(P, box(in), box(out), box(kernel), box(stride), gy, gx);
  LDAE_CUDA_CHECK_LAUNCH();
}

template <typename T>
void resample_forward(int64_t P, const Dims3& in, const Dims3& out,
                      const std::array<cpu::AxisMap<T>, 3>& maps, bool linear, const T* x, T* y) {
  const int64_t n = P * box(out).volume();
  if (n == 0) return;
  DeviceBuffer idx(map_indices(out) * sizeof(int64_t), current_device());
  DeviceBuffer wts(map_indices(out) * sizeof(T), current_device());
  DeviceMaps<T> m;
  upload_maps(maps, idx, wts, &m);
  resample_forward_kernel<T><<<blocks_for(n), kThreads>>>(P, box(in), box(out), m, linear, x, y);
  LDAE_CUDA_CHECK_LAUNCH();
}

template <typename T>
void resample_backward(int64_t P, const Dims3& in, const Dims3& out,
                       const std::array<cpu::AxisMap<T>, 3>& maps, bool linear, const T* gy,
                       T* gx) {
  const int64_t n_in = P * box(in).volume(), n = P * box(out).volume();
  if (n_in == 0) return;
  LDAE_CUDA_CHECK(cudaMemsetAsync(gx, 0, static_cast<size_t>(n_in) * sizeof(T), 0));
  if (n == 0) return;
  DeviceBuffer idx(map_indices(out) * sizeof(int64_t), current_device());
  DeviceBuffer wts(map_indices(out) * sizeof(T), current_device());
  DeviceMaps<T> m;
  upload_maps(maps, idx, wts, &m);
  resample_backward_kernel<T><<<blocks_for(n), kThreads>>>(P, box(in), box(out), m, linear, gy, gx);
  LDAE_CUDA_CHECK_LAUNCH();
}

#define LDAE_RESAMPLE_INSTANTIATE(T)                                                            \
  template void avg_pool3d_forward<T>(int64_t, const Dims3&, const Dims3&, const Dims3&,        \
                                      const Dims3&, const T*, T*);                              \
  template void avg_pool3d_backward<T>(int64_t, const Dims3&, const Dims3&, const Dims3&,       \
                                       const Dims3&, const T*, T*);                             \
  template void resample_forward<T>(int64_t, const Dims3&, const Dims3&,                        \
                                    const std::array<cpu::AxisMap<T>, 3>&, bool, const T*, T*); \
  template void resample_backward<T>(int64_t, const Dims3&, const Dims3&,                       \
                                     const std::array<cpu::AxisMap<T>, 3>&, bool, const T*, T*);
LDAE_RESAMPLE_INSTANTIATE(float)
LDAE_RESAMPLE_INSTANTIATE(double)
#undef LDAE_RESAMPLE_INSTANTIATE

}  // namespace ldae::cuda
