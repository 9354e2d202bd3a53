// Learning-rate schedules: an optional linear warm-up followed by a constant rate or a
// cosine decay. The reference trains with a constant rate (ldae-reference 4.2, 5.4);
// warm-up and cosine are options for our own runs.
//
//   step < warmup:   lr = base * (step + 1) / warmup
//   constant:        lr = base
//   cosine:          lr = min + (base - min) * (1 + cos(pi * p)) / 2,
//                    p = (step - warmup) / (total - warmup), clamped to [0, 1]
//
// `step` counts optimizer steps from 0 (the rate for the first update is at(0)).
#pragma once
#include <cstdint>
#include <string>

namespace ldae::nn {

enum class LrDecay { Constant, Cosine };

struct LrSchedule {
  double base_lr = 1e-3;
  int64_t warmup_steps = 0;
  LrDecay decay = LrDecay::Constant;
  int64_t total_steps = 0;  // needed by Cosine: the step at which lr reaches min_lr
  double min_lr = 0.0;

  // The learning rate for optimizer step `step` (>= 0).
  // Throws ldae::Error("LrSchedule: ...") on an invalid configuration (negative values,
  // cosine with total_steps <= warmup_steps).
  double at(int64_t step) const;
};

// "constant" or "cosine" -> LrDecay; throws ldae::Error naming the accepted values.
LrDecay parse_lr_decay(const std::string& name);

}  // namespace ldae::nn
