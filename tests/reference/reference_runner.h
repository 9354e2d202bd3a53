// The reference-case runner behind `reference_check` (format: reference-cases.md in the
// project docs; cases: tests/reference/cases/). A case is one safetensors file holding
// the inputs in0, in1, ..., the upstream gradient gout, and PyTorch's out and gin<k>
// (the gradient of sum(out * gout) with respect to in<k>); `__metadata__` names the op
// and carries its keyword arguments as JSON. The runner recomputes out and gin<k> with
// the framework's ag:: ops and compares.
//
// Adding an op is one entry in the table of reference_ops.cpp.
#pragma once
#include <functional>
#include <map>
#include <nlohmann/json.hpp>
#include <ostream>
#include <set>
#include <stdexcept>
#include <string>
#include <vector>

#include "tensor/tensor.h"

namespace ldae::reference {

// A feature of a case that the framework does not support (e.g. align_corners=true):
// the case is reported as SKIP with this message, not as FAIL.
class Unsupported : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The keyword arguments of a case: each metadata value (other than op, name, seed)
// parsed as JSON. Getters throw ldae::Error naming the key on a missing or ill-typed
// value. Every key read is marked used: a case whose keys are not all used by its op
// is skipped (the runner would otherwise silently ignore an argument).
class Kwargs {
 public:
  explicit Kwargs(std::map<std::string, nlohmann::json> values) : values_(std::move(values)) {}

  // True if the key is present and not null (JSON null means "PyTorch's default").
  bool has(const std::string& key) const;
  int64_t get_int(const std::string& key) const;
  int64_t get_int(const std::string& key, int64_t fallback) const;
  double get_double(const std::string& key) const;
  double get_double(const std::string& key, double fallback) const;
  bool get_bool(const std::string& key) const;
  bool get_bool(const std::string& key, bool fallback) const;
  // A list of booleans (attention_levels).
  std::vector<bool> get_bools(const std::string& key) const;
  // The raw JSON value (nested arguments such as ["LEAKYRELU", {"negative_slope": 0.2}]).
  nlohmann::json get_json(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  std::string get_string(const std::string& key, const std::string& fallback) const;
  // A list of integers; a single integer counts as a list of one.
  std::vector<int64_t> get_ints(const std::string& key) const;
  std::vector<int64_t> get_ints(const std::string& key, const std::vector<int64_t>& fallback) const;
  // `n` integers (conv stride/padding/dilation): a single integer is repeated n times.
  std::vector<int64_t> get_ints_n(const std::string& key, size_t n, int64_t fallback) const;
  // A list of numbers; a single number is repeated n times.
  std::vector<double> get_doubles_n(const std::string& key, size_t n) const;
  // Accepts the key when absent, null, or equal to PyTorch's default `value`; throws
  // Unsupported("<key>=<value>") otherwise.
  void expect_default(const std::string& key, const nlohmann::json& value) const;

  // The keys no getter has read.
  std::vector<std::string> unused() const;

 private:
  const nlohmann::json& take(const std::string& key) const;  // marks used; throws if missing
  std::map<std::string, nlohmann::json> values_;
  mutable std::set<std::string> used_;
};

// One op: how many inputs it takes and how to run it with the ag:: functions.
// `run` gets the inputs in0, in1, ... and returns out (or out0, out1, ...).
struct OpEntry {
  int min_inputs = 1;
  int max_inputs = 1;  // -1: any number (cat)
  std::function<std::vector<Tensor>(const std::vector<Tensor>& in, const Kwargs& kw)> run;
};

// The op table, by PyTorch name (reference_ops.cpp).
const std::map<std::string, OpEntry>& op_table();

// The tolerance rule of reference-cases.md: an element passes when
// |a - b| <= atol + rtol * |b|, with atol = 1e-4 * max(1, max |b|), rtol = 1e-3 for an
// F32 reference and atol = 1e-10, rtol = 1e-7 for F64 (b: the reference). A non-finite
// reference element passes only if `got` holds the same value (NaN for NaN).
struct Comparison {
  bool ok = true;
  double max_abs = 0.0;  // largest |a - b|
  double max_rel = 0.0;  // largest |a - b| / |b|
  std::string problem;   // "shape (2, 3) != (3, 2)" etc., empty if the shapes match
};
Comparison compare(const Tensor& got, const Tensor& ref);

enum class Status { Pass, Fail, Skip };
const char* status_name(Status s);  // "PASS", "FAIL", "SKIP"

struct CaseResult {
  Status status = Status::Fail;
  std::string file;    // the case file's name (no folder)
  std::string op;      // "?" when the file could not be read
  std::string detail;  // "out: max_abs=... max_rel=... gin0: ..." or the reason
  std::string line() const;  // "<STATUS> <file> <op> <detail>"
};

// Runs one case. Never throws: an unreadable file or an op error is a Fail with the
// reason. With a non-empty `emit_dir`, writes <emit_dir>/<file> holding the framework's
// out/out<k> and gin<k> (whenever the forward pass ran). `device`: where the op runs (the
// inputs are moved there; results are compared on the host).
CaseResult run_case(const std::string& path, const std::string& emit_dir = "",
                    Device device = cpu_device());

// The command line `reference_check [--emit DIR] [--device cpu|cuda] PATH...` (args
// without the program name). Prints one line per case to `out`, then a summary. Returns 0 if no case
// failed, 1 if one did, 2 on a usage error (message to `err`).
int run_main(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace ldae::reference
