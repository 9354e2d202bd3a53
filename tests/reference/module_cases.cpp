// The module table of the reference runner and the run of one module case (see
// module_cases.h). Constructor arguments are named as in the PyTorch modules of
// generate_module_cases.py; every metadata key must be read by the builder, else the
// case is skipped (an ignored argument would make a PASS meaningless).
#include "tests/reference/module_cases.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "nn/attention.h"
#include "nn/blocks.h"
#include "nn/conv.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/norm.h"
#include "nn/resample.h"
#include "tests/reference/module_entry.h"

namespace ldae::reference {

Generator& module_init_gen() {
  static Generator gen(0);
  return gen;
}

namespace {

namespace fs = std::filesystem;
using In = ModuleInputs;
using Built = BuiltModule;

// One output from a forward returning a Tensor.
template <typename F>
Built single(std::shared_ptr<nn::Module> m, F f) {
  return {std::move(m), [f](const In& in) { return std::vector<Tensor>{f(in)}; }};
}

// Builds M and calls M::forward(in[0]).
template <typename M>
Built unary(std::shared_ptr<M> m) {
  return single(m, [m](const In& in) { return m->forward(in[0]); });
}

Generator& init_gen() { return module_init_gen(); }

nn::ConvOptions conv_options(const Kwargs& kw, int rank) {
  nn::ConvOptions o;
  o.kernel_size = kw.get_ints_n("kernel_size", rank, 1);
  o.stride = kw.get_ints_n("stride", rank, 1);
  o.padding = kw.get_ints_n("padding", rank, 0);
  o.dilation = kw.get_ints_n("dilation", rank, 1);
  o.groups = kw.get_int("groups", 1);
  o.bias = kw.get_bool("bias", true);
  return o;
}

ModuleEntry conv_entry(int rank) {
  return {1, 1, [rank](const Kwargs& kw) {
            const nn::ConvOptions o = conv_options(kw, rank);
            return unary(std::make_shared<nn::ConvNd>(rank, kw.get_int("in_channels"),
                                                      kw.get_int("out_channels"), o, init_gen()));
          }};
}

nn::ResBlockOptions resblock_options(const Kwargs& kw) {
  nn::ResBlockOptions o;
  o.channels = kw.get_int("channels");
  o.emb_channels = kw.get_int("emb_channels");
  o.out_channels = kw.get_int("out_channels", -1);
  o.dropout = kw.get_double("dropout", 0.0);
  o.dims = static_cast<int>(kw.get_int("dims", 2));
  o.num_groups = kw.get_int("num_groups", 32);
  o.use_conv = kw.get_bool("use_conv", false);
  o.up = kw.get_bool("up", false);
  o.down = kw.get_bool("down", false);
  o.resample_factors = kw.get_ints("resample_factors", {});
  return o;
}

// Cases run in eval mode; a dropout generator is still needed to build a block with p > 0.
std::shared_ptr<Generator> dropout_gen() { return std::make_shared<Generator>(0); }

std::map<std::string, ModuleEntry> make_module_table() {
  std::map<std::string, ModuleEntry> table = {
      {"linear", {1, 1, [](const Kwargs& kw) {
                    return unary(std::make_shared<nn::Linear>(kw.get_int("in_features"), kw.get_int("out_features"),
                                                              init_gen(), kw.get_bool("bias", true)));
                  }}},
      {"conv1d", conv_entry(1)},
      {"conv2d", conv_entry(2)},
      {"conv3d", conv_entry(3)},
      {"group_norm", {1, 1, [](const Kwargs& kw) {
                        return unary(std::make_shared<nn::GroupNorm>(kw.get_int("num_groups"), kw.get_int("num_channels"),
                                                                     kw.get_double("eps", 1e-5), kw.get_bool("affine", true)));
                      }}},
      {"layer_norm", {1, 1, [](const Kwargs& kw) {
                        return unary(std::make_shared<nn::LayerNorm>(kw.get_ints("normalized_shape"),
                                                                     kw.get_double("eps", 1e-5),
                                                                     kw.get_bool("elementwise_affine", true)));
                      }}},
      {"upsample", {1, 1, [](const Kwargs& kw) {
                      // The module cases are 3D: three factors (N, C, D, H, W).
                      const std::vector<double> scale = kw.get_doubles_n("scale_factor", 3);
                      return unary(std::make_shared<nn::Upsample>(scale, kw.get_string("mode", "nearest")));
                    }}},
      {"avg_pool3d", {1, 1, [](const Kwargs& kw) {
                        return unary(std::make_shared<nn::AvgPool3d>(kw.get_ints("kernel_size"),
                                                                     kw.get_ints("stride", {})));
                      }}},
      // 1 input: self-attention forward(x, x, x); 3 inputs: forward(query, key, value).
      {"multihead_attention", {1, 3, [](const Kwargs& kw) {
                                 if (!kw.get_bool("batch_first", false))
                                   throw Unsupported("batch_first=false");
                                 const double p = kw.get_double("dropout", 0.0);
                                 auto m = std::make_shared<nn::MultiheadAttention>(
                                     kw.get_int("embed_dim"), kw.get_int("num_heads"), init_gen(), p,
                                     kw.get_bool("bias", true), dropout_gen());
                                 return single(m, [m](const In& in) {
                                   if (in.size() == 1) return m->forward(in[0], in[0], in[0]);
                                   check(in.size() == 3, "module:multihead_attention",
                                         "takes 1 (self) or 3 (query, key, value) inputs");
                                   return m->forward(in[0], in[1], in[2]);
                                 });
                               }}},
      {"attention_block", {1, 1, [](const Kwargs& kw) {
                             nn::AttentionBlockOptions o;
                             o.channels = kw.get_int("channels");
                             o.num_heads = kw.get_int("num_heads", 1);
                             o.num_head_channels = kw.get_int("num_head_channels", -1);
                             o.num_groups = kw.get_int("num_groups", 32);
                             o.use_new_attention_order = kw.get_bool("use_new_attention_order", false);
                             return unary(std::make_shared<nn::AttentionBlock>(o, init_gen()));
                           }}},
      // in0 x, in1 time embedding
      {"resblock", {2, 2, [](const Kwargs& kw) {
                      auto m = std::make_shared<nn::ResBlock>(resblock_options(kw), init_gen(), dropout_gen());
                      return single(m, [m](const In& in) { return m->forward(in[0], in[1]); });
                    }}},
      // in0 x, in1 time embedding, in2 semantic embedding
      {"shiftresblock", {3, 3, [](const Kwargs& kw) {
                           auto m = std::make_shared<nn::ShiftResBlock>(resblock_options(kw), init_gen(),
                                                                        dropout_gen());
                           return single(m, [m](const In& in) { return m->forward(in[0], in[1], in[2]); });
                         }}},
      // in0 timesteps (N,); no parameters.
      {"timestep_embedding", {1, 1, [](const Kwargs& kw) {
                                const int64_t dim = kw.get_int("dim");
                                const double period = kw.get_double("max_period", 10000.0);
                                return single(std::make_shared<nn::Module>(), [dim, period](const In& in) {
                                  return nn::timestep_embedding(in[0], dim, period);
                                });
                              }}},
      // in0 timesteps (N,); the UNet's time_embed MLP.
      {"time_embed", {1, 1, [](const Kwargs& kw) {
                        return unary(std::make_shared<nn::TimeEmbedding>(
                            kw.get_int("model_channels"), kw.get_int("time_embed_dim"), init_gen()));
                      }}},
  };
  add_network_entries(table);  // network_cases.cpp
  return table;
}

const std::map<std::string, ModuleEntry>& module_table() {
  static const std::map<std::string, ModuleEntry> table = make_module_table();
  return table;
}

// Numbered tensors prefix0, prefix1, ... (stops at the first missing number).
std::vector<std::pair<std::string, Tensor>> numbered(const std::map<std::string, Tensor>& tensors,
                                                     const std::string& prefix) {
  std::vector<std::pair<std::string, Tensor>> out;
  for (size_t k = 0;; ++k) {
    auto it = tensors.find(prefix + std::to_string(k));
    if (it == tensors.end()) return out;
    out.push_back(*it);
  }
}

std::string describe(const std::string& name, const Comparison& c) {
  if (!c.problem.empty()) return name + ": " + c.problem + " !";
  char buf[200];
  std::snprintf(buf, sizeof buf, "%s: max_abs=%.2e max_rel=%.2e%s", name.c_str(), c.max_abs, c.max_rel,
                c.ok ? "" : " !");
  return buf;
}

}  // namespace

std::vector<std::string> module_names() {
  std::vector<std::string> out;
  for (const auto& [name, _] : module_table()) out.push_back(name);
  return out;
}

void run_module_case(const SafetensorsFile& f, const std::string& emit_dir, CaseResult& r,
                     Device device) {
  const std::string module_name = r.op.substr(std::string("module:").size());
  auto entry_it = module_table().find(module_name);
  if (entry_it == module_table().end()) throw Unsupported("module not implemented by the runner");
  const ModuleEntry& entry = entry_it->second;

  // Sort the tensors: inputs, state-dict entries (parameters and buffers), parameter
  // gradients, outputs and their upstream gradients (out, gout; or out0, gout0, out1, ...).
  const auto inputs_stored = numbered(f.tensors, "in");
  std::map<std::string, Tensor> params, gparams;
  for (const auto& [name, t] : f.tensors) {
    if (name.rfind("param.", 0) == 0) params[name.substr(6)] = t;
    if (name.rfind("gparam.", 0) == 0) gparams[name.substr(7)] = t;
  }
  std::vector<std::pair<std::string, Tensor>> outs_ref;  // (name, reference)
  std::vector<Tensor> gouts;
  if (f.tensors.count("out")) {
    if (f.tensors.count("out0")) throw Error("the case has both out and out0");
    outs_ref = {{"out", f.tensors.at("out")}};
    if (f.tensors.count("gout")) gouts = {f.tensors.at("gout")};
  } else {
    outs_ref = numbered(f.tensors, "out");
    for (const auto& [_, g] : numbered(f.tensors, "gout")) gouts.push_back(g);
  }
  if (outs_ref.empty()) throw Error("the module case has no out tensor");
  const int n_in = static_cast<int>(inputs_stored.size());
  if (n_in < entry.min_inputs || n_in > entry.max_inputs)
    throw Error("module " + module_name + " takes " + std::to_string(entry.min_inputs) + " to " +
                std::to_string(entry.max_inputs) + " inputs, the case has " + std::to_string(n_in));

  // Constructor arguments: every metadata value but op/name/seed, parsed as JSON.
  std::map<std::string, nlohmann::json> kw_values;
  for (const auto& [key, text] : f.metadata) {
    if (key == "op" || key == "name" || key == "seed") continue;
    try {
      kw_values[key] = nlohmann::json::parse(text);
    } catch (const nlohmann::json::exception&) {
      throw Error("metadata \"" + key + "\" = '" + text + "' is not JSON");
    }
  }
  const Kwargs kw(std::move(kw_values));
  const Built built = entry.build(kw);
  const std::vector<std::string> unused = kw.unused();
  if (!unused.empty()) {
    std::string keys;
    for (const std::string& k : unused) keys += (keys.empty() ? "" : ", ") + k;
    throw Unsupported("constructor argument(s) not handled by the runner: " + keys);
  }

  // The module in the case's dtype, eval mode, with the case's state dict (strict: missing,
  // unexpected and mis-shaped keys, parameters and buffers alike, are an error naming them).
  const DType dtype = outs_ref[0].second.dtype();
  nn::Module& module = *built.module;
  module.to(dtype);
  module.eval();
  try {
    module.load_state_dict(params, /*strict=*/true);
  } catch (const Error& e) {
    std::string msg = e.what();  // one problem per line: keep the runner's one line per case
    std::replace(msg.begin(), msg.end(), '\n', ' ');
    throw Error("param.*: " + msg);
  }
  module.to(device);  // --device (a no-op on the CPU)
  module.zero_grad();
  const auto named_params = module.named_parameters();
  std::map<std::string, Tensor> param_by_name(named_params.begin(), named_params.end());
  for (const auto& [name, _] : gparams) {
    if (!params.count(name)) throw Error("gparam." + name + " has no param." + name);
    if (!param_by_name.count(name)) throw Error("gparam." + name + " names a buffer, not a parameter");
  }

  std::vector<Tensor> inputs;
  for (size_t k = 0; k < inputs_stored.size(); ++k) {
    Tensor t = inputs_stored[k].second.to(dtype).to(device);
    if (f.tensors.count("gin" + std::to_string(k))) t.set_requires_grad(true);
    inputs.push_back(t);
  }

  const std::vector<Tensor> outs = built.forward(inputs);
  if (outs.size() != outs_ref.size())
    throw Error("module " + module_name + " returned " + std::to_string(outs.size()) + " outputs, the case has " +
                std::to_string(outs_ref.size()));
  std::map<std::string, Tensor> emitted;  // on the host
  for (size_t k = 0; k < outs.size(); ++k) emitted[outs_ref[k].first] = outs[k].detach().to(cpu_device());
  bool any_grad = !gparams.empty();
  for (size_t k = 0; k < inputs.size(); ++k) any_grad = any_grad || inputs[k].requires_grad();
  if (!gouts.empty()) {
    if (gouts.size() != outs.size()) throw Error("the case has " + std::to_string(gouts.size()) +
                                                 " gout tensors for " + std::to_string(outs.size()) + " outputs");
    // Backward: the gradient of sum_k sum(out_k * gout_k); one output goes straight to
    // ag::backward(out, gout), as PyTorch's out.backward(gout) does.
    std::vector<Tensor> g;
    for (size_t k = 0; k < outs.size(); ++k) {
      g.push_back(gouts[k].to(dtype).to(device));
      if (g[k].shape() != outs[k].shape())
        throw Error("gout shape " + shape_str(g[k].shape()) + " != " + outs_ref[k].first + " shape " +
                    shape_str(outs[k].shape()));
    }
    if (outs.size() == 1) {
      if (outs[0].requires_grad()) ag::backward(outs[0], g[0]);
    } else {
      Tensor total;
      for (size_t k = 0; k < outs.size(); ++k) {
        if (!outs[k].requires_grad()) continue;
        Tensor term = ag::sum(ag::mul(outs[k], g[k]));
        total = total.defined() ? ag::add(total, term) : term;
      }
      if (total.defined()) ag::backward(total);
    }
    for (size_t k = 0; k < inputs.size(); ++k) {
      if (!inputs[k].requires_grad()) continue;
      const Tensor gr = inputs[k].grad();  // undefined: the output does not depend on it
      emitted["gin" + std::to_string(k)] = gr.defined() ? gr.to(cpu_device()) : Tensor::zeros(inputs[k].shape(), dtype);
    }
    // Every trainable parameter's gradient (zeros where none arrived; frozen parameters,
    // requires_grad false, have none).
    for (const auto& [name, p] : named_params) {
      if (!p.requires_grad()) continue;
      const Tensor gr = p.grad();
      emitted["gparam." + name] = gr.defined() ? gr.to(cpu_device()) : Tensor::zeros(p.shape(), dtype);
    }
  } else if (any_grad) {
    throw Error("the case has gradients but no gout");
  }

  if (!emit_dir.empty()) {
    std::map<std::string, std::string> meta = {{"op", r.op}};
    if (f.metadata.count("name")) meta["name"] = f.metadata.at("name");
    write_safetensors((fs::path(emit_dir) / r.file).string(), emitted, meta);
  }

  // Compare every out, each gin<k>, and every gparam (summarised as the worst; the failing
  // parameters are named). A parameter without gparam in the case (PyTorch gave it no
  // gradient: frozen, or unused like the autoencoder's proj_attn) must get none here either.
  bool ok = true;
  std::string detail;
  auto add = [&](const std::string& name, const Tensor& got, const Tensor& ref) {
    const Comparison c = compare(got, ref);
    ok = ok && c.ok;
    detail += (detail.empty() ? "" : " ") + describe(name, c);
  };
  for (const auto& [name, ref] : outs_ref) add(name, emitted.at(name), ref);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::string name = "gin" + std::to_string(k);
    if (f.tensors.count(name)) add(name, emitted.at(name), f.tensors.at(name));
  }
  if (!gparams.empty()) {
    Comparison worst;
    std::string failing;
    for (const auto& [name, ref] : gparams) {
      auto it = emitted.find("gparam." + name);
      if (it == emitted.end()) {  // frozen here, trained in PyTorch
        worst.ok = false;
        failing += " gparam." + name + ": no gradient (the parameter is frozen) !";
        continue;
      }
      const Comparison c = compare(it->second, ref);
      if (!c.ok) {
        worst.ok = false;
        failing += " " + describe("gparam." + name, c);
      }
      worst.max_abs = std::max(worst.max_abs, c.max_abs);
      worst.max_rel = std::max(worst.max_rel, c.max_rel);
    }
    for (const auto& [key, t] : emitted) {
      if (key.rfind("gparam.", 0) != 0 || gparams.count(key.substr(7))) continue;
      bool zero = true;
      for (double v : t.to_vector()) zero = zero && v == 0.0;
      if (!zero) {
        worst.ok = false;
        failing += " " + key + ": a gradient where PyTorch gives none !";
      }
    }
    ok = ok && worst.ok;
    detail += " " + describe("gparam(" + std::to_string(gparams.size()) + ")", worst) + failing;
  }
  r.status = ok ? Status::Pass : Status::Fail;
  r.detail = detail;
}

}  // namespace ldae::reference
