#include "autograd/gradcheck.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <sstream>

#include "autograd/engine.h"
#include "autograd/no_grad.h"
#include "tensor/ops.h"

namespace ldae::ag {

namespace {

// Flat offsets (into storage, from data<double>()) of every element, in row-major order.
std::vector<int64_t> element_offsets(const Tensor& t) {
  std::vector<int64_t> offsets(t.numel());
  std::vector<int64_t> index(t.dim(), 0);
  for (int64_t i = 0; i < t.numel(); ++i) {
    int64_t off = 0;
    for (int64_t a = 0; a < t.dim(); ++a) off += index[a] * t.strides()[a];
    offsets[i] = off;
    for (int64_t a = t.dim() - 1; a >= 0; --a) {
      if (++index[a] < t.shape()[a]) break;
      index[a] = 0;
    }
  }
  return offsets;
}

double projected(const Tensor& out, const Tensor& r) {
  NoGrad no_grad;
  return ldae::sum(ldae::mul(out, r)).item();
}

}  // namespace

GradcheckResult gradcheck(const std::function<Tensor(const std::vector<Tensor>&)>& f,
                          const std::vector<Tensor>& inputs, const GradcheckOptions& opt) {
  for (const Tensor& x : inputs)
    if (x.defined())
      check(x.dtype() == DType::F64, "gradcheck", "inputs must be float64, got " + dtype_name(x.dtype()));

  // Analytic gradients of L = sum(f(x) * r).
  for (const Tensor& x : inputs)
    if (x.defined() && x.requires_grad()) x.set_grad(Tensor());
  const Tensor out = f(inputs);
  check(out.dtype() == DType::F64, "gradcheck", "f must return float64");
  std::mt19937_64 rng(opt.seed);
  std::normal_distribution<double> normal;
  std::vector<double> rv(out.numel());
  for (double& v : rv) v = normal(rng);
  const Tensor r = Tensor::from_vector(rv, out.shape(), DType::F64);
  backward(out, r);

  GradcheckResult result;
  for (size_t n = 0; n < inputs.size(); ++n) {
    const Tensor& x = inputs[n];
    if (!x.defined() || !x.requires_grad()) continue;
    const Tensor analytic = x.grad().defined() ? x.grad() : Tensor::zeros(x.shape(), DType::F64);
    const std::vector<double> a = analytic.to_vector();
    const std::vector<int64_t> offsets = element_offsets(x);
    std::vector<int64_t> order(offsets.size());
    std::iota(order.begin(), order.end(), 0);
    if (static_cast<int64_t>(order.size()) > opt.max_entries_per_input) {
      std::shuffle(order.begin(), order.end(), rng);
      order.resize(opt.max_entries_per_input);
    }
    double* p = x.mutable_data<double>();
    for (int64_t i : order) {
      // Perturb the element directly in memory (not an in-place op: no version bump,
      // since no graph built from these evaluations is ever differentiated).
      const double saved = p[offsets[i]];
      p[offsets[i]] = saved + opt.eps;
      const double up = projected(f(inputs), r);
      p[offsets[i]] = saved - opt.eps;
      const double down = projected(f(inputs), r);
      p[offsets[i]] = saved;
      const double numeric = (up - down) / (2 * opt.eps);
      if (!(std::fabs(a[i] - numeric) <= opt.atol + opt.rtol * std::fabs(numeric))) {
        std::ostringstream os;
        os << "input " << n << " " << shape_str(x.shape()) << ", element " << i
           << ": analytic " << a[i] << " vs numeric " << numeric;
        result.ok = false;
        result.message = os.str();
        return result;
      }
    }
  }
  return result;
}

}  // namespace ldae::ag
