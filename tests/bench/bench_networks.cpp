// One training step of every LDAE network, part of ldae_bench:
//
//   network_forward_backward/<net>/<preset>
//   network_inference/<net>/<preset>
//
// The first is the zoo's example forward pass (ldae/model_zoo.h: a random input for the
// preset's image, batch 1, float32, train mode) and the backward of sum(output), which fills
// every parameter's gradient. The weights are initialised as in training. Counters: the peak of
// the tensor memory one step allocates and the multiply-adds of its forward pass
// (tensor/cost_counter.h, counted on two extra steps before timing).
// tests/bench/pytorch_bench_networks.py times the same steps in PyTorch and prints the table
// of docs/benchmarks.md. The second is the forward pass alone as the evaluation runs it (eval
// mode, no autograd graph): what `ldae evaluate` and `ldae encode` pay per scan.
#include <benchmark/benchmark.h>

#include <memory>
#include <string>

#include "autograd/engine.h"
#include "autograd/no_grad.h"
#include "ldae/model_zoo.h"
#include "ldae/presets.h"
#include "tensor/cost_counter.h"

namespace {

using namespace ldae;

// The zoo's network `net` at `preset`, initialised as in training (seed 0), the preset's image
// shape and the generator of the example inputs (seed 1): what both benchmarks run.
struct Network {
  const nets::ModelEntry& entry;
  std::shared_ptr<nn::Module> model;
  Shape image;
  Generator data{1};
};

Network build_network(const std::string& net, const std::string& preset) {
  const nets::ModelEntry& entry = nets::find_model(net);
  Generator init(0);
  return {entry, entry.build(preset, init), nets::preset_image_shape(preset)};
}

void run_network(benchmark::State& state, std::string net, std::string preset) {
  Network n = build_network(net, preset);
  const nets::ModelEntry& entry = n.entry;
  const std::shared_ptr<nn::Module>& model = n.model;
  const Shape& image = n.image;
  Generator& data = n.data;
  model->train();
  auto step = [&] {
    model->zero_grad();
    const Tensor out = entry.example_forward(*model, preset, image, data);
    ag::backward(out, Tensor::ones(out.shape()));
  };
  // Two untimed steps: one counting the multiply-adds of the forward pass alone, one the
  // peak tensor memory of the whole step.
  double forward_macs = 0, peak_bytes = 0;
  {
    Tensor out;
    {
      CountCosts counting;
      model->zero_grad();
      out = entry.example_forward(*model, preset, image, data);
      forward_macs = counting.counts().multiply_adds;
    }
    ag::backward(out, Tensor::ones(out.shape()));
  }
  {
    CountCosts counting;
    step();
    peak_bytes = counting.counts().peak_live_bytes;
  }
  for (auto _ : state) step();
  state.counters["peak_tensor_MiB"] = peak_bytes / (1024.0 * 1024.0);
  state.counters["forward_GMAC"] = forward_macs * 1e-9;
}

void run_network_inference(benchmark::State& state, std::string net, std::string preset) {
  Network n = build_network(net, preset);
  n.model->eval();
  NoGrad no_grad;
  auto forward = [&] { return n.entry.example_forward(*n.model, preset, n.image, n.data); };
  double forward_macs = 0;
  {
    CountCosts counting;
    forward();
    forward_macs = counting.counts().multiply_adds;
  }
  for (auto _ : state) benchmark::DoNotOptimize(forward());
  state.counters["forward_GMAC"] = forward_macs * 1e-9;
}

const bool kRegistered = [] {
  for (const nets::ModelEntry& entry : nets::model_zoo()) {
    if (!entry.example_forward) continue;
    for (const char* preset : {"tiny", "course"}) {
      benchmark::RegisterBenchmark(("network_forward_backward/" + entry.name + "/" + preset).c_str(), run_network,
                                   entry.name, std::string(preset))
          ->Unit(benchmark::kMillisecond);  // real_time (wall clock) is in the output too
      benchmark::RegisterBenchmark(("network_inference/" + entry.name + "/" + preset).c_str(), run_network_inference,
                                   entry.name, std::string(preset))
          ->Unit(benchmark::kMillisecond);
    }
  }
  return true;
}();

}  // namespace
