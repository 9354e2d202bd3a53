#include "ldae/metrics.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "tensor/error.h"
#include "tensor/shape.h"

namespace ldae::metrics {
namespace {

// The values of t as a contiguous row-major double vector (CPU), without its history.
std::vector<double> host_values(const Tensor& t) {
  return t.detach().to_vector();
}

void check_pair(const std::string& op, const Tensor& a, const Tensor& b, int64_t rank) {
  check(a.defined() && b.defined(), op, "needs two defined tensors");
  check(a.dtype() == DType::F32 || a.dtype() == DType::F64, op, "expects F32 or F64 inputs");
  check(b.dtype() == DType::F32 || b.dtype() == DType::F64, op, "expects F32 or F64 inputs");
  if (rank > 0)
    check(a.dim() == rank, op, "expects (N, C, D, H, W) volumes, got " + shape_str(a.shape()));
  else
    check(a.dim() >= 1 && a.numel() > 0, op,
          "expects a non-empty tensor whose axis 0 is the batch, got " + shape_str(a.shape()));
  check(a.shape() == b.shape(), op,
        "shapes differ: " + shape_str(a.shape()) + " vs " + shape_str(b.shape()));
}

void check_ssim_options(const std::string& op, const SsimOptions& o) {
  check(o.kernel_size >= 1, op, "kernel_size must be >= 1, got " + std::to_string(o.kernel_size));
  check(o.kernel_sigma > 0.0, op, "kernel_sigma must be positive");
  check(o.data_range > 0.0, op, "data_range must be positive");
}

// Compensated (Neumaier) summation: the means over a 64 x 80 x 64 volume stay exact to a
// few ulps instead of drifting by ~1e-12.
struct Sum {
  double s = 0.0, c = 0.0;
  void add(double v) {
    const double t = s + v;
    c += std::abs(s) >= std::abs(v) ? (s - t) + v : (v - t) + s;
    s = t;
  }
  double value() const { return s + c; }
};

// One (C, D, H, W) sample's volumes in double.
struct Volume {
  int64_t c = 0, d = 0, h = 0, w = 0;
  std::vector<double> v;  // c * d * h * w
};

// Valid separable filtering of one (d, h, w) volume with g along each axis.
// src: d*h*w; returns (d-k+1, h-k+1, w-k+1).
std::vector<double> filter3(const double* src, int64_t d, int64_t h, int64_t w,
                            const std::vector<double>& g) {
  const int64_t k = static_cast<int64_t>(g.size());
  const int64_t od = d - k + 1, oh = h - k + 1, ow = w - k + 1;
  // along W
  std::vector<double> t1(static_cast<size_t>(d * h * ow));
  for (int64_t z = 0; z < d; ++z)
    for (int64_t y = 0; y < h; ++y) {
      const double* row = src + (z * h + y) * w;
      double* out = t1.data() + (z * h + y) * ow;
      for (int64_t x = 0; x < ow; ++x) {
        double s = 0.0;
        for (int64_t i = 0; i < k; ++i) s += g[static_cast<size_t>(i)] * row[x + i];
        out[x] = s;
      }
    }
  // along H
  std::vector<double> t2(static_cast<size_t>(d * oh * ow));
  for (int64_t z = 0; z < d; ++z)
    for (int64_t y = 0; y < oh; ++y) {
      double* out = t2.data() + (z * oh + y) * ow;
      for (int64_t x = 0; x < ow; ++x) out[x] = 0.0;
      for (int64_t i = 0; i < k; ++i) {
        const double gi = g[static_cast<size_t>(i)];
        const double* in = t1.data() + (z * h + y + i) * ow;
        for (int64_t x = 0; x < ow; ++x) out[x] += gi * in[x];
      }
    }
  // along D
  std::vector<double> t3(static_cast<size_t>(od * oh * ow), 0.0);
  for (int64_t z = 0; z < od; ++z)
    for (int64_t i = 0; i < k; ++i) {
      const double gi = g[static_cast<size_t>(i)];
      const double* in = t2.data() + (z + i) * oh * ow;
      double* out = t3.data() + z * oh * ow;
      for (int64_t j = 0; j < oh * ow; ++j) out[j] += gi * in[j];
    }
  return t3;
}

// Per-sample means of the ssim and cs maps of one sample pair.
struct SsimCs {
  double ssim = 0.0, cs = 0.0;
};

SsimCs ssim_cs(const Volume& a, const Volume& b, const std::vector<double>& g,
               const SsimOptions& o) {
  const int64_t k = static_cast<int64_t>(g.size());
  const int64_t vox = a.d * a.h * a.w;
  const int64_t od = a.d - k + 1, oh = a.h - k + 1, ow = a.w - k + 1;
  const int64_t ovox = od * oh * ow;
  const double c1 = (o.k1 * o.data_range) * (o.k1 * o.data_range);
  const double c2 = (o.k2 * o.data_range) * (o.k2 * o.data_range);
  Sum sum_ssim, sum_cs;
  std::vector<double> aa(static_cast<size_t>(vox)), bb(static_cast<size_t>(vox)),
      ab(static_cast<size_t>(vox));
  for (int64_t c = 0; c < a.c; ++c) {
    const double* pa = a.v.data() + c * vox;
    const double* pb = b.v.data() + c * vox;
    for (int64_t i = 0; i < vox; ++i) {
      aa[static_cast<size_t>(i)] = pa[i] * pa[i];
      bb[static_cast<size_t>(i)] = pb[i] * pb[i];
      ab[static_cast<size_t>(i)] = pa[i] * pb[i];
    }
    const std::vector<double> mu_a = filter3(pa, a.d, a.h, a.w, g);
    const std::vector<double> mu_b = filter3(pb, a.d, a.h, a.w, g);
    const std::vector<double> m_aa = filter3(aa.data(), a.d, a.h, a.w, g);
    const std::vector<double> m_bb = filter3(bb.data(), a.d, a.h, a.w, g);
    const std::vector<double> m_ab = filter3(ab.data(), a.d, a.h, a.w, g);
    for (int64_t i = 0; i < ovox; ++i) {
      const size_t j = static_cast<size_t>(i);
      const double s_aa = m_aa[j] - mu_a[j] * mu_a[j];
      const double s_bb = m_bb[j] - mu_b[j] * mu_b[j];
      const double s_ab = m_ab[j] - mu_a[j] * mu_b[j];
      const double cs = (2.0 * s_ab + c2) / (s_aa + s_bb + c2);
      const double lum =
          (2.0 * mu_a[j] * mu_b[j] + c1) / (mu_a[j] * mu_a[j] + mu_b[j] * mu_b[j] + c1);
      sum_ssim.add(lum * cs);
      sum_cs.add(cs);
    }
  }
  const double count = static_cast<double>(ovox * a.c);
  return {sum_ssim.value() / count, sum_cs.value() / count};
}

// Sample n of a (N, C, D, H, W) tensor's values.
Volume sample(const std::vector<double>& all, const Shape& s, int64_t n) {
  Volume v;
  v.c = s[1];
  v.d = s[2];
  v.h = s[3];
  v.w = s[4];
  const int64_t per = v.c * v.d * v.h * v.w;
  v.v.assign(all.begin() + n * per, all.begin() + (n + 1) * per);
  return v;
}

// Average pooling, kernel 2, stride 2, floor (F.avg_pool3d(x, 2)).
Volume pool2(const Volume& in) {
  Volume o;
  o.c = in.c;
  o.d = in.d / 2;
  o.h = in.h / 2;
  o.w = in.w / 2;
  o.v.assign(static_cast<size_t>(o.c * o.d * o.h * o.w), 0.0);
  for (int64_t c = 0; c < o.c; ++c)
    for (int64_t z = 0; z < o.d; ++z)
      for (int64_t y = 0; y < o.h; ++y)
        for (int64_t x = 0; x < o.w; ++x) {
          double s = 0.0;
          for (int64_t dz = 0; dz < 2; ++dz)
            for (int64_t dy = 0; dy < 2; ++dy)
              for (int64_t dx = 0; dx < 2; ++dx)
                s += in.v[static_cast<size_t>(((c * in.d + 2 * z + dz) * in.h + 2 * y + dy) * in.w +
                                              2 * x + dx)];
          o.v[static_cast<size_t>(((c * o.d + z) * o.h + y) * o.w + x)] = s / 8.0;
        }
  return o;
}

MetricResult finish(std::vector<double> values) {
  MetricResult r;
  double s = 0.0;
  for (double v : values) s += v;
  r.mean = s / static_cast<double>(values.size());
  r.per_sample = std::move(values);
  return r;
}

}  // namespace

std::vector<double> gaussian_window(int64_t kernel_size, double sigma) {
  check(kernel_size >= 1, "gaussian_window", "kernel_size must be >= 1");
  check(sigma > 0.0, "gaussian_window", "sigma must be positive");
  std::vector<double> g(static_cast<size_t>(kernel_size));
  double s = 0.0;
  for (int64_t i = 0; i < kernel_size; ++i) {
    const double t = (static_cast<double>(i) - static_cast<double>(kernel_size - 1) / 2.0) / sigma;
    g[static_cast<size_t>(i)] = std::exp(-t * t / 2.0);
    s += g[static_cast<size_t>(i)];
  }
  for (double& v : g) v /= s;
  return g;
}

MetricResult ssim3d(const Tensor& a, const Tensor& b, const SsimOptions& options) {
  const std::string op = "ssim3d";
  check_pair(op, a, b, 5);
  check_ssim_options(op, options);
  const Shape& s = a.shape();
  check(s[0] >= 1 && s[1] >= 1, op, "needs N >= 1 and C >= 1, got " + shape_str(s));
  for (int i = 2; i < 5; ++i)
    check(s[static_cast<size_t>(i)] >= options.kernel_size, op,
          "every spatial size must be >= kernel_size " + std::to_string(options.kernel_size) +
              ", got " + shape_str(s));
  const std::vector<double> va = host_values(a), vb = host_values(b);
  const std::vector<double> g = gaussian_window(options.kernel_size, options.kernel_sigma);
  std::vector<double> values;
  for (int64_t n = 0; n < s[0]; ++n)
    values.push_back(ssim_cs(sample(va, s, n), sample(vb, s, n), g, options).ssim);
  return finish(std::move(values));
}

MetricResult ms_ssim3d(const Tensor& a, const Tensor& b, const MsSsimOptions& options) {
  const std::string op = "ms_ssim3d";
  check_pair(op, a, b, 5);
  check_ssim_options(op, options.ssim);
  check(!options.weights.empty(), op, "needs at least one scale weight");
  for (double w : options.weights) check(w >= 0.0, op, "scale weights must be non-negative");
  const Shape& s = a.shape();
  check(s[0] >= 1 && s[1] >= 1, op, "needs N >= 1 and C >= 1, got " + shape_str(s));
  const int64_t scales = static_cast<int64_t>(options.weights.size());
  const int64_t k = options.ssim.kernel_size;
  for (int i = 2; i < 5; ++i) {
    int64_t n = s[static_cast<size_t>(i)];
    for (int64_t j = 1; j < scales; ++j) n /= 2;
    check(n >= k, op,
          "volume " + shape_str(s) + " is too small for " + std::to_string(scales) +
              " scales with kernel " + std::to_string(k) + ": every spatial size must be >= " +
              std::to_string(k << (scales - 1)) + " (halved " + std::to_string(scales - 1) +
              " times it must still be >= the kernel); use fewer scales (fewer weights)");
  }
  const std::vector<double> va = host_values(a), vb = host_values(b);
  const std::vector<double> g = gaussian_window(k, options.ssim.kernel_sigma);
  std::vector<double> values;
  for (int64_t n = 0; n < s[0]; ++n) {
    Volume x = sample(va, s, n), y = sample(vb, s, n);
    double value = 1.0;
    for (int64_t sc = 0; sc < scales; ++sc) {
      const SsimCs r = ssim_cs(x, y, g, options.ssim);
      const double m = std::max(sc + 1 < scales ? r.cs : r.ssim, 0.0);  // relu
      value *= std::pow(m, options.weights[static_cast<size_t>(sc)]);
      if (sc + 1 < scales) {
        x = pool2(x);
        y = pool2(y);
      }
    }
    values.push_back(value);
  }
  return finish(std::move(values));
}

MetricResult mse(const Tensor& a, const Tensor& b) {
  const std::string op = "mse";
  check_pair(op, a, b, 0);
  const std::vector<double> va = host_values(a), vb = host_values(b);
  const int64_t n = a.size(0);
  check(n >= 1, op, "needs a batch of at least one sample");
  const int64_t per = a.numel() / n;
  std::vector<double> values;
  for (int64_t i = 0; i < n; ++i) {
    Sum s;
    for (int64_t j = 0; j < per; ++j) {
      const double d = va[static_cast<size_t>(i * per + j)] - vb[static_cast<size_t>(i * per + j)];
      s.add(d * d);
    }
    values.push_back(s.value() / static_cast<double>(per));
  }
  return finish(std::move(values));
}

MetricResult psnr(const Tensor& a, const Tensor& b, double data_range) {
  const std::string op = "psnr";
  check(data_range > 0.0, op, "data_range must be positive");
  check_pair(op, a, b, 0);
  MetricResult m = mse(a, b);
  std::vector<double> values;
  for (double e : m.per_sample)
    values.push_back(e == 0.0 ? std::numeric_limits<double>::infinity()
                              : 20.0 * std::log10(data_range) - 10.0 * std::log10(e));
  return finish(std::move(values));
}

}  // namespace ldae::metrics
