// The op table of the reference runner: one entry per PyTorch function name, mapping
// the case's inputs (in0, in1, ...) and keyword arguments (named as in PyTorch's
// signature, defaults as in PyTorch) to the framework's ag:: op.
//
// To add an op: add one line { "torch_name", {min_inputs, max_inputs, lambda} }.
// A keyword argument the lambda does not read makes the case SKIP (so that no argument
// is ignored silently); a PyTorch feature we lack should throw Unsupported (SKIP).
#include <algorithm>

#include "autograd/functions.h"
#include "tests/reference/reference_runner.h"

namespace ldae::reference {

namespace {

using In = std::vector<Tensor>;
using Out = std::vector<Tensor>;

// in[k], or an undefined tensor (PyTorch's None) when the case has fewer inputs.
Tensor optional_input(const In& in, size_t k) { return k < in.size() ? in[k] : Tensor(); }

// An op of one tensor and no keyword arguments, e.g. exp.
OpEntry unary(Tensor (*f)(const Tensor&)) {
  return {1, 1, [f](const In& in, const Kwargs&) { return Out{f(in[0])}; }};
}

// An op of two tensors and no keyword arguments, e.g. add (broadcasting).
OpEntry binary(Tensor (*f)(const Tensor&, const Tensor&)) {
  return {2, 2, [f](const In& in, const Kwargs&) { return Out{f(in[0], in[1])}; }};
}

// conv2d / conv3d(input, weight, bias=None, stride=1, padding=0, dilation=1, groups=1).
OpEntry conv(int rank) {
  return {2, 3, [rank](const In& in, const Kwargs& kw) {
            ConvParams p;
            p.stride = kw.get_ints_n("stride", rank, 1);
            p.padding = kw.get_ints_n("padding", rank, 0);
            p.dilation = kw.get_ints_n("dilation", rank, 1);
            p.groups = kw.get_int("groups", 1);
            const Tensor bias = optional_input(in, 2);
            return Out{rank == 2 ? ag::conv2d(in[0], in[1], bias, p)
                                 : ag::conv3d(in[0], in[1], bias, p)};
          }};
}

// mse_loss / l1_loss / binary_cross_entropy_with_logits(input, target, reduction="mean").
OpEntry loss(Tensor (*f)(const Tensor&, const Tensor&, const std::string&)) {
  return {2, 2, [f](const In& in, const Kwargs& kw) {
            return Out{f(in[0], in[1], kw.get_string("reduction", "mean"))};
          }};
}

}  // namespace

const std::map<std::string, OpEntry>& op_table() {
  static const std::map<std::string, OpEntry> table = {
      // ---- Elementwise ----
      {"add", binary(ag::add)},
      {"sub", binary(ag::sub)},
      {"mul", binary(ag::mul)},
      {"div", binary(ag::div)},
      {"neg", unary(ag::neg)},
      {"exp", unary(ag::exp)},
      {"log", unary(ag::log)},
      {"sqrt", unary(ag::sqrt)},
      {"abs", unary(ag::abs)},
      {"tanh", unary(ag::tanh)},
      {"sigmoid", unary(ag::sigmoid)},
      {"relu", unary(ag::relu)},
      {"silu", unary(ag::silu)},
      {"pow", {1, 1, [](const In& in, const Kwargs& kw) {
                 return Out{ag::pow(in[0], kw.get_double("exponent"))};
               }}},
      {"leaky_relu", {1, 1, [](const In& in, const Kwargs& kw) {
                        return Out{ag::leaky_relu(in[0], kw.get_double("negative_slope", 0.01))};
                      }}},
      {"gelu", {1, 1, [](const In& in, const Kwargs& kw) {
                  return Out{ag::gelu(in[0], kw.get_string("approximate", "none"))};
                }}},

      // ---- Reductions: no `dim` = all axes ----
      {"sum", {1, 1, [](const In& in, const Kwargs& kw) {
                 return Out{ag::sum(in[0], kw.get_ints("dim", {}), kw.get_bool("keepdim", false))};
               }}},
      {"mean", {1, 1, [](const In& in, const Kwargs& kw) {
                  return Out{ag::mean(in[0], kw.get_ints("dim", {}), kw.get_bool("keepdim", false))};
                }}},
      {"logsumexp", {1, 1, [](const In& in, const Kwargs& kw) {
                       return Out{ag::logsumexp(in[0], kw.get_ints("dim"),
                                                kw.get_bool("keepdim", false))};
                     }}},

      // ---- Linear algebra ----
      {"matmul", binary(ag::matmul)},
      {"linear", {2, 3, [](const In& in, const Kwargs&) {
                    return Out{ag::linear(in[0], in[1], optional_input(in, 2))};
                  }}},

      // ---- Softmax ----
      {"softmax", {1, 1, [](const In& in, const Kwargs& kw) {
                     return Out{ag::softmax(in[0], kw.get_int("dim"))};
                   }}},
      {"log_softmax", {1, 1, [](const In& in, const Kwargs& kw) {
                         return Out{ag::log_softmax(in[0], kw.get_int("dim"))};
                       }}},

      // ---- Convolution and resampling ----
      {"conv2d", conv(2)},
      {"conv3d", conv(3)},
      // avg_pool3d(input, kernel_size, stride=None (= kernel_size), padding=0,
      //            ceil_mode=False, count_include_pad=True, divisor_override=None)
      {"avg_pool3d", {1, 1, [](const In& in, const Kwargs& kw) {
                        const std::vector<int64_t> kernel = kw.get_ints_n("kernel_size", 3, 0);
                        const std::vector<int64_t> stride =
                            kw.has("stride") ? kw.get_ints_n("stride", 3, 0) : kernel;
                        kw.expect_default("padding", 0);
                        kw.expect_default("ceil_mode", false);
                        kw.expect_default("count_include_pad", true);
                        kw.expect_default("divisor_override", nullptr);
                        return Out{ag::avg_pool3d(in[0], kernel, stride)};
                      }}},
      // interpolate(input, size=None, scale_factor=None, mode="nearest", align_corners=None):
      // only scale_factor, and align_corners false (PyTorch's default for trilinear).
      {"interpolate", {1, 1, [](const In& in, const Kwargs& kw) {
                         if (kw.has("size")) throw Unsupported("size= (only scale_factor)");
                         kw.expect_default("align_corners", false);
                         kw.expect_default("recompute_scale_factor", nullptr);
                         const size_t spatial = static_cast<size_t>(std::max<int64_t>(0, in[0].dim() - 2));
                         return Out{ag::interpolate(in[0], kw.get_doubles_n("scale_factor", spatial),
                                                    kw.get_string("mode", "nearest"))};
                       }}},
      // pad(input, pad, mode="constant", value=None (= 0))
      {"pad", {1, 1, [](const In& in, const Kwargs& kw) {
                 kw.expect_default("mode", "constant");
                 return Out{ag::pad(in[0], kw.get_ints("pad"), kw.get_double("value", 0.0))};
               }}},

      // ---- Normalisation ----
      // group_norm(input, num_groups, weight=None, bias=None, eps=1e-5)
      {"group_norm", {1, 3, [](const In& in, const Kwargs& kw) {
                        return Out{ag::group_norm(in[0], kw.get_int("num_groups"),
                                                  optional_input(in, 1), optional_input(in, 2),
                                                  kw.get_double("eps", 1e-5))};
                      }}},
      // layer_norm(input, normalized_shape, weight=None, bias=None, eps=1e-5)
      {"layer_norm", {1, 3, [](const In& in, const Kwargs& kw) {
                        return Out{ag::layer_norm(in[0], kw.get_ints("normalized_shape"),
                                                  optional_input(in, 1), optional_input(in, 2),
                                                  kw.get_double("eps", 1e-5))};
                      }}},
      // batch_norm(input, running_mean, running_var, weight=None, bias=None, training=False,
      //            momentum=0.1, eps=1e-5); the running statistics are updated in place.
      {"batch_norm", {1, 5, [](const In& in, const Kwargs& kw) {
                        return Out{ag::batch_norm(
                            in[0], optional_input(in, 1), optional_input(in, 2),
                            optional_input(in, 3), optional_input(in, 4),
                            kw.get_bool("training", false), kw.get_double("momentum", 0.1),
                            kw.get_double("eps", 1e-5))};
                      }}},

      // ---- Shape ----
      {"cat", {1, -1, [](const In& in, const Kwargs& kw) {
                 return Out{ag::cat(in, kw.get_int("dim", 0))};
               }}},
      {"permute", {1, 1, [](const In& in, const Kwargs& kw) {
                     return Out{ag::permute(in[0], kw.get_ints("dims"))};
                   }}},
      {"reshape", {1, 1, [](const In& in, const Kwargs& kw) {
                     return Out{ag::reshape(in[0], kw.get_ints("shape"))};
                   }}},
      {"transpose", {1, 1, [](const In& in, const Kwargs& kw) {
                       return Out{ag::transpose(in[0], kw.get_int("dim0"), kw.get_int("dim1"))};
                     }}},

      // ---- Attention: softmax(q kᵀ * scale) v; no scale (or null) = 1/sqrt(d) ----
      {"scaled_dot_product_attention", {3, 3, [](const In& in, const Kwargs& kw) {
                                          kw.expect_default("attn_mask", nullptr);
                                          kw.expect_default("dropout_p", 0.0);
                                          kw.expect_default("is_causal", false);
                                          const double scale = kw.get_double("scale", 0.0);
                                          if (kw.has("scale") && !(scale > 0.0))
                                            throw Unsupported("scale <= 0");
                                          return Out{ag::scaled_dot_product_attention(
                                              in[0], in[1], in[2], scale)};
                                        }}},

      // ---- Losses ----
      {"mse_loss", loss(ag::mse_loss)},
      {"l1_loss", loss(ag::l1_loss)},
      {"binary_cross_entropy_with_logits", loss(ag::binary_cross_entropy_with_logits)},
  };
  return table;
}

}  // namespace ldae::reference
