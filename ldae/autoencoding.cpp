#include "ldae/autoencoding.h"

#include <cmath>
#include <sstream>
#include <utility>

#include "autograd/no_grad.h"
#include "tensor/error.h"
#include "tensor/ops.h"

namespace ldae::infer {

namespace {

// Puts a module into eval mode for a scope and back into train mode afterwards if it was
// training. `set` switches the mode (ShiftUNet: train_shift, which keeps the frozen part in
// eval mode).
class EvalScope {
 public:
  EvalScope(nn::Module& m, std::function<void(bool)> set) : set_(std::move(set)), was_(m.is_training()) {
    if (was_) set_(false);
  }
  ~EvalScope() {
    if (was_) set_(true);
  }
  EvalScope(const EvalScope&) = delete;
  EvalScope& operator=(const EvalScope&) = delete;

 private:
  std::function<void(bool)> set_;
  bool was_;
};

EvalScope eval_scope(nets::ShiftUNet& net) {
  return EvalScope(net, [&net](bool on) { net.train_shift(on); });
}
EvalScope eval_scope(nn::Module& m) {
  return EvalScope(m, [&m](bool on) { m.train(on); });
}

std::string shape_of(const Tensor& t) { return t.defined() ? shape_str(t.shape()) : std::string("undefined"); }

// The total downsampling of the UNet on (d, h, w).
std::vector<int64_t> unet_factors(const nets::UNetOptions& o) {
  const int64_t f = int64_t(1) << (o.channel_multiplier.size() - 1);
  return {o.isotropic_resampling ? f : 1, f, f};
}

}  // namespace

// ---- Checks and the denoiser --------------------------------------------------------------

void check_latent(const std::string& op, const nets::ShiftUNet& net, const Tensor& latent) {
  const nets::UNetOptions& u = net.options().unet;
  const std::vector<int64_t> f = unet_factors(u);
  std::ostringstream want;
  want << "(N, " << u.input_channel << ", d, h, w) with " << (f[0] > 1 ? "d, h and w" : "h and w") << " divisible by "
       << f[1];
  check(latent.defined() && latent.dim() == 5 && latent.size(1) == u.input_channel && latent.size(0) >= 1, op,
        "the latent is " + shape_of(latent) + ", the ShiftUNet takes " + want.str());
  for (int i = 0; i < 3; ++i)
    check(latent.size(2 + i) >= 1 && latent.size(2 + i) % f[static_cast<size_t>(i)] == 0, op,
          "the latent is " + shape_of(latent) + ", the ShiftUNet takes " + want.str());
}

void check_code(const std::string& op, const nets::ShiftUNet& net, const Tensor& y_sem, int64_t n) {
  const int64_t e = net.options().latent_dim;
  check(y_sem.defined() && y_sem.dim() == 2 && y_sem.size(0) == n && y_sem.size(1) == e, op,
        "y_sem is " + shape_of(y_sem) + ", expected (" + std::to_string(n) + ", " + std::to_string(e) +
            "): one code of the ShiftUNet's width " + std::to_string(e) + " per latent");
}

ConditionalDenoiser shift_denoiser(const nets::ShiftUNet& net) {
  return [&net](const Tensor& x_t, int64_t t, const Tensor& y_sem) {
    const Tensor ts = Tensor::full({x_t.size(0)}, static_cast<double>(t), x_t.dtype(), x_t.device());
    auto [eps, shift] = net.forward(x_t, ts, y_sem.to(x_t.dtype()));
    return diffusion::EpsAndShift{eps, shift};
  };
}

ConditionalDenoiser unshifted_denoiser(const nets::ShiftUNet& net) {
  ConditionalDenoiser full = shift_denoiser(net);
  return [full](const Tensor& x_t, int64_t t, const Tensor& y_sem) {
    diffusion::EpsAndShift r = full(x_t, t, y_sem);
    r.shift = Tensor();  // undefined: the DDIM step adds no shift
    return r;
  };
}

// ---- Options ------------------------------------------------------------------------------

AutoencodingOptions AutoencodingOptions::published(int64_t steps) {
  AutoencodingOptions o;
  o.encode_steps = o.decode_steps = steps;
  o.clamp = diffusion::X0Clamp::at(1.0);
  o.shift_coefficient = diffusion::ShiftCoefficient::Reference;
  return o;
}

AutoencodingOptions AutoencodingOptions::fixed(int64_t steps) {
  AutoencodingOptions o;
  o.encode_steps = o.decode_steps = steps;
  o.clamp = diffusion::X0Clamp::off();
  o.shift_coefficient = diffusion::ShiftCoefficient::Training;
  return o;
}

AutoencodingOptions AutoencodingOptions::in_space(const DiffusionSpace& space) const {
  AutoencodingOptions o = *this;
  o.image_space = space.image_space();
  return o;
}

diffusion::X0Clamp data_range_clamp(bool image_space) {
  return image_space ? diffusion::X0Clamp::at(1.0) : diffusion::X0Clamp::off();
}

diffusion::X0Clamp AutoencodingOptions::x0_clamp() const {
  if (clamp_images && clamp.mode == diffusion::X0Clamp::Mode::Off) return data_range_clamp(image_space);
  return clamp;
}

diffusion::DdimOptions AutoencodingOptions::ddim(const std::string& phase) const {
  check(phase == "encode" || phase == "decode", "AutoencodingOptions::ddim",
        "phase must be \"encode\" or \"decode\", got \"" + phase + "\"");
  diffusion::DdimOptions d;
  d.steps = phase == "encode" ? encode_steps : decode_steps;
  d.eta = 0.0;
  d.clamp = x0_clamp();
  d.shift_coefficient = shift_coefficient;
  d.stop_percent = 0.0;
  if (on_step) {
    auto cb = on_step;
    d.on_step = [cb, phase](int64_t done, int64_t total) { cb(phase, done, total); };
  }
  return d;
}

std::string AutoencodingOptions::name() const {
  const bool ref = shift_coefficient == diffusion::ShiftCoefficient::Reference;
  const bool clamp1 = clamp.mode == diffusion::X0Clamp::Mode::Value && clamp.value == 1.0;
  const bool off = clamp.mode == diffusion::X0Clamp::Mode::Off;
  if (ref && clamp1) return "published";
  if (!ref && off) return "fixed";
  return "custom";
}

// ---- The stages of the pipeline -------------------------------------------------------------

Tensor semantic_code(nets::AttentionSemanticEncoder& encoder, const Tensor& volume) {
  const int64_t slices = encoder.options().seq_len;
  check(volume.defined() && volume.dim() == 5 && volume.size(1) == 1 && volume.size(0) >= 1, "semantic_code",
        "expected a volume (N, 1, X, Y, Z), got " + shape_of(volume));
  check(volume.size(4) == slices, "semantic_code",
        "the volume " + shape_str(volume.shape()) + " has " + std::to_string(volume.size(4)) +
            " axial slices (its last axis, Z), the encoder was built for " + std::to_string(slices));
  NoGrad no_grad;
  EvalScope scope = eval_scope(encoder);
  // (N, 1, X, Y, Z) -> (N, 1, Z, X, Y): Z slices of X x Y, the layout the encoder reads.
  return encoder.forward(nets::axial_slices(volume.detach()));  // (N, E)
}

Tensor scaled_latent(nets::AutoencoderKL& autoencoder, const Tensor& volume, double scale_factor) {
  check(std::isfinite(scale_factor) && scale_factor > 0, "scaled_latent",
        "the scale factor must be positive and finite, got " + std::to_string(scale_factor));
  check(volume.defined() && volume.dim() == 5 && volume.size(1) == autoencoder.options().in_channels,
        "scaled_latent",
        "expected a volume (N, " + std::to_string(autoencoder.options().in_channels) + ", X, Y, Z), got " +
            shape_of(volume));
  NoGrad no_grad;
  EvalScope scope = eval_scope(autoencoder);
  return mul_scalar(autoencoder.encode(volume.detach()).first, scale_factor);  // (N, C, d, h, w)
}

Tensor encode_xT(const ConditionalDenoiser& fn, const diffusion::Schedule& schedule, const Tensor& scaled_latent,
                 const Tensor& y_sem, const diffusion::DdimOptions& o) {
  check(scaled_latent.defined() && y_sem.defined() && y_sem.dim() == 2 && y_sem.size(0) == scaled_latent.size(0),
        "encode_xT", "y_sem " + shape_of(y_sem) + " must be (N, E) for the latent " + shape_of(scaled_latent));
  const Tensor y = y_sem.detach();
  const diffusion::ShiftedEpsFn f = [&fn, &y](const Tensor& x, int64_t t) { return fn(x, t, y); };
  return diffusion::ddim_encode_shifted(schedule, scaled_latent, f, o);
}

Tensor encode_xT(nets::ShiftUNet& net, const diffusion::Schedule& schedule, const Tensor& scaled_latent,
                 const Tensor& y_sem, const diffusion::DdimOptions& o) {
  check_latent("encode_xT", net, scaled_latent);
  check_code("encode_xT", net, y_sem, scaled_latent.size(0));
  EvalScope scope = eval_scope(net);
  return encode_xT(shift_denoiser(net), schedule, scaled_latent, y_sem, o);
}

Tensor decode_latent(const ConditionalDenoiser& fn, const diffusion::Schedule& schedule, const Tensor& x_T,
                     const Tensor& y_sem, const diffusion::DdimOptions& o) {
  check(x_T.defined() && y_sem.defined() && y_sem.dim() == 2 && y_sem.size(0) == x_T.size(0), "decode_latent",
        "y_sem " + shape_of(y_sem) + " must be (N, E) for x_T " + shape_of(x_T));
  check(o.eta == 0, "decode_latent", "only deterministic DDIM (eta = 0) is supported here");
  const Tensor y = y_sem.detach();
  const diffusion::ShiftedEpsFn f = [&fn, &y](const Tensor& x, int64_t t) { return fn(x, t, y); };
  return diffusion::ddim_sample_shifted(schedule, x_T, f, o);
}

Tensor decode_latent(nets::ShiftUNet& net, const diffusion::Schedule& schedule, const Tensor& x_T,
                     const Tensor& y_sem, const diffusion::DdimOptions& o) {
  check_latent("decode_latent", net, x_T);
  check_code("decode_latent", net, y_sem, x_T.size(0));
  EvalScope scope = eval_scope(net);
  return decode_latent(shift_denoiser(net), schedule, x_T, y_sem, o);
}

Tensor to_image(nets::AutoencoderKL& autoencoder, const Tensor& scaled_latent, double scale_factor) {
  check(std::isfinite(scale_factor) && scale_factor > 0, "to_image",
        "the scale factor must be positive and finite, got " + std::to_string(scale_factor));
  const int64_t c = autoencoder.options().latent_channels;
  const int64_t dims = autoencoder.options().spatial_dims;
  check(scaled_latent.defined() && scaled_latent.dim() == dims + 2 && scaled_latent.size(1) == c, "to_image",
        "the latent is " + shape_of(scaled_latent) + ", the autoencoder decodes (N, " + std::to_string(c) +
            ", spatial...) with " + std::to_string(dims) + " spatial axes");
  NoGrad no_grad;
  EvalScope scope = eval_scope(autoencoder);
  return autoencoder.decode(mul_scalar(scaled_latent.detach(), 1.0 / scale_factor));
}

// ---- The diffusion space -----------------------------------------------------------------------

Tensor image_to_diffusion(const Tensor& volume, double scale_factor) {
  return mul_scalar(add_scalar(mul_scalar(volume.detach(), 2.0), -1.0), scale_factor);
}

Tensor diffusion_to_image(const Tensor& z, double scale_factor) {
  return mul_scalar(add_scalar(mul_scalar(z.detach(), 1.0 / scale_factor), 1.0), 0.5);
}

Tensor scaled_latent(const DiffusionSpace& space, const Tensor& volume) {
  if (!space.image_space()) return scaled_latent(*space.autoencoder, volume, space.scale_factor);
  check(std::isfinite(space.scale_factor) && space.scale_factor > 0, "scaled_latent",
        "the scale factor must be positive and finite, got " + std::to_string(space.scale_factor));
  check(volume.defined() && volume.dim() == 5 && volume.size(1) == 1, "scaled_latent",
        "expected a volume (N, 1, X, Y, Z), got " + shape_of(volume));
  NoGrad no_grad;
  return image_to_diffusion(volume, space.scale_factor);  // (N, 1, X, Y, Z)
}

Tensor to_image(const DiffusionSpace& space, const Tensor& z) {
  if (!space.image_space()) return to_image(*space.autoencoder, z, space.scale_factor);
  check(std::isfinite(space.scale_factor) && space.scale_factor > 0, "to_image",
        "the scale factor must be positive and finite, got " + std::to_string(space.scale_factor));
  check(z.defined() && z.dim() == 5 && z.size(1) == 1, "to_image",
        "the image-space sample is " + shape_of(z) + ", expected (N, 1, X, Y, Z)");
  NoGrad no_grad;
  return diffusion_to_image(z, space.scale_factor);
}

// ---- Reconstruction ----------------------------------------------------------------------------

std::string mode_name(Mode mode) { return mode == Mode::Encoded ? "encoded" : "semantic"; }

Mode parse_mode(const std::string& name) {
  if (name == "encoded") return Mode::Encoded;
  if (name == "semantic") return Mode::Semantic;
  fail("reconstruct", "unknown mode \"" + name + "\" (valid: encoded, semantic)");
}

Reconstruction reconstruct(LdaeModel& model, const Tensor& volume, Mode mode, const AutoencodingOptions& options,
                           Generator* gen) {
  check(model.shift_unet && model.encoder, "reconstruct",
        "the model lacks a network (shift_unet and encoder are needed, and the autoencoder for a latent model)");
  check(volume.defined() && volume.dim() == 5, "reconstruct",
        "expected a volume (N, 1, X, Y, Z), got " + shape_of(volume));
  if (!model.image_shape.empty()) {
    const Shape s{volume.size(2), volume.size(3), volume.size(4)};
    check(s == model.image_shape, "reconstruct",
          "the volume is " + shape_str(s) + " (X, Y, Z), the networks were trained on " +
              shape_str(model.image_shape));
  }
  // Checked here too (reconstruct_from does) so that a missing generator fails before the encoders run.
  check(mode == Mode::Encoded || gen != nullptr, "reconstruct", "semantic mode needs a Generator to draw x_T");
  const Tensor y_sem = semantic_code(*model.encoder, volume);   // (N, E)
  const Tensor latent = scaled_latent(model.space(), volume);   // (N, C, d, h, w)
  Reconstruction r = reconstruct_from(model, latent, y_sem, mode, options, gen);
  r.autoencoder_image = to_image(model.space(), r.latent);
  return r;
}

Reconstruction reconstruct_from(LdaeModel& model, const Tensor& latent, const Tensor& y_sem, Mode mode,
                                const AutoencodingOptions& options, Generator* gen) {
  const AutoencodingOptions o = options.in_space(model.space());
  check(model.shift_unet && model.encoder, "reconstruct",
        "the model lacks a network (shift_unet and encoder are needed, and the autoencoder for a latent model)");
  check(mode == Mode::Encoded || gen != nullptr, "reconstruct", "semantic mode needs a Generator to draw x_T");
  Reconstruction r;
  r.y_sem = y_sem;    // (N, E)
  r.latent = latent;  // (N, C, d, h, w)
  check_latent("reconstruct", *model.shift_unet, r.latent);
  check_code("reconstruct", *model.shift_unet, r.y_sem, r.latent.size(0));
  const ConditionalDenoiser fn =
      o.semantic_shift ? shift_denoiser(*model.shift_unet) : unshifted_denoiser(*model.shift_unet);
  if (mode == Mode::Encoded) {
    r.x_T = encode_xT(fn, model.schedule, r.latent, r.y_sem, o.ddim("encode"));
  } else {
    r.x_T = randn(r.latent.shape(), *gen, r.latent.dtype(), 0.0, 1.0, r.latent.device());
  }
  r.recon_latent = decode_latent(fn, model.schedule, r.x_T, r.y_sem, o.ddim("decode"));
  r.image = to_image(model.space(), r.recon_latent);
  return r;
}

std::vector<Tensor> vary(nets::ShiftUNet& net, const diffusion::Schedule& schedule, const Tensor& y_sem,
                         const Shape& latent_shape, int64_t count, const diffusion::DdimOptions& o, Generator& gen) {
  check(count >= 1, "vary", "count must be >= 1, got " + std::to_string(count));
  check(latent_shape.size() == 5, "vary", "the latent shape must be (N, C, d, h, w), got " + shape_str(latent_shape));
  check_latent("vary", net, Tensor::zeros(latent_shape));  // shape only
  check_code("vary", net, y_sem, latent_shape[0]);
  std::vector<Tensor> out;
  for (int64_t k = 0; k < count; ++k) {
    const Tensor x_T = randn(latent_shape, gen, y_sem.dtype(), 0.0, 1.0, y_sem.device());
    out.push_back(decode_latent(net, schedule, x_T, y_sem, o));
  }
  return out;
}

// ---- Manipulation -------------------------------------------------------------------------------

namespace {

// An (E) or (1, E) tensor as E doubles; throws naming `what` otherwise.
std::vector<double> row_vector(const std::string& op, const Tensor& t, int64_t e, const std::string& what) {
  const bool ok = t.defined() && ((t.dim() == 1 && t.size(0) == e) || (t.dim() == 2 && t.size(0) == 1 && t.size(1) == e));
  check(ok, op, what + " is " + shape_of(t) + ", expected (" + std::to_string(e) + ") or (1, " + std::to_string(e) + ")");
  return t.to_vector();
}

}  // namespace

Tensor manipulate_code(const Tensor& y, const Tensor& w, double alpha, const Tensor& mean, const Tensor& std) {
  const std::string op = "manipulate_code";
  check(y.defined() && y.dim() == 2, op, "y must be (N, E), got " + shape_of(y));
  check(std::isfinite(alpha), op, "alpha must be finite");
  check(mean.defined() == std.defined(), op, "give both the mean and the std of the probe's z-scoring, or neither");
  const int64_t n = y.size(0), e = y.size(1);
  const std::vector<double> wv = row_vector(op, w, e, "the direction w");
  double norm = 0;
  for (double v : wv) norm += v * v;
  norm = std::sqrt(norm);
  check(norm > 0 && std::isfinite(norm), op, "the direction w has norm 0 (or is not finite)");
  const double step = alpha * std::sqrt(static_cast<double>(e)) / norm;
  if (alpha == 0.0 && !mean.defined()) return y.detach().clone();
  std::vector<double> mu(static_cast<size_t>(e), 0.0), sd(static_cast<size_t>(e), 1.0);
  if (mean.defined()) {
    mu = row_vector(op, mean, e, "the mean");
    sd = row_vector(op, std, e, "the std");
    for (int64_t j = 0; j < e; ++j)
      check(sd[static_cast<size_t>(j)] > 0 && std::isfinite(sd[static_cast<size_t>(j)]), op,
            "std[" + std::to_string(j) + "] = " + std::to_string(sd[static_cast<size_t>(j)]) + " is not positive");
  }
  std::vector<double> yv = y.to_vector();
  for (int64_t i = 0; i < n; ++i)
    for (int64_t j = 0; j < e; ++j) {
      const size_t k = static_cast<size_t>(i * e + j), jj = static_cast<size_t>(j);
      if (mean.defined()) {
        const double z = (yv[k] - mu[jj]) / sd[jj] + step * wv[jj];
        yv[k] = z * sd[jj] + mu[jj];
      } else {
        yv[k] += step * wv[jj];
      }
    }
  return Tensor::from_vector(yv, y.shape(), y.dtype()).to(y.device());
}

Tensor manipulate(nets::ShiftUNet& net, const diffusion::Schedule& schedule, const Tensor& y_sem,
                  const Tensor& x_T, const Tensor& w, double alpha, const diffusion::DdimOptions& o,
                  const Tensor& mean, const Tensor& std) {
  check_latent("manipulate", net, x_T);
  check_code("manipulate", net, y_sem, x_T.size(0));
  return decode_latent(net, schedule, x_T, manipulate_code(y_sem, w, alpha, mean, std), o);
}

// ---- Interpolation ------------------------------------------------------------------------------

Tensor slerp(const Tensor& a, const Tensor& b, double alpha) {
  check(a.defined() && b.defined() && a.shape() == b.shape() && a.dim() >= 1, "slerp",
        "a " + shape_of(a) + " and b " + shape_of(b) + " must have the same (N, ...) shape");
  check(std::isfinite(alpha), "slerp", "alpha must be finite");
  const int64_t n = a.size(0), m = a.numel() / std::max<int64_t>(n, 1);
  const std::vector<double> av = a.to_vector(), bv = b.to_vector();
  std::vector<double> out(av.size());
  for (int64_t i = 0; i < n; ++i) {
    const double* x = av.data() + i * m;
    const double* y = bv.data() + i * m;
    double xx = 0, yy = 0, xy = 0;
    for (int64_t j = 0; j < m; ++j) {
      xx += x[j] * x[j];
      yy += y[j] * y[j];
      xy += x[j] * y[j];
    }
    check(xx > 0 && yy > 0, "slerp", "sample " + std::to_string(i) + ": a zero vector has no direction");
    const double c = std::max(-1.0, std::min(1.0, xy / std::sqrt(xx * yy)));
    const double theta = std::acos(c);
    const double s = std::sin(theta);
    double ca, cb;
    if (s < 1e-6) {
      check(theta < 1.5707963267948966, "slerp",
            "sample " + std::to_string(i) + ": a and b point in opposite directions (no unique great circle)");
      ca = 1.0 - alpha;  // parallel: the formula's limit
      cb = alpha;
    } else {
      ca = std::sin((1.0 - alpha) * theta) / s;
      cb = std::sin(alpha * theta) / s;
    }
    if (alpha == 0.0) ca = 1.0, cb = 0.0;  // the endpoints exactly
    if (alpha == 1.0) ca = 0.0, cb = 1.0;
    double* o = out.data() + i * m;
    for (int64_t j = 0; j < m; ++j) o[j] = ca * x[j] + cb * y[j];
  }
  return Tensor::from_vector(out, a.shape(), a.dtype()).to(a.device());
}

std::vector<Tensor> interpolate(nets::ShiftUNet& net, const diffusion::Schedule& schedule, const Tensor& y_A,
                                const Tensor& y_B, const Tensor& xT_A, const Tensor& xT_B,
                                const std::vector<double>& alphas, const diffusion::DdimOptions& o) {
  check_latent("interpolate", net, xT_A);
  check(xT_B.defined() && xT_B.shape() == xT_A.shape(), "interpolate",
        "x_T of B " + shape_of(xT_B) + " differs from x_T of A " + shape_of(xT_A));
  check_code("interpolate", net, y_A, xT_A.size(0));
  check_code("interpolate", net, y_B, xT_A.size(0));
  check(!alphas.empty(), "interpolate", "give at least one alpha");
  std::vector<Tensor> out;
  for (double alpha : alphas) {
    const Tensor y = add(mul_scalar(y_A.detach(), 1.0 - alpha), mul_scalar(y_B.detach(), alpha));  // LERP
    out.push_back(decode_latent(net, schedule, slerp(xT_A, xT_B, alpha), y, o));
  }
  return out;
}

}  // namespace ldae::infer
