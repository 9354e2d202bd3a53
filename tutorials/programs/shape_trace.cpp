// Tutorial chapter 6 program: build one of the LDAE networks and print the shape of the
// tensor after every block of one forward pass (nn/shape_trace.h), then the parameter count.
// The networks come from the model zoo (ldae/model_zoo.h), the same as `ldae model`, and
// run on a random input for the preset's image (batch 1).
//
// Run: ./build/tutorials/shape_trace [--net autoencoder_kl|unet|shift_unet|...] [--preset tiny|course|paper]
#include <cstdio>
#include <iostream>
#include <string>

#include "autograd/no_grad.h"
#include "ldae/model_zoo.h"
#include "ldae/presets.h"
#include "nn/shape_trace.h"
#include "tensor/random.h"
#include "tutorials/programs/cli.h"

using namespace ldae;

int main(int argc, char** argv) {
  std::string net = "autoencoder_kl", preset = "tiny";
  CLI::App app{"Print the shapes one forward pass of an LDAE network goes through"};
  app.add_option("--net", net, "Network: " + nets::model_names())->capture_default_str();
  app.add_option("--preset", preset, "tiny (16x20x16 image), course (64x80x64) or paper (128x160x128)")
      ->capture_default_str();
  if (int code = tutorial::parse(app, argc, argv); code >= 0) return code;
  try {
    const nets::ModelEntry& entry = nets::find_model(net);
    nets::check_preset(preset);
    if (!entry.example_forward) {
      std::fprintf(stderr, "error: %s has no example forward pass\n", net.c_str());
      return 1;
    }
    Generator gen(0);
    const auto model = entry.build(preset, gen);
    model->eval();
    const Shape image = nets::preset_image_shape(preset);
    std::printf("%s at the %s preset, image (1, 1, %ld, %ld, %ld):\n", net.c_str(), preset.c_str(),
                static_cast<long>(image[2]), static_cast<long>(image[3]), static_cast<long>(image[4]));
    NoGrad no_grad;  // only shapes are wanted: keep no graph
    Tensor out;
    {
      nn::ShapeTrace trace(std::cout);
      out = entry.example_forward(*model, preset, image, gen);
    }
    std::printf("parameters: %ld\n", static_cast<long>(model->parameter_count()));
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "error: %s\n", e.what());
    return 1;
  }
}
