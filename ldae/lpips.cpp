#include "ldae/lpips.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>

#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "tensor/error.h"
#include "tensor/safetensors.h"

namespace ldae::nets {
namespace {

// A module that only names children and buffers (the Sequential / ModuleList levels of
// the published layout: "net", "slice2", "lin0", "model", "scaling_layer").
class Group : public nn::Module {
 public:
  template <typename M>
  std::shared_ptr<M> add(const std::string& name, std::shared_ptr<M> child) {
    return register_module(name, std::move(child));
  }
  Tensor add_buffer(const std::string& name, Tensor t) {
    return register_buffer(name, std::move(t));
  }
};

std::shared_ptr<nn::Conv2d> conv(int64_t in, int64_t out, int64_t k, int64_t stride,
                                 int64_t padding, bool bias, Generator& gen) {
  nn::ConvOptions o;
  o.kernel_size = {k};
  o.stride = {stride};
  o.padding = {padding};
  o.bias = bias;
  return std::make_shared<nn::Conv2d>(in, out, o, gen);
}

// MaxPool2d(kernel 3, stride 2, ceil_mode = true), x: (N, C, H, W), H, W >= 2 ->
// (N, C, floor(H / 2), floor(W / 2)) (the ceil-mode size for this kernel and stride).
// Windows that reach past the end are padded with -inf. Composed from ag:: ops:
// m <- m + relu(t - m) over the 9 window offsets in row-major order, so a tie keeps the
// earlier element (relu'(0) = 0), as PyTorch's first-maximum rule.
Tensor max_pool_3x3_s2_ceil(const Tensor& x) {
  const int64_t h = x.size(2), w = x.size(3);
  check(h >= 2 && w >= 2, "Lpips",
        "an image became smaller than 2 x 2 before a max pool; inputs must be at least 17 x 17");
  const int64_t oh = h / 2, ow = w / 2;
  const int64_t ph = std::max<int64_t>(0, 2 * (oh - 1) + 3 - h);
  const int64_t pw = std::max<int64_t>(0, 2 * (ow - 1) + 3 - w);
  const Tensor xp =
      (ph > 0 || pw > 0) ? ag::pad(x, {0, pw, 0, ph}, -std::numeric_limits<double>::infinity()) : x;
  Tensor m;
  for (int64_t i = 0; i < 3; ++i)
    for (int64_t j = 0; j < 3; ++j) {
      const Tensor t =
          ag::slice(ag::slice(xp, 2, i, i + 2 * (oh - 1) + 1, 2), 3, j, j + 2 * (ow - 1) + 1, 2);
      m = m.defined() ? ag::add(m, ag::relu(ag::sub(t, m))) : t;
    }
  return m;
}

// f / (sqrt(sum_c f^2) + 1e-10), per pixel: (N, C, H, W).
Tensor unit_channels(const Tensor& f) {
  const Tensor norm = ag::sqrt(ag::sum(ag::mul(f, f), {1}, true));
  return ag::div(f, ag::add_scalar(norm, 1e-10));
}

}  // namespace

LpipsFire::LpipsFire(int64_t in, int64_t squeeze, int64_t e1, int64_t e3, Generator& gen) {
  squeeze_ = register_module("squeeze", conv(in, squeeze, 1, 1, 0, true, gen));
  expand1x1_ = register_module("expand1x1", conv(squeeze, e1, 1, 1, 0, true, gen));
  expand3x3_ = register_module("expand3x3", conv(squeeze, e3, 3, 1, 1, true, gen));
}

Tensor LpipsFire::forward(const Tensor& x) const {
  const Tensor t = ag::relu(squeeze_->forward(x));
  return ag::cat({ag::relu(expand1x1_->forward(t)), ag::relu(expand3x3_->forward(t))}, 1);
}

Lpips::Lpips(Generator& gen) {
  auto scaling = register_module("scaling_layer", std::make_shared<Group>());
  shift = scaling->add_buffer("shift", Tensor::from_vector({-0.030, -0.088, -0.188}, {1, 3, 1, 1}));
  scale = scaling->add_buffer("scale", Tensor::from_vector({0.458, 0.448, 0.450}, {1, 3, 1, 1}));

  auto net = register_module("net", std::make_shared<Group>());
  std::array<std::shared_ptr<Group>, 7> slices;
  for (size_t k = 0; k < 7; ++k)
    slices[k] = net->add("slice" + std::to_string(k + 1), std::make_shared<Group>());
  conv0_ = slices[0]->add("0", conv(3, 64, 3, 2, 0, true, gen));
  // (slice, feature index, in, squeeze, expand1x1, expand3x3) of torchvision's squeezenet1_1
  struct FireSpec {
    size_t slice;
    int index;
    int64_t in, s, e1, e3;
  };
  const FireSpec specs[8] = {{1, 3, 64, 16, 64, 64},     {1, 4, 128, 16, 64, 64},
                             {2, 6, 128, 32, 128, 128},  {2, 7, 256, 32, 128, 128},
                             {3, 9, 256, 48, 192, 192},  {4, 10, 384, 48, 192, 192},
                             {5, 11, 384, 64, 256, 256}, {6, 12, 512, 64, 256, 256}};
  for (size_t i = 0; i < 8; ++i) {
    const FireSpec& f = specs[i];
    fires_[i] = slices[f.slice]->add(std::to_string(f.index),
                                     std::make_shared<LpipsFire>(f.in, f.s, f.e1, f.e3, gen));
  }
  NoGrad no_grad;  // the lin weights are overwritten in place below
  for (size_t k = 0; k < 7; ++k) {
    auto lin = register_module("lin" + std::to_string(k), std::make_shared<Group>());
    auto model = lin->add("model", std::make_shared<Group>());
    lins_[k] = model->add("1", conv(kLpipsTapChannels[k], 1, 1, 1, 0, false, gen));
    const double c = static_cast<double>(kLpipsTapChannels[k]);
    lins_[k]->weight.copy_(rand(lins_[k]->weight.shape(), gen, DType::F32, 0.0, 1.0 / c));
  }
  set_requires_grad(false);
  eval();
}

std::vector<Tensor> Lpips::features(const Tensor& x) const {
  const Tensor h0 = ag::div(ag::sub(x, shift), scale);  // (N, 3, H, W)
  std::vector<Tensor> taps;
  taps.push_back(ag::relu(conv0_->forward(h0)));                                              // 64
  taps.push_back(fires_[1]->forward(fires_[0]->forward(max_pool_3x3_s2_ceil(taps.back()))));  // 128
  taps.push_back(fires_[3]->forward(fires_[2]->forward(max_pool_3x3_s2_ceil(taps.back()))));  // 256
  taps.push_back(fires_[4]->forward(max_pool_3x3_s2_ceil(taps.back())));                      // 384
  taps.push_back(fires_[5]->forward(taps.back()));                                            // 384
  taps.push_back(fires_[6]->forward(taps.back()));                                            // 512
  taps.push_back(fires_[7]->forward(taps.back()));                                            // 512
  return taps;
}

Tensor Lpips::forward(const Tensor& x, const Tensor& y) const {
  check(x.defined() && y.defined(), "Lpips", "needs two defined images");
  check(x.dim() == 4 && (x.size(1) == 1 || x.size(1) == 3), "Lpips",
        "expects (N, 1 or 3, H, W) images, got " + shape_str(x.shape()));
  check(x.shape() == y.shape(), "Lpips",
        "image shapes differ: " + shape_str(x.shape()) + " vs " + shape_str(y.shape()));
  check(x.size(2) >= 17 && x.size(3) >= 17, "Lpips",
        "images must be at least 17 x 17 (SqueezeNet's three max pools), got " +
            shape_str(x.shape()));
  check(x.dtype() == shift.dtype() && y.dtype() == shift.dtype(), "Lpips",
        "image dtype differs from the network's (convert the network with to(dtype))");
  const std::vector<Tensor> fx = features(x), fy = features(y);
  Tensor total;
  for (size_t k = 0; k < fx.size(); ++k) {
    const Tensor d = ag::sub(unit_channels(fx[k]), unit_channels(fy[k]));
    const Tensor l = lins_[k]->forward(ag::mul(d, d));  // (N, 1, H_k, W_k)
    const Tensor m = ag::mean(l, {1, 2, 3});            // (N)
    total = total.defined() ? ag::add(total, m) : m;
  }
  return total;
}

void load_lpips_weights(Lpips& lpips, const std::string& path) {
  const SafetensorsFile f = read_safetensors(path);
  for (size_t k = 0; k < 7; ++k) {
    const std::string key = "lin" + std::to_string(k) + ".model.1.weight";
    const auto it = f.tensors.find(key);
    if (it == f.tensors.end()) continue;  // reported as missing by the strict load below
    const std::vector<double> v = it->second.to_vector();
    check(std::all_of(v.begin(), v.end(), [](double w) { return w >= 0.0; }), "load_lpips_weights",
          path + ": " + key + " has negative entries (LPIPS lin weights are non-negative)");
  }
  try {
    lpips.load_state_dict(f.tensors, true);
  } catch (const Error& e) {
    fail("load_lpips_weights", path +
                                   ": not an LPIPS SqueezeNet state dict (tools/convert_lpips.py " +
                                   "writes one): " + e.what());
  }
}

std::vector<int64_t> random_permutation(int64_t n, Generator& gen) {
  check(n >= 1, "random_permutation", "n must be positive, got " + std::to_string(n));
  const std::vector<double> u = rand({n}, gen, DType::F64).to_vector();
  std::vector<int64_t> p(static_cast<size_t>(n));
  std::iota(p.begin(), p.end(), 0);
  std::stable_sort(p.begin(), p.end(), [&](int64_t a, int64_t b) {
    return u[static_cast<size_t>(a)] < u[static_cast<size_t>(b)];
  });
  return p;
}

Tensor perceptual_loss_25d(const Tensor& x, const Tensor& y, const Lpips& lpips, double ratio,
                           Generator& gen) {
  const std::string op = "perceptual_loss_25d";
  check(x.defined() && y.defined(), op, "needs two defined volumes");
  check(x.dim() == 5 && (x.size(1) == 1 || x.size(1) == 3), op,
        "expects (N, 1 or 3, D, H, W) volumes, got " + shape_str(x.shape()));
  check(x.shape() == y.shape(), op,
        "shapes differ: " + shape_str(x.shape()) + " vs " + shape_str(y.shape()));
  check(ratio > 0.0 && ratio <= 1.0, op, "ratio must be in (0, 1], got " + std::to_string(ratio));
  for (int64_t a = 2; a < 5; ++a)
    check(x.size(a) >= 17, op,
          "every spatial size must be >= 17 (LPIPS SqueezeNet), got " + shape_str(x.shape()));
  const int64_t n = x.size(0), c = x.size(1);
  Tensor total;
  for (int64_t axis = 2; axis < 5; ++axis) {
    std::vector<int64_t> others;
    for (int64_t a = 2; a < 5; ++a)
      if (a != axis) others.push_back(a);
    const std::vector<int64_t> perm = {0, axis, 1, others[0], others[1]};
    const int64_t s = x.size(axis);
    const Shape slices_shape = {n * s, c, x.size(others[0]), x.size(others[1])};
    // (N, S, C, P, Q) -> (N * S, C, P, Q): slice j of sample i is row i * S + j
    const Tensor xs = ag::reshape(ag::contiguous(ag::permute(x, perm)), slices_shape);
    const Tensor ys = ag::reshape(ag::contiguous(ag::permute(y, perm)), slices_shape);
    const int64_t count = static_cast<int64_t>(std::floor(static_cast<double>(n * s) * ratio));
    check(count >= 1, op,
          "ratio " + std::to_string(ratio) + " selects no slice of the " + std::to_string(n * s) +
              " along axis " + std::to_string(axis));
    const std::vector<int64_t> order = random_permutation(n * s, gen);
    std::vector<Tensor> px, py;
    for (int64_t i = 0; i < count; ++i) {
      const int64_t r = order[static_cast<size_t>(i)];
      px.push_back(ag::slice(xs, 0, r, r + 1));
      py.push_back(ag::slice(ys, 0, r, r + 1));
    }
    const Tensor axis_loss = ag::mean(lpips.forward(ag::cat(px, 0), ag::cat(py, 0)));
    total = total.defined() ? ag::add(total, axis_loss) : axis_loss;
  }
  return total;
}

}  // namespace ldae::nets
