// The state-dict listing (nn/state_dict_listing.h): PyTorch's order (own parameters, own
// buffers, then children depth first) and the text format of the published listings.
#include <gtest/gtest.h>

#include "nn/linear.h"
#include "nn/state_dict_listing.h"
#include "tensor/random.h"

using namespace ldae;

namespace {

// A module with a parameter, a buffer and two children, registered in an order that a
// sorted (std::map) listing would not keep.
class Block : public nn::Module {
 public:
  explicit Block(Generator& gen) {
    register_parameter("scale", Tensor::ones({3}));
    register_buffer("steps", Tensor::zeros({}));
    register_module("proj", std::make_shared<nn::Linear>(3, 2, gen));
    register_module("head", std::make_shared<nn::Linear>(2, 1, gen, /*bias=*/false));
  }
};

}  // namespace

TEST(StateDictListing, PyTorchOrderAndFormat) {
  Generator gen(0);
  Block block(gen);
  EXPECT_EQ(nn::state_dict_listing(block),
            "scale 3 param\n"
            "steps scalar buffer\n"
            "proj.weight 2x3 param\n"
            "proj.bias 2 param\n"
            "head.weight 1x2 param\n"
            "total_parameters 13\n");
}

TEST(StateDictListing, ShapeText) {
  EXPECT_EQ(nn::listing_shape({64, 1, 3, 3, 3}), "64x1x3x3x3");
  EXPECT_EQ(nn::listing_shape({}), "scalar");
  EXPECT_EQ(nn::listing_shape({7}), "7");
}

TEST(StateDictListing, PublishedListingsAreInTheRepository) {
  // The network tests compare against these copies; each ends with its parameter count.
  for (const char* net : {"autoencoder_kl", "patch_discriminator", "unet", "shift_unet",
                          "attention_semantic_encoder", "convnext"}) {
    const std::string path = std::string(LDAE_SOURCE_DIR) + "/tests/reference/state_dicts/" + net + ".txt";
    FILE* f = std::fopen(path.c_str(), "r");
    ASSERT_NE(f, nullptr) << path;
    std::fclose(f);
  }
}
