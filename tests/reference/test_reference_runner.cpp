// Tests of the reference runner itself: --emit over the committed cases, hand-made cases
// for shapes the generator never wrote, the tolerance rule, SKIP/FAIL reporting and the
// command line.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "tensor/cuda/runtime.h"
#include "tensor/safetensors.h"
#include "tests/reference/reference_runner.h"

using namespace ldae;
using namespace ldae::reference;
namespace fs = std::filesystem;

namespace {

class ReferenceRunner : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("ldae_reference_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "cases");
  }
  void TearDown() override { fs::remove_all(dir_); }

  // Writes a case file into <tmp>/cases and returns its path.
  std::string write_case(const std::string& name, const std::string& op,
                         const std::map<std::string, Tensor>& tensors,
                         std::map<std::string, std::string> kwargs = {}) const {
    kwargs["op"] = op;
    const std::string p = (dir_ / "cases" / name).string();
    write_safetensors(p, tensors, kwargs);
    return p;
  }

  // Runs the command line; returns the exit status, stdout in `out_text`.
  int run(const std::vector<std::string>& args, std::string* out_text = nullptr,
          std::string* err_text = nullptr) const {
    std::ostringstream out, err;
    const int rc = run_main(args, out, err);
    if (out_text) *out_text = out.str();
    if (err_text) *err_text = err.str();
    return rc;
  }

  fs::path dir_;
};

// A hand-made mul case with shapes (2, 1) * (3,) -> (2, 3), which the generator never
// wrote; the reference values are computed here by hand, in double.
std::map<std::string, Tensor> mul_case(DType dtype, double out_error = 0.0) {
  const std::vector<double> a = {1.5, -2.0}, b = {0.5, 3.0, -1.25};
  const std::vector<double> g = {1.0, -1.0, 2.0, 0.5, 0.25, -3.0};
  std::vector<double> out(6), ga(2, 0.0), gb(3, 0.0);
  for (int i = 0; i < 2; ++i)
    for (int j = 0; j < 3; ++j) {
      out[i * 3 + j] = a[i] * b[j] + out_error;
      ga[i] += g[i * 3 + j] * b[j];
      gb[j] += g[i * 3 + j] * a[i];
    }
  return {{"in0", Tensor::from_vector(a, {2, 1}, dtype)},
          {"in1", Tensor::from_vector(b, {3}, dtype)},
          {"out", Tensor::from_vector(out, {2, 3}, dtype)},
          {"gout", Tensor::from_vector(g, {2, 3}, dtype)},
          {"gin0", Tensor::from_vector(ga, {2, 1}, dtype)},
          {"gin1", Tensor::from_vector(gb, {3}, dtype)}};
}

}  // namespace

TEST_F(ReferenceRunner, EmitWritesAFilePerCommittedCase) {
  const fs::path emit = dir_ / "emitted";
  std::string out;
  const int rc = run({"--emit", emit.string(), LDAE_REFERENCE_CASES}, &out);
  EXPECT_NE(rc, 2) << out;  // numeric agreement is the reference_cases test's business
  int cases = 0, skipped = 0;
  for (const auto& e : fs::directory_iterator(LDAE_REFERENCE_CASES)) {
    if (e.path().extension() != ".safetensors") continue;
    ++cases;
    const std::string name = e.path().filename().string();
    const fs::path emitted = emit / name;
    if (out.find("SKIP " + name + " ") != std::string::npos) {  // a network not built here: nothing runs
      ++skipped;
      EXPECT_FALSE(fs::exists(emitted)) << name;
      continue;
    }
    ASSERT_TRUE(fs::exists(emitted)) << name << " was not emitted";
    const SafetensorsFile ref = read_safetensors(e.path().string());
    const SafetensorsFile got = read_safetensors(emitted.string());
    EXPECT_EQ(got.metadata.at("op"), ref.metadata.at("op")) << name;
    for (const auto& [key, t] : ref.tensors) {
      const bool compared = key == "out" || key.rfind("gin", 0) == 0 || key.rfind("gparam.", 0) == 0 ||
                            (key.rfind("out", 0) == 0 && key.size() > 3);
      if (!compared) continue;
      ASSERT_TRUE(got.tensors.count(key)) << name << " lacks " << key;
      EXPECT_EQ(got.tensors.at(key).shape(), t.shape()) << name << " " << key;
      EXPECT_EQ(got.tensors.at(key).dtype(), t.dtype()) << name << " " << key;
    }
  }
  EXPECT_GT(cases, 200);
  EXPECT_EQ(std::distance(fs::directory_iterator(emit), fs::directory_iterator()), cases - skipped);
}

TEST_F(ReferenceRunner, HandMadeCaseForANewShapePasses) {
  for (DType dtype : {DType::F32, DType::F64}) {
    const std::string p = write_case("mul_21_3_" + dtype_name(dtype) + ".safetensors", "mul",
                                     mul_case(dtype));
    const CaseResult r = run_case(p);
    EXPECT_EQ(r.status, Status::Pass) << r.line();
    EXPECT_EQ(r.op, "mul");
    EXPECT_NE(r.detail.find("out: max_abs="), std::string::npos) << r.line();
    EXPECT_NE(r.detail.find("gin0: max_abs="), std::string::npos) << r.line();
    EXPECT_NE(r.detail.find("gin1: max_abs="), std::string::npos) << r.line();
    EXPECT_EQ(r.line().rfind("PASS mul_21_3_", 0), 0u) << r.line();
  }
  std::string out;
  EXPECT_EQ(run({(dir_ / "cases").string()}, &out), 0) << out;
  EXPECT_NE(out.find("2 PASS, 0 FAIL, 0 SKIP"), std::string::npos) << out;
}

TEST_F(ReferenceRunner, PadWithoutModeAndInterpolateWithAlignCornersFalse) {
  // pad [1, 0] with value 0.5 of (1, 2): out = [0.5, x0, x1]; gin = gout[1:].
  const std::string pad = write_case(
      "pad.safetensors", "pad",
      {{"in0", Tensor::from_vector({3.0, -4.0}, {1, 2}, DType::F64)},
       {"out", Tensor::from_vector({0.5, 3.0, -4.0}, {1, 3}, DType::F64)},
       {"gout", Tensor::from_vector({7.0, 8.0, 9.0}, {1, 3}, DType::F64)},
       {"gin0", Tensor::from_vector({8.0, 9.0}, {1, 2}, DType::F64)}},
      {{"pad", "[1, 0]"}, {"value", "0.5"}});
  EXPECT_EQ(run_case(pad).status, Status::Pass) << run_case(pad).line();
  // nearest x2 of (1, 1, 2): out = [a, a, b, b]; gin = [g0 + g1, g2 + g3].
  const std::string up = write_case(
      "interp.safetensors", "interpolate",
      {{"in0", Tensor::from_vector({1.0, 2.0}, {1, 1, 2}, DType::F64)},
       {"out", Tensor::from_vector({1.0, 1.0, 2.0, 2.0}, {1, 1, 4}, DType::F64)},
       {"gout", Tensor::from_vector({1.0, 2.0, 3.0, 4.0}, {1, 1, 4}, DType::F64)},
       {"gin0", Tensor::from_vector({3.0, 7.0}, {1, 1, 2}, DType::F64)}},
      {{"scale_factor", "[2.0]"}, {"mode", "\"nearest\""}, {"align_corners", "false"}});
  EXPECT_EQ(run_case(up).status, Status::Pass) << run_case(up).line();
}

TEST_F(ReferenceRunner, WrongValuesFail) {
  const std::string p = write_case("bad_mul.safetensors", "mul", mul_case(DType::F64, 1e-6));
  const CaseResult r = run_case(p);
  EXPECT_EQ(r.status, Status::Fail) << r.line();
  EXPECT_NE(r.detail.find("out: max_abs=1.00e-06"), std::string::npos) << r.line();
  EXPECT_NE(r.detail.find(" !"), std::string::npos) << r.line();
  std::string out;
  EXPECT_EQ(run({p}, &out), 1);
  EXPECT_EQ(out.rfind("FAIL bad_mul.safetensors mul out:", 0), 0u) << out;

  // A reference output of the wrong shape fails too.
  auto tensors = mul_case(DType::F64);
  tensors["out"] = tensors["out"].reshape({3, 2});
  const CaseResult s = run_case(write_case("shape.safetensors", "mul", tensors));
  EXPECT_EQ(s.status, Status::Fail);
  EXPECT_NE(s.detail.find("out: shape (2, 3) != (3, 2)"), std::string::npos) << s.line();
}

TEST_F(ReferenceRunner, ToleranceRule) {
  // F32: atol = 1e-4 * max(1, max |b|) = 1e-3 here, rtol = 1e-3.
  const Tensor ref32 = Tensor::from_vector({10.0, -0.5}, {2}, DType::F32);
  const double bound0 = 1e-3 + 1e-3 * 10.0;
  EXPECT_TRUE(compare(Tensor::from_vector({10.0 + 0.9 * bound0, -0.5}, {2}, DType::F64), ref32).ok);
  EXPECT_FALSE(compare(Tensor::from_vector({10.0 + 1.1 * bound0, -0.5}, {2}, DType::F64), ref32).ok);
  // F64: atol = 1e-10, rtol = 1e-7.
  const Tensor ref64 = Tensor::from_vector({2.0}, {1}, DType::F64);
  EXPECT_TRUE(compare(Tensor::from_vector({2.0 + 1.5e-7}, {1}, DType::F64), ref64).ok);
  EXPECT_FALSE(compare(Tensor::from_vector({2.0 + 3e-7}, {1}, DType::F64), ref64).ok);
  const Comparison c = compare(Tensor::from_vector({2.5}, {1}, DType::F64), ref64);
  EXPECT_DOUBLE_EQ(c.max_abs, 0.5);
  EXPECT_DOUBLE_EQ(c.max_rel, 0.25);
  // NaN never passes; shapes must match exactly.
  EXPECT_FALSE(compare(Tensor::from_vector({std::nan("")}, {1}, DType::F64), ref64).ok);
  EXPECT_FALSE(compare(Tensor::from_vector({2.0}, {1, 1}, DType::F64), ref64).ok);
}

TEST_F(ReferenceRunner, UnknownOpsModulesAndUnsupportedArgumentsSkip) {
  auto tensors = mul_case(DType::F64);
  const CaseResult module = run_case(write_case("m.safetensors", "module:resblock3d", tensors));
  EXPECT_EQ(module.status, Status::Skip) << module.line();
  const CaseResult unknown = run_case(write_case("u.safetensors", "frobnicate", tensors));
  EXPECT_EQ(unknown.status, Status::Skip) << unknown.line();
  EXPECT_NE(unknown.detail.find("not implemented"), std::string::npos);
  // An argument the op entry does not read would be ignored silently: SKIP instead.
  const CaseResult alpha =
      run_case(write_case("a.safetensors", "mul", tensors, {{"alpha", "2.0"}}));
  EXPECT_EQ(alpha.status, Status::Skip) << alpha.line();
  EXPECT_NE(alpha.detail.find("alpha"), std::string::npos) << alpha.line();
  const std::map<std::string, Tensor> x = {{"in0", Tensor::ones({1, 1, 2}, DType::F64)},
                                           {"out", Tensor::ones({1, 1, 4}, DType::F64)}};
  const CaseResult corners = run_case(write_case(
      "c.safetensors", "interpolate", x,
      {{"scale_factor", "[2.0]"}, {"mode", "\"trilinear\""}, {"align_corners", "true"}}));
  EXPECT_EQ(corners.status, Status::Skip) << corners.line();
  EXPECT_NE(corners.detail.find("align_corners=true"), std::string::npos) << corners.line();
  const CaseResult reflect = run_case(
      write_case("r.safetensors", "pad", x, {{"pad", "[1, 1]"}, {"mode", "\"reflect\""}}));
  EXPECT_EQ(reflect.status, Status::Skip) << reflect.line();
  // Skips do not fail the run.
  std::string out;
  EXPECT_EQ(run({(dir_ / "cases").string()}, &out), 0) << out;
  EXPECT_NE(out.find("0 PASS, 0 FAIL, 5 SKIP"), std::string::npos) << out;
}

TEST_F(ReferenceRunner, MalformedCasesFail) {
  auto tensors = mul_case(DType::F64);
  const std::string no_op = (dir_ / "cases" / "no_op.safetensors").string();
  write_safetensors(no_op, tensors, {{"name", "x"}});
  EXPECT_EQ(run_case(no_op).status, Status::Fail);
  const CaseResult json =
      run_case(write_case("j.safetensors", "pow", {{"in0", tensors["in0"]}, {"out", tensors["in0"]}},
                          {{"exponent", "two"}}));
  EXPECT_EQ(json.status, Status::Fail);
  EXPECT_NE(json.detail.find("exponent"), std::string::npos) << json.line();
  const CaseResult type = run_case(write_case(
      "t.safetensors", "pow", {{"in0", tensors["in0"]}, {"out", tensors["in0"]}},
      {{"exponent", "\"two\""}}));
  EXPECT_EQ(type.status, Status::Fail);
  EXPECT_NE(type.detail.find("is not a number"), std::string::npos) << type.line();
  auto no_out = tensors;
  no_out.erase("out");
  EXPECT_EQ(run_case(write_case("o.safetensors", "mul", no_out)).status, Status::Fail);
  auto gap = tensors;
  gap["in2"] = gap["in1"];
  gap.erase("in1");
  gap.erase("gin1");
  const CaseResult g = run_case(write_case("g.safetensors", "mul", gap));
  EXPECT_EQ(g.status, Status::Fail);
  EXPECT_NE(g.detail.find("gap"), std::string::npos) << g.line();
  const CaseResult arity = run_case(write_case(
      "n.safetensors", "mul", {{"in0", tensors["in0"]}, {"out", tensors["in0"]}}));
  EXPECT_EQ(arity.status, Status::Fail);
  EXPECT_NE(arity.detail.find("takes 2 inputs, the case has 1"), std::string::npos) << arity.line();
}

TEST_F(ReferenceRunner, UnreadableFilesFailAndTheRunGoesOn) {
  std::ofstream((dir_ / "cases" / "a_garbage.safetensors").string()) << "not a safetensors file";
  write_case("b_good.safetensors", "mul", mul_case(DType::F64));
  std::string out;
  EXPECT_EQ(run({(dir_ / "cases").string(), (dir_ / "missing.safetensors").string()}, &out), 1);
  EXPECT_NE(out.find("FAIL a_garbage.safetensors ? (error: safetensors: "), std::string::npos) << out;
  EXPECT_NE(out.find("PASS b_good.safetensors mul"), std::string::npos) << out;
  EXPECT_NE(out.find("FAIL missing.safetensors ? (error: safetensors: "), std::string::npos) << out;
  EXPECT_NE(out.find("1 PASS, 2 FAIL, 0 SKIP"), std::string::npos) << out;
  // The files come in name order.
  EXPECT_LT(out.find("a_garbage"), out.find("b_good"));
}

TEST_F(ReferenceRunner, CommandLine) {
  std::string out, err;
  EXPECT_EQ(run({"--help"}, &out), 0);
  EXPECT_NE(out.find("usage: reference_check [--emit DIR] [--device cpu|cuda] PATH..."),
            std::string::npos);
  EXPECT_EQ(run({}, &out, &err), 2);
  EXPECT_NE(err.find("usage:"), std::string::npos);
  EXPECT_EQ(run({"--emit"}, &out, &err), 2);
  EXPECT_EQ(run({"--bogus", "x"}, &out, &err), 2);
  EXPECT_NE(err.find("unknown option --bogus"), std::string::npos);
  // A folder without cases is a failure, not a silent pass.
  fs::create_directories(dir_ / "empty");
  EXPECT_EQ(run({(dir_ / "empty").string()}, &out), 1);
  // --emit=DIR works too, and creates the folder.
  write_case("mul.safetensors", "mul", mul_case(DType::F32));
  EXPECT_EQ(run({"--emit=" + (dir_ / "e" / "f").string(), (dir_ / "cases").string()}, &out), 0);
  const SafetensorsFile emitted = read_safetensors((dir_ / "e" / "f" / "mul.safetensors").string());
  EXPECT_EQ(emitted.tensors.size(), 3u);  // out, gin0, gin1
  EXPECT_EQ(emitted.tensors.at("out").dtype(), DType::F32);
  // --device: cpu runs as before; cuda without a usable GPU is a usage error naming why.
  EXPECT_EQ(run({"--device", "cpu", (dir_ / "cases").string()}, &out), 0);
  EXPECT_EQ(run({"--device=tpu", (dir_ / "cases").string()}, &out, &err), 2);
  EXPECT_NE(err.find("unknown device \"tpu\""), std::string::npos) << err;
  if (!cuda_available()) {
    EXPECT_EQ(run({"--device", "cuda", (dir_ / "cases").string()}, &out, &err), 2);
    EXPECT_NE(err.find(cuda_unavailable_reason()), std::string::npos) << err;
  } else {  // on a GPU: the case runs there and passes
    EXPECT_EQ(run({"--device", "cuda:0", (dir_ / "cases").string()}, &out), 0) << out;
  }
}

// ---- Whole networks (reference-cases.md "Whole networks") ----------------------------------

namespace {

SafetensorsFile committed_case(const std::string& name) {
  return read_safetensors(std::string(LDAE_REFERENCE_CASES) + "/" + name);
}

// The smallest committed UNet and ShiftUNet cases (float64).
const char* kUNetCase = "network_unet_3d_1level_head_channel1_f64.safetensors";
const char* kShiftCase = "network_shift_unet_3d_122_legacy_f64.safetensors";

}  // namespace

TEST_F(ReferenceRunner, NetworkCaseWithAMissingOrUnexpectedKeyFails) {
  const SafetensorsFile f = committed_case(kUNetCase);
  ASSERT_TRUE(f.tensors.count("param.out.2.weight"));
  {
    const CaseResult r = run_case(write_case("ok.safetensors", f.metadata.at("op"), f.tensors, f.metadata));
    EXPECT_EQ(r.status, Status::Pass) << r.line();
  }
  auto missing = f.tensors;
  missing.erase("param.out.2.weight");
  missing.erase("gparam.out.2.weight");
  const CaseResult m = run_case(write_case("missing.safetensors", f.metadata.at("op"), missing, f.metadata));
  EXPECT_EQ(m.status, Status::Fail) << m.line();
  EXPECT_NE(m.detail.find("out.2.weight"), std::string::npos) << m.line();
  EXPECT_NE(m.detail.find("missing"), std::string::npos) << m.line();

  auto unexpected = f.tensors;
  unexpected["param.out.3.weight"] = f.tensors.at("param.out.2.bias");
  const CaseResult u = run_case(write_case("unexpected.safetensors", f.metadata.at("op"), unexpected, f.metadata));
  EXPECT_EQ(u.status, Status::Fail) << u.line();
  EXPECT_NE(u.detail.find("out.3.weight"), std::string::npos) << u.line();
  EXPECT_NE(u.detail.find("unexpected"), std::string::npos) << u.line();

  // A published constructor argument is required: without it the case fails (no silent default).
  auto meta = f.metadata;
  meta.erase("head_channel");
  const CaseResult a = run_case(write_case("noarg.safetensors", f.metadata.at("op"), f.tensors, meta));
  EXPECT_EQ(a.status, Status::Fail) << a.line();
  EXPECT_NE(a.detail.find("head_channel"), std::string::npos) << a.line();
}

TEST_F(ReferenceRunner, NetworkCaseWithSeveralOutputs) {
  const SafetensorsFile f = committed_case(kShiftCase);
  ASSERT_TRUE(f.tensors.count("out0") && f.tensors.count("out1") && f.tensors.count("gout1"));
  ASSERT_FALSE(f.tensors.count("gin1"));  // timesteps: no gradient
  const std::string op = f.metadata.at("op");
  const CaseResult r = run_case(write_case("shift.safetensors", op, f.tensors, f.metadata));
  EXPECT_EQ(r.status, Status::Pass) << r.line();
  for (const char* part : {"out0: max_abs=", "out1: max_abs=", "gin0: max_abs=", "gin2: max_abs=", "gparam("})
    EXPECT_NE(r.detail.find(part), std::string::npos) << part << " in " << r.line();

  // A wrong second output fails, naming it.
  auto bad_out = f.tensors;
  bad_out["out1"] = Tensor::from_vector([&] {
    std::vector<double> v = f.tensors.at("out1").to_vector();
    v[0] += 1e-3;
    return v;
  }(), f.tensors.at("out1").shape(), DType::F64);
  const CaseResult o = run_case(write_case("bad_out1.safetensors", op, bad_out, f.metadata));
  EXPECT_EQ(o.status, Status::Fail) << o.line();
  EXPECT_NE(o.detail.find("out1: max_abs=1.00e-03"), std::string::npos) << o.line();
  const size_t out1_at = o.detail.find("out1:");
  EXPECT_EQ(o.detail.substr(0, out1_at).find(" !"), std::string::npos) << "out0 is fine: " << o.line();
  EXPECT_NE(o.detail.find(" !", out1_at), std::string::npos) << o.line();

  // gin is the gradient of the SUM over the outputs: dropping the second output's upstream
  // gradient (gout1 = 0) changes gin0, which then fails.
  auto no_gout1 = f.tensors;
  no_gout1["gout1"] = Tensor::zeros(f.tensors.at("gout1").shape(), DType::F64);
  const CaseResult g = run_case(write_case("gout1_zero.safetensors", op, no_gout1, f.metadata));
  EXPECT_EQ(g.status, Status::Fail) << g.line();
  EXPECT_NE(g.detail.find("gin0: max_abs="), std::string::npos) << g.line();

  // A parameter PyTorch trains but the case lists without gparam must get no gradient here:
  // label_emb does, so the case fails.
  auto no_gparam = f.tensors;
  ASSERT_TRUE(no_gparam.erase("gparam.label_emb.weight"));
  const CaseResult p = run_case(write_case("no_gparam.safetensors", op, no_gparam, f.metadata));
  EXPECT_EQ(p.status, Status::Fail) << p.line();
  EXPECT_NE(p.detail.find("gparam.label_emb.weight: a gradient where PyTorch gives none"), std::string::npos)
      << p.line();
}

TEST_F(ReferenceRunner, EmitWritesEveryOutputAndParameterGradientOfANetworkCase) {
  const SafetensorsFile f = committed_case(kShiftCase);
  const std::string p = write_case("shift.safetensors", f.metadata.at("op"), f.tensors, f.metadata);
  const fs::path emit = dir_ / "emitted";
  std::string out;
  ASSERT_EQ(run({"--emit", emit.string(), p}, &out), 0) << out;
  const SafetensorsFile got = read_safetensors((emit / "shift.safetensors").string());
  int gparams = 0;
  for (const auto& [key, t] : f.tensors) {
    const bool compared = key == "out0" || key == "out1" || key.rfind("gin", 0) == 0 || key.rfind("gparam.", 0) == 0;
    if (!compared) continue;
    gparams += key.rfind("gparam.", 0) == 0;
    ASSERT_TRUE(got.tensors.count(key)) << key << " was not emitted";
    EXPECT_EQ(got.tensors.at(key).shape(), t.shape()) << key;
    EXPECT_TRUE(compare(got.tensors.at(key), t).ok) << key;
  }
  EXPECT_GT(gparams, 50);
  // The frozen UNet part has no gradient, in PyTorch and here: nothing emitted for it.
  EXPECT_FALSE(f.tensors.count("gparam.out.2.weight"));
  EXPECT_FALSE(got.tensors.count("gparam.out.2.weight"));
  EXPECT_TRUE(got.tensors.count("gparam.shift_out.2.weight"));
}
