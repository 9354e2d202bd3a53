// Float64 gradient checks of the nn layers and reference blocks, with respect to their
// inputs and a few of their parameters (tiny sizes). Parameters are randomised first:
// the blocks' zero initialisations would make most gradients trivially zero.
#include <gtest/gtest.h>

#include <memory>

#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "ldae/code_norm.h"
#include "nn/attention.h"
#include "nn/blocks.h"
#include "nn/conv.h"
#include "nn/dropout.h"
#include "nn/embedding.h"
#include "nn/linear.h"
#include "nn/norm.h"

namespace ldae {
namespace {

using testing::leaf;

// Converts the module to F64 and fills every parameter with U(-0.7, 0.7), GroupNorm /
// LayerNorm scales with U(0.5, 1.5).
void randomise(nn::Module& m, Generator& gen) {
  m.to(DType::F64);
  NoGrad no_grad;
  for (auto& [name, p] : m.named_parameters()) {
    const bool norm_scale = p.dim() == 1 && name.size() >= 6 && name.substr(name.size() - 6) == "weight" &&
                            (name.find("norm") != std::string::npos || name.find("layers.0.") != std::string::npos);
    p.copy_(norm_scale ? rand(p.shape(), gen, DType::F64, 0.5, 1.5) : rand(p.shape(), gen, DType::F64, -0.7, 0.7));
  }
}

Tensor param(const nn::Module& m, const std::string& name) { return m.state_dict().at(name); }

// Perturbing at most 60 entries per tensor keeps each check well under a second.
ag::GradcheckOptions quick() {
  ag::GradcheckOptions o;
  o.max_entries_per_input = 60;
  return o;
}

#define EXPECT_GRADCHECK_QUICK(f, inputs)                        \
  do {                                                           \
    const auto r_ = ::ldae::ag::gradcheck((f), (inputs), quick()); \
    EXPECT_TRUE(r_.ok) << r_.message;                            \
  } while (0)

TEST(NnGrad, LinearWithTransposedInput) {
  Generator gen(1);
  nn::Linear lin(3, 4, gen);
  randomise(lin, gen);
  Tensor x = leaf({3, 2, 5}, gen);  // used as its (5, 2, 3) transpose: non-contiguous
  auto f = [&](const std::vector<Tensor>& in) { return lin.forward(ag::transpose(in[0], 0, 2)); };
  EXPECT_GRADCHECK_QUICK(f, (std::vector<Tensor>{x, lin.weight, lin.bias}));
}

TEST(NnGrad, Conv1dAndConv3d) {
  Generator gen(2);
  nn::ConvOptions o1;
  o1.kernel_size = {3};
  o1.padding = {1};
  o1.stride = {2};
  nn::Conv1d c1(2, 3, o1, gen);
  randomise(c1, gen);
  Tensor x1 = leaf({2, 2, 7}, gen);
  auto f1 = [&](const std::vector<Tensor>& in) { return c1.forward(in[0]); };
  EXPECT_GRADCHECK_QUICK(f1, (std::vector<Tensor>{x1, c1.weight, c1.bias}));

  nn::ConvOptions o3;
  o3.kernel_size = {1, 3, 3};
  o3.padding = {0, 1, 1};
  o3.stride = {1, 2, 2};
  nn::Conv3d c3(2, 2, o3, gen);
  randomise(c3, gen);
  Tensor x3 = leaf({1, 2, 2, 4, 3}, gen);
  auto f3 = [&](const std::vector<Tensor>& in) { return c3.forward(in[0]); };
  EXPECT_GRADCHECK_QUICK(f3, (std::vector<Tensor>{x3, c3.weight, c3.bias}));
}

TEST(NnGrad, GroupNormAndLayerNorm) {
  Generator gen(3);
  nn::GroupNorm gn(2, 4);
  randomise(gn, gen);
  Tensor x = leaf({2, 4, 3, 2}, gen);
  auto fg = [&](const std::vector<Tensor>& in) { return gn.forward(in[0]); };
  EXPECT_GRADCHECK_QUICK(fg, (std::vector<Tensor>{x, gn.weight, gn.bias}));

  nn::LayerNorm ln({4});
  randomise(ln, gen);
  Tensor y = leaf({4, 3}, gen);  // used transposed: (3, 4)
  auto fl = [&](const std::vector<Tensor>& in) { return ln.forward(ag::transpose(in[0], 0, 1)); };
  EXPECT_GRADCHECK_QUICK(fl, (std::vector<Tensor>{y, ln.weight, ln.bias}));
}

// Train mode through the batch statistics (the running statistics move on every call, which
// does not change the output), eval mode through the running statistics.
TEST(NnGrad, BatchNormTrainAndEval) {
  Generator gen(4);
  nn::BatchNorm bn(3);
  randomise(bn, gen);
  Tensor x = leaf({2, 3, 2, 3, 2}, gen);
  auto f = [&](const std::vector<Tensor>& in) { return bn.forward(in[0]); };
  bn.train();
  EXPECT_GRADCHECK_QUICK(f, (std::vector<Tensor>{x, bn.weight, bn.bias}));
  EXPECT_GT(bn.num_batches_tracked.item(), 0.0);
  bn.eval();
  EXPECT_GRADCHECK_QUICK(f, (std::vector<Tensor>{x, bn.weight, bn.bias}));
}

TEST(NnGrad, MultiheadSelfAndCrossAttention) {
  Generator gen(4);
  nn::MultiheadAttention mha(4, 2, gen);
  randomise(mha, gen);
  Tensor x = leaf({2, 3, 4}, gen);
  auto self = [&](const std::vector<Tensor>& in) { return mha.forward(in[0], in[0], in[0]); };
  EXPECT_GRADCHECK_QUICK(self, (std::vector<Tensor>{x, mha.in_proj_weight, mha.in_proj_bias}));

  Tensor q = leaf({2, 1, 4}, gen), k = leaf({2, 5, 4}, gen), v = leaf({2, 5, 4}, gen);
  auto cross = [&](const std::vector<Tensor>& in) { return mha.forward(in[0], in[1], in[2]); };
  EXPECT_GRADCHECK_QUICK(cross, (std::vector<Tensor>{q, k, v, param(mha, "out_proj.weight")}));
}

TEST(NnGrad, AttentionBlockBothOrders) {
  Generator gen(5);
  for (bool new_order : {false, true}) {
    SCOPED_TRACE(new_order ? "new order" : "legacy order");
    nn::AttentionBlockOptions o;
    o.channels = 4;
    o.num_heads = 2;
    o.num_groups = 2;
    o.use_new_attention_order = new_order;
    nn::AttentionBlock block(o, gen);
    randomise(block, gen);
    Tensor x = leaf({1, 4, 2, 2, 3}, gen);
    auto f = [&](const std::vector<Tensor>& in) { return block.forward(in[0]); };
    EXPECT_GRADCHECK_QUICK(f, (std::vector<Tensor>{x, param(block, "qkv.weight"), param(block, "proj_out.weight"),
                                                   param(block, "norm.weight")}));
  }
}

nn::ResBlockOptions small_block(int64_t out, bool up, bool down) {
  nn::ResBlockOptions o;
  o.channels = 2;
  o.out_channels = out;
  o.emb_channels = 3;
  o.num_groups = 1;
  o.up = up;
  o.down = down;
  return o;
}

// x: the input's shape; the block maps 2 channels to `out`, with up/down resampling.
void check_resblock(int64_t out, bool up, bool down, const Shape& x_shape, uint64_t seed) {
  Generator gen(seed);
  nn::ResBlock block(small_block(out, up, down), gen);
  randomise(block, gen);
  Tensor x = leaf(x_shape, gen), emb = leaf({1, 3}, gen);
  auto f = [&](const std::vector<Tensor>& in) { return block.forward(in[0], in[1]); };
  EXPECT_GRADCHECK_QUICK(f, (std::vector<Tensor>{x, emb, param(block, "in_layers.2.weight"),
                                                 param(block, "emb_layers.1.weight"),
                                                 param(block, "out_layers.0.bias")}));
}

TEST(NnGrad, ResBlockSameChannels) { check_resblock(2, false, false, {1, 2, 2, 2, 3}, 6); }
TEST(NnGrad, ResBlockSkipConv) { check_resblock(3, false, false, {1, 2, 2, 3, 2}, 16); }
TEST(NnGrad, ResBlockDown) { check_resblock(2, false, true, {1, 2, 1, 4, 4}, 26); }
TEST(NnGrad, ResBlockUp) { check_resblock(3, true, false, {1, 2, 1, 2, 2}, 36); }

TEST(NnGrad, ShiftResBlock) {
  Generator gen(7);
  nn::ShiftResBlock block(small_block(3, false, false), gen);
  randomise(block, gen);
  Tensor x = leaf({2, 2, 2, 2, 2}, gen), emb = leaf({2, 3}, gen), emb_z = leaf({2, 3}, gen);
  auto f = [&](const std::vector<Tensor>& in) { return block.forward(in[0], in[1], in[2]); };
  EXPECT_GRADCHECK_QUICK(f, (std::vector<Tensor>{x, emb, emb_z, param(block, "emb_z_layers.1.weight"),
                                                 param(block, "emb_z_layers.1.bias"),
                                                 param(block, "skip_connection.weight")}));
}

TEST(NnGrad, ResBlockWithDropoutReplayingTheMask) {
  // Dropout masks come from the generator: rewinding it to the same offset before each
  // evaluation makes the block a fixed function that gradcheck can differentiate.
  Generator gen(8);
  auto drop_gen = std::make_shared<Generator>(99);
  nn::ResBlockOptions o = small_block(2, false, false);
  o.dropout = 0.3;
  nn::ResBlock block(o, gen, drop_gen);
  randomise(block, gen);
  Tensor x = leaf({1, 2, 2, 2, 2}, gen), emb = leaf({1, 3}, gen);
  const uint64_t start = drop_gen->offset;
  auto f = [&](const std::vector<Tensor>& in) {
    drop_gen->offset = start;
    return block.forward(in[0], in[1]);
  };
  EXPECT_GRADCHECK_QUICK(f, (std::vector<Tensor>{x, emb, param(block, "out_layers.3.weight")}));
}

TEST(NnGrad, TimeEmbeddingParameters) {
  Generator gen(9);
  nn::TimeEmbedding te(4, 6, gen);
  randomise(te, gen);
  const Tensor t = Tensor::from_vector({0.0, 7.0, 999.0}, {3}, DType::F64);  // data, not differentiable
  auto f = [&](const std::vector<Tensor>&) { return te.forward(t); };
  EXPECT_GRADCHECK_QUICK(f, (std::vector<Tensor>{param(te, "0.weight"), param(te, "2.bias")}));
}

// The stage-3 code standardiser (ldae/code_norm.h) in training mode: batch mode centres on
// the batch's own mean (its gradient couples the rows), running mode is an affine map.
TEST(NnGrad, CodeStandardiserBothModes) {
  for (nets::CodeNorm m : {nets::CodeNorm::Batch, nets::CodeNorm::Running}) {
    Generator gen(10);
    nets::CodeStandardiserOptions o;
    o.mode = m;
    nets::CodeStandardiser cs(3, o);
    cs.track(rand({5, 3}, gen, DType::F64, -1.0, 2.0));
    cs.train();
    Tensor y = leaf({4, 3}, gen);
    // a weighted sum, so that the centred rows' zero column sums do not hide the gradient
    const Tensor w = rand({4, 3}, gen, DType::F64, -1.0, 1.0);
    auto f = [&](const std::vector<Tensor>& in) { return ag::mul(cs.forward(in[0]), w); };
    SCOPED_TRACE(nets::code_norm_name(m));
    EXPECT_GRADCHECK_QUICK(f, (std::vector<Tensor>{y}));
  }
}

}  // namespace
}  // namespace ldae
