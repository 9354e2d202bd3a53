// Float64 gradient checks of every op of the op table (tests/common/op_table.cpp): for
// each case with at least one input that wants a gradient, ag::gradcheck compares the
// gradients of ag::backward with central differences. One GoogleTest test per case:
//   OpTable/OpGradcheck.MatchesFiniteDifferences/<case name>
// Module-level checks (nn blocks) are in test_nn_blocks_grad.cpp.
#include <gtest/gtest.h>

#include <cctype>
#include <set>
#include <string>
#include <vector>

#include "autograd/functions.h"
#include "autograd/gradcheck.h"
#include "common/op_table.h"

using namespace ldae;
using ldae::optable::OpCase;

namespace {

// A case of the table, as a test parameter (printed by name in messages and CTest names).
struct Param {
  const OpCase* op;
};

void PrintTo(const Param& p, std::ostream* os) {
  *os << p.op->name;
}

// The cases of the table that the gradient check covers.
std::vector<Param> gradcheck_cases() {
  std::vector<Param> out;
  for (const OpCase& c : optable::op_table())
    if (c.gradcheck && optable::has_grad_input(c)) out.push_back({&c});
  return out;
}

class OpGradcheck : public ::testing::TestWithParam<Param> {};

TEST_P(OpGradcheck, MatchesFiniteDifferences) {
  const OpCase& c = *GetParam().op;
  Generator gen(optable::seed_of(c.name));
  std::vector<Tensor> inputs = optable::draw_inputs(c.inputs, gen);
  for (size_t k = 0; k < inputs.size(); ++k)
    if (c.inputs[k].grad) inputs[k].set_requires_grad(true);
  const ag::GradcheckResult r = ag::gradcheck(c.f, inputs);
  EXPECT_TRUE(r.ok) << c.name << ": " << r.message;
}

INSTANTIATE_TEST_SUITE_P(OpTable, OpGradcheck, ::testing::ValuesIn(gradcheck_cases()),
                         [](const ::testing::TestParamInfo<Param>& p) { return p.param.op->name; });

// The table itself: names unique and usable as test names, a known family, and at
// least one case per family in the gradient check.
TEST(OpTable, NamesAreUniqueTestNames) {
  std::set<std::string> names;
  for (const OpCase& c : optable::op_table()) {
    EXPECT_TRUE(names.insert(c.name).second) << "duplicate case " << c.name;
    for (char ch : c.name)
      EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_') << c.name;
    EXPECT_FALSE(c.family.empty()) << c.name;
    EXPECT_TRUE(c.f) << c.name;
    EXPECT_TRUE(c.det_inputs.empty() || c.det_inputs.size() == c.inputs.size()) << c.name;
  }
  EXPECT_GE(gradcheck_cases().size(), 100u);
}

// A wrong gradient must be caught: the same check on a function whose backward is
// deliberately wrong (the gradient of x * x stopped on one factor) fails.
TEST(OpTable, GradcheckCatchesAWrongGradient) {
  Generator gen(1);
  Tensor x = rand({3, 4}, gen, DType::F64, 0.5, 2.0).set_requires_grad();
  const auto wrong = [](const std::vector<Tensor>& v) { return ag::mul(v[0], v[0].detach()); };
  EXPECT_FALSE(ag::gradcheck(wrong, {x}).ok);
}

}  // namespace
