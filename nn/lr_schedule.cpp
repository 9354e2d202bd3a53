#include "nn/lr_schedule.h"

#include <algorithm>
#include <cmath>

#include "tensor/error.h"

namespace ldae::nn {

double LrSchedule::at(int64_t step) const {
  check(step >= 0, "LrSchedule", "negative step " + std::to_string(step));
  check(base_lr >= 0 && min_lr >= 0 && warmup_steps >= 0, "LrSchedule",
        "base_lr, min_lr and warmup_steps must be non-negative");
  if (step < warmup_steps)
    return base_lr * static_cast<double>(step + 1) / static_cast<double>(warmup_steps);
  if (decay == LrDecay::Constant) return base_lr;
  check(total_steps > warmup_steps, "LrSchedule",
        "cosine decay needs total_steps (" + std::to_string(total_steps) + ") > warmup_steps (" +
            std::to_string(warmup_steps) + ")");
  const double p = std::clamp(static_cast<double>(step - warmup_steps) /
                                  static_cast<double>(total_steps - warmup_steps),
                              0.0, 1.0);
  const double pi = 3.14159265358979323846;
  return min_lr + (base_lr - min_lr) * 0.5 * (1.0 + std::cos(pi * p));
}

LrDecay parse_lr_decay(const std::string& name) {
  if (name == "constant") return LrDecay::Constant;
  if (name == "cosine") return LrDecay::Cosine;
  fail("parse_lr_decay", "unknown schedule \"" + name + "\" (expected constant or cosine)");
}

}  // namespace ldae::nn
