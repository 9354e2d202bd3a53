#include "tensor/random.h"

#include "tensor/philox.h"
#ifdef LDAE_WITH_CUDA
#include "tensor/cuda/random.h"
#endif

namespace ldae {

namespace {

template <typename T, typename Draw>
void fill_random(Tensor& t, Draw draw) {
  T* p = t.mutable_data<T>();
  const int64_t n = t.numel();
#pragma omp parallel for schedule(static) if (n > 65536)
  for (int64_t i = 0; i < n; ++i) p[i] = static_cast<T>(draw(static_cast<uint64_t>(i)));
}

}  // namespace

Tensor rand(const Shape& shape, Generator& gen, DType dtype, double low, double high,
            Device device) {
  check(low <= high, "rand", "low " + std::to_string(low) + " exceeds high " + std::to_string(high));
  Tensor t = Tensor::empty(shape, dtype, device);
  const uint64_t seed = gen.seed, offset = gen.offset;
  const bool as_double = dtype == DType::F64;
  if (device.is_cuda()) {
#ifdef LDAE_WITH_CUDA
    cuda::fill_uniform(t, seed, offset, low, high);  // tensor/cuda/random.cu: the same draws
#endif
    gen.offset += static_cast<uint64_t>(t.numel());
    return t;
  }
  LDAE_DISPATCH(dtype, T, {
    fill_random<T>(t, [=](uint64_t i) {
      return philox::scale_shift(philox::uniform(seed, offset, i, as_double), high - low, low);
    });
  });
  gen.offset += static_cast<uint64_t>(t.numel());
  return t;
}

Tensor randn(const Shape& shape, Generator& gen, DType dtype, double mean, double stddev,
             Device device) {
  check(stddev >= 0, "randn", "negative standard deviation " + std::to_string(stddev));
  Tensor t = Tensor::empty(shape, dtype, device);
  const uint64_t seed = gen.seed, offset = gen.offset;
  if (device.is_cuda()) {
#ifdef LDAE_WITH_CUDA
    cuda::fill_normal(t, seed, offset, mean, stddev);
#endif
    gen.offset += static_cast<uint64_t>(t.numel());
    return t;
  }
  LDAE_DISPATCH(dtype, T, {
    fill_random<T>(t, [=](uint64_t i) {
      return philox::scale_shift(philox::normal(seed, offset, i), stddev, mean);
    });
  });
  gen.offset += static_cast<uint64_t>(t.numel());
  return t;
}

}  // namespace ldae
