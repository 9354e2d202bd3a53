// ldae/metrics.h: SSIM, MS-SSIM, PSNR, MSE against the PyTorch cases of
// tests/reference/generate_metric_cases.py, closed forms, and bad inputs.
#include <gtest/gtest.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/sines_volumes.h"
#include "common/test_helpers.h"
#include "ldae/metrics.h"
#include "tensor/ops.h"
#include "tensor/random.h"
#include "tensor/safetensors.h"

namespace ldae {
namespace {

using metrics::MetricResult;
using metrics::MsSsimOptions;
using metrics::SsimOptions;

const std::string kCaseDir = std::string(LDAE_SOURCE_DIR) + "/tests/reference/metrics";

double meta_number(const SafetensorsFile& f, const std::string& key) {
  return nlohmann::json::parse(f.metadata.at(key)).get<double>();
}

TEST(Metrics, MatchThePyTorchCases) {
  int count = 0;
  for (const auto& entry : std::filesystem::directory_iterator(kCaseDir)) {
    if (entry.path().extension() != ".safetensors") continue;
    SCOPED_TRACE(entry.path().filename().string());
    const SafetensorsFile f = read_safetensors(entry.path().string());
    const std::string op = f.metadata.at("op");
    Tensor a, b;
    if (f.metadata.count("formula")) {
      const auto shape = nlohmann::json::parse(f.metadata.at("shape")).get<std::vector<int64_t>>();
      std::tie(a, b) = testing::sines_volumes(shape[0], shape[2], shape[3], shape[4]);
    } else {
      a = f.tensors.at("in0");
      b = f.tensors.at("in1");
    }
    SsimOptions o;
    o.kernel_size = static_cast<int64_t>(meta_number(f, "kernel_size"));
    o.kernel_sigma = meta_number(f, "kernel_sigma");
    o.data_range = meta_number(f, "data_range");
    o.k1 = meta_number(f, "k1");
    o.k2 = meta_number(f, "k2");
    MetricResult r;
    if (op == "metric:ssim3d") {
      r = metrics::ssim3d(a, b, o);
    } else if (op == "metric:ms_ssim3d") {
      MsSsimOptions m;
      m.ssim = o;
      m.weights = nlohmann::json::parse(f.metadata.at("weights")).get<std::vector<double>>();
      r = metrics::ms_ssim3d(a, b, m);
    } else if (op == "metric:psnr") {
      r = metrics::psnr(a, b, o.data_range);
    } else if (op == "metric:mse") {
      r = metrics::mse(a, b);
    } else {
      FAIL() << "unknown op " << op;
    }
    const std::vector<double> want = f.tensors.at("out").to_vector();
    ASSERT_EQ(r.per_sample.size(), want.size());
    double mean = 0.0;
    for (size_t i = 0; i < want.size(); ++i) {
      EXPECT_NEAR(r.per_sample[i], want[i], 1e-12 * std::max(1.0, std::abs(want[i])))
          << op << " sample " << i;
      mean += want[i];
    }
    EXPECT_NEAR(r.mean, mean / static_cast<double>(want.size()),
                1e-12 * std::max(1.0, std::abs(mean)));
    ++count;
  }
  EXPECT_GE(count, 11);  // every committed case ran
}

TEST(Metrics, GaussianWindow) {
  const std::vector<double> g3 = metrics::gaussian_window(3, 1.5);
  const double e = std::exp(-1.0 / (2.0 * 2.25));
  EXPECT_NEAR(g3[0], e / (1 + 2 * e), 1e-15);
  EXPECT_NEAR(g3[1], 1 / (1 + 2 * e), 1e-15);
  const std::vector<double> g4 = metrics::gaussian_window(4, 1.5);  // offsets -1.5 -0.5 0.5 1.5
  const double o = std::exp(-2.25 / 4.5), i = std::exp(-0.25 / 4.5);
  EXPECT_NEAR(g4[0], o / (2 * o + 2 * i), 1e-15);
  EXPECT_NEAR(g4[1], i / (2 * o + 2 * i), 1e-15);
  EXPECT_DOUBLE_EQ(g4[0], g4[3]);
  EXPECT_DOUBLE_EQ(g4[1], g4[2]);
}

TEST(Metrics, IdenticalVolumes) {
  Generator gen(3);
  const Tensor a = rand({2, 1, 16, 20, 16}, gen, DType::F32);
  for (const SsimOptions& o : {SsimOptions::head(), SsimOptions::paper()}) {
    const MetricResult s = metrics::ssim3d(a, a, o);
    for (double v : s.per_sample) EXPECT_NEAR(v, 1.0, 1e-12);
  }
  MsSsimOptions m;
  m.weights = {0.5, 0.5};
  EXPECT_NEAR(metrics::ms_ssim3d(a, a, m).mean, 1.0, 1e-12);
  EXPECT_EQ(metrics::mse(a, a).mean, 0.0);
  const MetricResult p = metrics::psnr(a, a);
  EXPECT_TRUE(std::isinf(p.mean) && p.mean > 0);
  EXPECT_TRUE(std::isinf(p.per_sample[1]) && p.per_sample[1] > 0);
}

TEST(Metrics, ConstantVolumesClosedForm) {
  // a = 0.3 and b = 0.5 everywhere: every variance is 0, cs = 1, and
  // ssim = (2 * 0.3 * 0.5 + c1) / (0.3^2 + 0.5^2 + c1); PSNR = -10 log10(0.2^2).
  const Tensor a = Tensor::full({1, 1, 48, 48, 48}, 0.3, DType::F64);
  const Tensor b = Tensor::full({1, 1, 48, 48, 48}, 0.5, DType::F64);
  const double c1 = 1e-4;
  const double lum = (2 * 0.3 * 0.5 + c1) / (0.09 + 0.25 + c1);
  EXPECT_NEAR(metrics::ssim3d(a, b).mean, lum, 1e-13);
  EXPECT_NEAR(metrics::ssim3d(a, b, SsimOptions::paper()).mean, lum, 1e-13);
  // MS-SSIM: cs = 1 at the first four scales, the last is the luminance term.
  EXPECT_NEAR(metrics::ms_ssim3d(a, b).mean, std::pow(lum, 0.1333), 1e-13);
  EXPECT_NEAR(metrics::mse(a, b).mean, 0.04, 1e-15);
  EXPECT_NEAR(metrics::psnr(a, b).mean, -10 * std::log10(0.04), 1e-12);
  EXPECT_NEAR(metrics::psnr(a, b, 255.0).mean, 20 * std::log10(255.0) - 10 * std::log10(0.04),
              1e-12);
}

TEST(Metrics, OffsetOfATexturedVolumeKeepsContrast) {
  // b = a + c: the variances and covariance are equal, so cs = 1 everywhere and SSIM is the
  // mean luminance term (2 mu (mu + c) + c1) / (mu^2 + (mu + c)^2 + c1) < 1; PSNR = -20 log10 c.
  Generator gen(5);
  const Tensor a = rand({1, 1, 10, 11, 12}, gen, DType::F64);
  const Tensor b = add_scalar(a, 0.1);
  EXPECT_NEAR(metrics::psnr(a, b).mean, 20.0, 1e-9);
  MsSsimOptions m;
  m.weights = {1.0, 0.0};  // weight 0 at the last scale: only the first scale's cs = 1 counts
  EXPECT_NEAR(metrics::ms_ssim3d(a, b, m).mean, 1.0, 1e-9);
  const double s = metrics::ssim3d(a, b).mean;
  EXPECT_LT(s, 1.0);
  EXPECT_GT(s, 0.9);
}

TEST(Metrics, PublishedSizeRunsAndIsSymmetric) {
  // The course volume size: 5 scales fit for both windows (64 / 16 = 4 >= 4).
  Generator gen(7);
  const Tensor a = rand({1, 1, 64, 80, 64}, gen, DType::F32);
  const Tensor b = clamp(add(a, randn({1, 1, 64, 80, 64}, gen, DType::F32, 0.0, 0.05)), 0.0, 1.0);
  const double s = metrics::ssim3d(a, b).mean;
  EXPECT_NEAR(metrics::ssim3d(b, a).mean, s, 1e-12);
  EXPECT_GT(s, 0.0);
  EXPECT_LT(s, 1.0);
  MsSsimOptions m;
  m.ssim = SsimOptions::paper();
  const double ms = metrics::ms_ssim3d(a, b, m).mean;
  EXPECT_GT(ms, 0.0);
  EXPECT_LT(ms, 1.0);
}

TEST(Metrics, BadInputsAreRefused) {
  using testing::expect_error;
  Generator gen(1);
  const Tensor a = rand({1, 1, 8, 8, 8}, gen, DType::F64);
  const Tensor b = rand({1, 1, 8, 8, 9}, gen, DType::F64);
  expect_error([&] { metrics::ssim3d(a, b); }, {"ssim3d", "shapes differ", "(1, 1, 8, 8, 9)"});
  expect_error([&] { metrics::psnr(a, b); }, {"psnr", "shapes differ"});
  expect_error([&] { metrics::mse(a, b); }, {"mse", "shapes differ"});
  expect_error(
      [&] {
        metrics::ssim3d(a.reshape({1, 8, 8, 8}), a.reshape({1, 8, 8, 8}));
      },
      {"ssim3d", "(N, C, D, H, W)"});
  const Tensor thin = rand({1, 1, 8, 2, 8}, gen, DType::F64);
  expect_error([&] { metrics::ssim3d(thin, thin); }, {"ssim3d", "kernel_size 3"});
  expect_error([&] { metrics::ms_ssim3d(a, a); }, {"ms_ssim3d", "too small for 5 scales", ">= 48"});
  const Tensor v47 = rand({1, 1, 48, 47, 48}, gen, DType::F32);
  expect_error([&] { metrics::ms_ssim3d(v47, v47); }, {"ms_ssim3d", "too small"});
  MsSsimOptions none;
  none.weights.clear();
  expect_error([&] { metrics::ms_ssim3d(a, a, none); }, {"ms_ssim3d", "weight"});
  SsimOptions bad;
  bad.kernel_size = 0;
  expect_error([&] { metrics::ssim3d(a, a, bad); }, {"ssim3d", "kernel_size"});
  expect_error([&] { metrics::psnr(a, a, 0.0); }, {"psnr", "data_range"});
  expect_error([&] { metrics::ssim3d(Tensor(), a); }, {"ssim3d", "defined"});
}

}  // namespace
}  // namespace ldae
