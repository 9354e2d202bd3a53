// Training checkpoints in safetensors files (tensor/safetensors.h). One file holds
// everything a run needs to continue exactly where it stopped:
//
//   tensors   "model.<dotted name>"        parameters and buffers of the model
//             "optim.<param name>.<slot>"  optimizer state (nn/optimizer.h), e.g.
//                                          optim.fc1.weight.exp_avg, optim.fc1.weight.step
//                                          (several optimizers: "optim.<name>.<param>.<slot>",
//                                          see NamedOptimizers below)
//             "ema.<dotted name>"          the EMA shadow (nn/ema.h)
//   metadata  "ldae.format"                "ldae-checkpoint-1"
//             "ldae.step"                  training steps done
//             "ldae.rng.<name>.seed"       each named Generator's seed and offset
//             "ldae.rng.<name>.offset"     (decimal strings: 64-bit exact)
//             "ldae.optimizer", "ldae.optim.<hyperparameter>", "ldae.ema.updates",
//             "ldae.ema.decay", "ldae.ema.warmup"
//             anything else                the caller's own metadata
//
// Writes are atomic (a crash never leaves a half-written checkpoint). Loading checks
// every part first and changes nothing unless all of it fits.
#pragma once
#include <cstdint>
#include <map>
#include <string>

#include "nn/ema.h"
#include "nn/module.h"
#include "nn/optimizer.h"
#include "tensor/random.h"

namespace ldae::nn {

// What a checkpoint holds besides the tensors of the model, optimizer and EMA.
struct TrainingState {
  int64_t step = 0;                              // optimizer steps done
  std::map<std::string, Generator> generators;   // e.g. {"noise", gen}; names without '.'
  std::map<std::string, std::string> metadata;   // the caller's entries (keys not "ldae.*")
};

// Saves `model` (parameters and buffers), and `optimizer` / `ema` when not null, with
// `state`, to `path` (atomically replaced).
// Throws ldae::Error("save_checkpoint: ...") on a reserved metadata key or a bad
// generator name, or the writer's error on an I/O failure.
void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const Ema* ema, const TrainingState& state);

// Restores a checkpoint written by save_checkpoint into `model`, and into `optimizer` /
// `ema` when not null (their parts of the file are ignored when null, e.g. to evaluate).
// Requires: the objects were built as in the saving run (same names and shapes, same
// optimizer type).
// Ensures: all of them hold the saved values; returns the step, generators and the
// caller's metadata.
// Throws ldae::Error("load_checkpoint: <path>: ...") and changes nothing when the file
// is missing or invalid, is not an ldae checkpoint, or when any key is missing,
// unexpected or mis-shaped (all listed, with both shapes), or the optimizer type or
// EMA differs.
TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer, Ema* ema);

// Several optimizers in one checkpoint (e.g. the generator's and the discriminator's of a
// GAN), each under its own name (letters, digits, '_'; no '.'):
//   tensors   "optim.<name>.<param name>.<slot>"
//   metadata  "ldae.optimizer.<name>" (the type), "ldae.optim.<name>.<hyperparameter>"
// Otherwise as the single-optimizer functions (the map may be empty). Loading requires
// exactly the same names, each with its saved type and a matching state.
using NamedOptimizers = std::map<std::string, const Optimizer*>;
using NamedMutableOptimizers = std::map<std::string, Optimizer*>;
void save_checkpoint(const std::string& path, const Module& model, const NamedOptimizers& optimizers,
                     const Ema* ema, const TrainingState& state);
TrainingState load_checkpoint(const std::string& path, Module& model, const NamedMutableOptimizers& optimizers,
                              Ema* ema);

// Loads only weights into `model`: the tensors under "<section>." (e.g. "model" or
// "ema" of a checkpoint), or every tensor of the file when section is "" (a plain
// safetensors file of weights). strict: every key must match (else ldae::Error listing
// the problems, nothing loaded); not strict: the matching keys are loaded and the
// report lists the rest (e.g. initialising a bigger network from a smaller one).
LoadReport load_weights(const std::string& path, Module& model, const std::string& section = "model",
                        bool strict = true);

}  // namespace ldae::nn
