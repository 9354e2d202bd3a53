// The reference-case runner: reading a case, running it, comparing, emitting, and the
// command line. The ops themselves are in reference_ops.cpp.
#include "tests/reference/reference_runner.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <limits>
#include <sstream>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "tensor/cuda/runtime.h"  // --device cuda: cuda_available()
#include "tensor/safetensors.h"
#include "tests/reference/module_cases.h"  // [module cases]

namespace ldae::reference {

namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- Kwargs ---------------------------------------------------------------------------

const json& Kwargs::take(const std::string& key) const {
  used_.insert(key);
  auto it = values_.find(key);
  if (it == values_.end() || it->second.is_null())
    throw Error("keyword argument \"" + key + "\" is missing");
  return it->second;
}

bool Kwargs::has(const std::string& key) const {
  used_.insert(key);
  auto it = values_.find(key);
  return it != values_.end() && !it->second.is_null();
}

namespace {

[[noreturn]] void bad_type(const std::string& key, const json& v, const std::string& expected) {
  throw Error("keyword argument \"" + key + "\" = " + v.dump() + " is not " + expected);
}

int64_t as_int(const std::string& key, const json& v) {
  if (!v.is_number_integer()) bad_type(key, v, "an integer");
  return v.get<int64_t>();
}

double as_double(const std::string& key, const json& v) {
  if (!v.is_number()) bad_type(key, v, "a number");
  return v.get<double>();
}

}  // namespace

int64_t Kwargs::get_int(const std::string& key) const { return as_int(key, take(key)); }
int64_t Kwargs::get_int(const std::string& key, int64_t fallback) const {
  return has(key) ? get_int(key) : fallback;
}
double Kwargs::get_double(const std::string& key) const { return as_double(key, take(key)); }
double Kwargs::get_double(const std::string& key, double fallback) const {
  return has(key) ? get_double(key) : fallback;
}
bool Kwargs::get_bool(const std::string& key) const {
  const json& v = take(key);
  if (!v.is_boolean()) bad_type(key, v, "true or false");
  return v.get<bool>();
}
bool Kwargs::get_bool(const std::string& key, bool fallback) const {
  return has(key) ? get_bool(key) : fallback;
}
std::vector<bool> Kwargs::get_bools(const std::string& key) const {
  const json& v = take(key);
  if (!v.is_array()) bad_type(key, v, "a list of true/false");
  std::vector<bool> out;
  for (const json& x : v) {
    if (!x.is_boolean()) bad_type(key, v, "a list of true/false");
    out.push_back(x.get<bool>());
  }
  return out;
}
json Kwargs::get_json(const std::string& key) const { return take(key); }
std::string Kwargs::get_string(const std::string& key) const {
  const json& v = take(key);
  if (!v.is_string()) bad_type(key, v, "a string");
  return v.get<std::string>();
}
std::string Kwargs::get_string(const std::string& key, const std::string& fallback) const {
  return has(key) ? get_string(key) : fallback;
}
std::vector<int64_t> Kwargs::get_ints(const std::string& key) const {
  const json& v = take(key);
  if (v.is_number_integer()) return {v.get<int64_t>()};
  if (!v.is_array()) bad_type(key, v, "a list of integers");
  std::vector<int64_t> out;
  for (const json& x : v) out.push_back(as_int(key, x));
  return out;
}
std::vector<int64_t> Kwargs::get_ints(const std::string& key,
                                      const std::vector<int64_t>& fallback) const {
  return has(key) ? get_ints(key) : fallback;
}
std::vector<int64_t> Kwargs::get_ints_n(const std::string& key, size_t n, int64_t fallback) const {
  if (!has(key)) return std::vector<int64_t>(n, fallback);
  const json& v = take(key);
  if (v.is_number_integer()) return std::vector<int64_t>(n, v.get<int64_t>());
  std::vector<int64_t> out = get_ints(key);
  if (out.size() != n) bad_type(key, v, "a list of " + std::to_string(n) + " integers");
  return out;
}
std::vector<double> Kwargs::get_doubles_n(const std::string& key, size_t n) const {
  const json& v = take(key);
  if (v.is_number()) return std::vector<double>(n, v.get<double>());
  if (!v.is_array() || v.size() != n) bad_type(key, v, "a list of " + std::to_string(n) + " numbers");
  std::vector<double> out;
  for (const json& x : v) out.push_back(as_double(key, x));
  return out;
}
void Kwargs::expect_default(const std::string& key, const json& value) const {
  if (!has(key)) return;
  const json& v = take(key);
  // Compare numbers by value, so that 0 and 0.0 are the same default.
  const bool same = (v.is_number() && value.is_number()) ? v.get<double>() == value.get<double>()
                                                         : v == value;
  if (!same) throw Unsupported(key + "=" + v.dump());
}
std::vector<std::string> Kwargs::unused() const {
  std::vector<std::string> out;
  for (const auto& [key, value] : values_)
    if (!used_.count(key)) out.push_back(key);
  return out;
}

// ---- Comparison -------------------------------------------------------------------------

Comparison compare(const Tensor& got, const Tensor& ref) {
  Comparison c;
  if (got.shape() != ref.shape()) {
    c.ok = false;
    c.problem = "shape " + shape_str(got.shape()) + " != " + shape_str(ref.shape());
    return c;
  }
  const std::vector<double> a = got.to_vector(), b = ref.to_vector();
  double atol = 1e-10, rtol = 1e-7;
  if (ref.dtype() == DType::F32) {
    double max_b = 0.0;
    for (double v : b)
      if (std::isfinite(v)) max_b = std::max(max_b, std::fabs(v));
    atol = 1e-4 * std::max(1.0, max_b);
    rtol = 1e-3;
  }
  for (size_t i = 0; i < b.size(); ++i) {
    if (!std::isfinite(b[i])) {  // inf must match exactly, NaN must be NaN
      const bool same = std::isnan(b[i]) ? std::isnan(a[i]) : a[i] == b[i];
      if (!same) {
        c.ok = false;
        c.max_abs = c.max_rel = std::numeric_limits<double>::infinity();
      }
      continue;
    }
    const double err = std::fabs(a[i] - b[i]);  // NaN if a[i] is NaN
    if (!(err <= atol + rtol * std::fabs(b[i]))) c.ok = false;
    const double rel = err / std::max(std::fabs(b[i]), 1e-300);
    if (std::isnan(err)) {
      c.max_abs = c.max_rel = std::numeric_limits<double>::quiet_NaN();
    } else if (!std::isnan(c.max_abs)) {
      c.max_abs = std::max(c.max_abs, err);
      c.max_rel = std::max(c.max_rel, rel);
    }
  }
  return c;
}

const char* status_name(Status s) {
  return s == Status::Pass ? "PASS" : s == Status::Fail ? "FAIL" : "SKIP";
}

std::string CaseResult::line() const {
  return std::string(status_name(status)) + " " + file + " " + op + " " + detail;
}

// ---- One case ----------------------------------------------------------------------------

namespace {

// "in" + k, "gin" + k, ...
std::string indexed(const std::string& prefix, size_t k) { return prefix + std::to_string(k); }

// Numbered tensors prefix0, prefix1, ... (stops at the first missing number).
std::vector<Tensor> numbered(const std::map<std::string, Tensor>& tensors, const std::string& prefix) {
  std::vector<Tensor> out;
  for (size_t k = 0;; ++k) {
    auto it = tensors.find(indexed(prefix, k));
    if (it == tensors.end()) return out;
    out.push_back(it->second);
  }
}

std::string format_error(const char* name, const Comparison& c) {
  if (!c.problem.empty()) return std::string(name) + ": " + c.problem + " !";
  char buf[160];
  std::snprintf(buf, sizeof buf, "%s: max_abs=%.2e max_rel=%.2e%s", name, c.max_abs, c.max_rel,
                c.ok ? "" : " !");
  return buf;
}

// The body of run_case; throws ldae::Error (-> FAIL) or Unsupported (-> SKIP).
void run_case_or_throw(const std::string& path, const std::string& emit_dir, Device device,
                       CaseResult& r) {
  SafetensorsFile f = read_safetensors(path);
  auto op_it = f.metadata.find("op");
  if (op_it == f.metadata.end()) throw Error("the case has no \"op\" in its __metadata__");
  r.op = op_it->second;

  // The tensors of the case: inputs, reference outputs, upstream gradients, reference
  // input gradients. One output is named "out"; several are out0, out1, ...
  const std::vector<Tensor> inputs_stored = numbered(f.tensors, "in");
  std::vector<Tensor> outs_ref, gouts;
  std::vector<std::string> out_names;
  if (f.tensors.count("out")) {
    if (f.tensors.count("out0")) throw Error("the case has both out and out0");
    outs_ref = {f.tensors.at("out")};
    out_names = {"out"};
    if (f.tensors.count("gout")) gouts = {f.tensors.at("gout")};
  } else {
    outs_ref = numbered(f.tensors, "out");
    for (size_t k = 0; k < outs_ref.size(); ++k) out_names.push_back(indexed("out", k));
    gouts = numbered(f.tensors, "gout");
  }
  if (outs_ref.empty()) throw Error("the case has no out tensor");
  for (const auto& [name, t] : f.tensors) {
    const bool is_input = name.rfind("in", 0) == 0 && name.size() > 2 &&
                          std::all_of(name.begin() + 2, name.end(),
                                      [](char c) { return c >= '0' && c <= '9'; });
    if (is_input && std::stoul(name.substr(2)) >= inputs_stored.size())
      throw Error("tensor " + name + " follows a gap in the numbering of the inputs");
  }

  // [module cases] op "module:<name>": run by module_cases.cpp (nn modules).
  if (r.op.rfind("module:", 0) == 0) return run_module_case(f, emit_dir, r, device);
  auto entry_it = op_table().find(r.op);
  if (entry_it == op_table().end()) throw Unsupported("op not implemented by the runner");
  const OpEntry& entry = entry_it->second;
  const int n_in = static_cast<int>(inputs_stored.size());
  if (n_in < entry.min_inputs || (entry.max_inputs >= 0 && n_in > entry.max_inputs))
    throw Error("the op takes " + std::to_string(entry.min_inputs) +
                (entry.max_inputs < 0 ? " or more"
                                      : (entry.max_inputs == entry.min_inputs
                                             ? ""
                                             : " to " + std::to_string(entry.max_inputs))) +
                " inputs, the case has " + std::to_string(n_in));

  // Keyword arguments: every metadata value but op/name/seed, parsed as JSON.
  std::map<std::string, json> kw_values;
  for (const auto& [key, text] : f.metadata) {
    if (key == "op" || key == "name" || key == "seed") continue;
    try {
      kw_values[key] = json::parse(text);
    } catch (const json::exception&) {
      throw Error("metadata \"" + key + "\" = '" + text + "' is not JSON");
    }
  }
  const Kwargs kw(std::move(kw_values));

  // The case is computed in the dtype of its (first) reference output. Inputs with a
  // reference gradient gin<k> become leaves that require grad.
  const DType dtype = outs_ref[0].dtype();
  std::vector<Tensor> inputs;
  for (size_t k = 0; k < inputs_stored.size(); ++k) {
    Tensor t = inputs_stored[k].to(dtype).to(device);  // --device: the op runs there
    if (f.tensors.count(indexed("gin", k))) t.set_requires_grad(true);
    inputs.push_back(t);
  }

  const std::vector<Tensor> outs = entry.run(inputs, kw);
  const std::vector<std::string> unused = kw.unused();
  if (!unused.empty()) {
    std::string keys;
    for (const std::string& k : unused) keys += (keys.empty() ? "" : ", ") + k;
    throw Unsupported("keyword argument(s) not handled by the runner: " + keys);
  }
  if (outs.size() != outs_ref.size())
    throw Error("the op returned " + std::to_string(outs.size()) + " outputs, the case has " +
                std::to_string(outs_ref.size()));

  // Backward: the gradient of sum_k sum(out_k * gout_k). One output goes straight to
  // ag::backward(out, gout), as PyTorch's out.backward(gout) does.
  bool any_gin = false;
  for (size_t k = 0; k < inputs.size(); ++k) any_gin = any_gin || inputs[k].requires_grad();
  std::map<std::string, Tensor> emitted;
  // Results are compared (and emitted) on the host.
  for (size_t k = 0; k < outs.size(); ++k) emitted[out_names[k]] = outs[k].detach().to(cpu_device());
  if (any_gin) {
    if (gouts.size() != outs.size()) throw Error("the case has gin tensors but no gout per output");
    std::vector<Tensor> g;
    for (size_t k = 0; k < outs.size(); ++k) {
      if (gouts[k].shape() != outs[k].shape())
        throw Error("gout shape " + shape_str(gouts[k].shape()) + " != out shape " +
                    shape_str(outs[k].shape()));
      g.push_back(gouts[k].to(dtype).to(device));
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
      Tensor grad = inputs[k].grad();  // undefined: the output does not depend on it
      emitted[indexed("gin", k)] =
          grad.defined() ? grad.to(cpu_device()) : Tensor::zeros(inputs[k].shape(), dtype);
    }
  }

  if (!emit_dir.empty()) {
    std::map<std::string, std::string> meta = {{"op", r.op}};
    if (f.metadata.count("name")) meta["name"] = f.metadata.at("name");
    write_safetensors((fs::path(emit_dir) / r.file).string(), emitted, meta);
  }

  // Compare every reference output and every reference input gradient.
  bool ok = true;
  std::string detail;
  auto add = [&](const std::string& name, const Tensor& got, const Tensor& ref) {
    const Comparison c = compare(got, ref);
    ok = ok && c.ok;
    detail += (detail.empty() ? "" : " ") + format_error(name.c_str(), c);
  };
  for (size_t k = 0; k < outs.size(); ++k) add(out_names[k], emitted[out_names[k]], outs_ref[k]);
  for (size_t k = 0; k < inputs.size(); ++k) {
    const std::string name = indexed("gin", k);
    if (f.tensors.count(name)) add(name, emitted.at(name), f.tensors.at(name));
  }
  r.status = ok ? Status::Pass : Status::Fail;
  r.detail = detail;
}

}  // namespace

CaseResult run_case(const std::string& path, const std::string& emit_dir, Device device) {
  CaseResult r;
  r.file = fs::path(path).filename().string();
  r.op = "?";
  try {
    run_case_or_throw(path, emit_dir, device, r);
  } catch (const Unsupported& e) {
    r.status = Status::Skip;
    r.detail = std::string("(") + e.what() + ")";
  } catch (const std::exception& e) {
    r.status = Status::Fail;
    r.detail = std::string("(error: ") + e.what() + ")";
  }
  return r;
}

// ---- Command line ------------------------------------------------------------------------

namespace {

const char* kUsage =
    "usage: reference_check [--emit DIR] [--device cpu|cuda] PATH...\n"
    "\n"
    "Checks the framework against PyTorch reference cases (safetensors files in the\n"
    "format of reference-cases.md). A PATH is a case file or a folder whose *.safetensors\n"
    "files are run in name order. Prints one line per case:\n"
    "  PASS|FAIL|SKIP <file> <op> out: max_abs=... max_rel=... gin0: ...\n"
    "('!' marks a tensor outside the tolerance; SKIP: op or argument not supported).\n"
    "Tolerance: |a - b| <= atol + rtol * |b| with atol = 1e-4 * max(1, max |b|),\n"
    "rtol = 1e-3 in F32; atol = 1e-10, rtol = 1e-7 in F64.\n"
    "\n"
    "  --emit DIR  also write DIR/<case file> with the framework's out and gin<k>\n"
    "  --device D  run the ops on D: cpu (default), cuda or cuda:N (inputs are moved\n"
    "              there, results compared on the host)\n"
    "  --help      show this text\n"
    "\n"
    "Exit status: 0 if no case failed, 1 if one did (or a file could not be read),\n"
    "2 on a usage error.\n";

}  // namespace

int run_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err) {
  std::string emit_dir;
  Device device = cpu_device();
  std::vector<std::string> paths;
  bool options_done = false;
  for (size_t i = 0; i < args.size(); ++i) {
    const std::string& a = args[i];
    if (options_done || a.empty() || a[0] != '-') {
      paths.push_back(a);
    } else if (a == "--") {
      options_done = true;
    } else if (a == "--help" || a == "-h") {
      out << kUsage;
      return 0;
    } else if (a == "--emit") {
      if (i + 1 >= args.size()) {
        err << "reference_check: --emit needs a folder\n" << kUsage;
        return 2;
      }
      emit_dir = args[++i];
    } else if (a.rfind("--emit=", 0) == 0) {
      emit_dir = a.substr(7);
    } else if (a == "--device" || a.rfind("--device=", 0) == 0) {
      std::string name;
      if (a == "--device") {
        if (i + 1 >= args.size()) {
          err << "reference_check: --device needs cpu or cuda\n" << kUsage;
          return 2;
        }
        name = args[++i];
      } else {
        name = a.substr(9);
      }
      try {
        device = parse_device("reference_check", name);
        require_usable_device("reference_check", device);
      } catch (const Error& e) {
        err << e.what() << "\n" << kUsage;
        return 2;
      }
    } else {
      err << "reference_check: unknown option " << a << "\n" << kUsage;
      return 2;
    }
  }
  if (paths.empty()) {
    err << "reference_check: no case files or folders given\n" << kUsage;
    return 2;
  }
  if (!emit_dir.empty()) {
    std::error_code ec;
    fs::create_directories(emit_dir, ec);
    if (ec || !fs::is_directory(emit_dir)) {
      err << "reference_check: cannot create the folder " << emit_dir << "\n";
      return 2;
    }
  }

  int counts[3] = {0, 0, 0};  // PASS, FAIL, SKIP
  auto report = [&](const CaseResult& r) {
    ++counts[static_cast<int>(r.status)];
    out << r.line() << std::endl;  // flushed: a long run shows progress
  };
  for (const std::string& p : paths) {
    std::error_code ec;
    if (!fs::is_directory(p, ec)) {
      report(run_case(p, emit_dir, device));
      continue;
    }
    std::vector<std::string> files;
    for (const auto& e : fs::directory_iterator(p, ec))
      if (e.path().extension() == ".safetensors") files.push_back(e.path().string());
    std::sort(files.begin(), files.end());
    if (files.empty()) {
      CaseResult r;
      r.file = p;
      r.op = "?";
      r.detail = "(no *.safetensors files in this folder)";
      report(r);
    }
    for (const std::string& file : files) report(run_case(file, emit_dir, device));
  }
  out << counts[0] << " PASS, " << counts[1] << " FAIL, " << counts[2] << " SKIP" << std::endl;
  return counts[1] > 0 ? 1 : 0;
}

}  // namespace ldae::reference
