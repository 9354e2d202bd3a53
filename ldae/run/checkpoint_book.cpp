#include "ldae/run/checkpoint_book.h"

#include <cmath>
#include <cstdio>
#include <limits>

namespace ldae::run {

CheckpointBook::CheckpointBook(Better better)
    : better_(better),
      best_(better == Better::Lower ? std::numeric_limits<double>::infinity()
                                    : -std::numeric_limits<double>::infinity()) {}

bool CheckpointBook::improves(double score, int64_t step) {
  const bool better = better_ == Better::Lower ? score < best_ : score > best_;
  if (better) {
    best_ = score;
    best_step_ = step;
  }
  return better;
}

void CheckpointBook::resume(double best, int64_t best_step, int64_t step) {
  best_ = best;
  best_step_ = best_step;
  wrote(step);
}

void CheckpointBook::wrote(int64_t step) {
  have_checkpoint_ = true;
  checkpoint_step_ = step;
}

std::string CheckpointBook::kept(const std::string& last_path) const {
  if (!have_checkpoint_) return "no checkpoint had been written yet";
  return "the last good checkpoint, " + last_path + " (step " + std::to_string(checkpoint_step_) + "), is kept";
}

std::string non_finite_stop_message(const std::string& what, double value, int64_t step, int64_t epoch,
                                    int64_t batch, int64_t batches, const std::string& kept) {
  const std::string v = std::isnan(value) ? "NaN" : value > 0 ? "+infinity" : "-infinity";
  return what + " is " + v + " at step " + std::to_string(step + 1) + " (epoch " + std::to_string(epoch + 1) +
         ", micro-batch " + std::to_string(batch + 1) + " of " + std::to_string(batches) +
         "); stopped without saving this step: " + kept;
}

std::string epoch_figure_name(int64_t epochs_done) {
  char name[64];
  std::snprintf(name, sizeof name, "epoch_%03lld.png", static_cast<long long>(epochs_done));
  return name;
}

nlohmann::ordered_json finished_summary(int64_t steps, const EpochsTrained& epochs, const std::string& score,
                                        const CheckpointBook& book, const nlohmann::ordered_json& last) {
  nlohmann::ordered_json summary;
  summary["steps"] = steps;
  summary["epochs"] = epochs.done;
  if (!epochs.stopped_early.empty()) {
    summary["epochs_planned"] = epochs.planned;
    summary["stopped_early"] = epochs.stopped_early;
  }
  summary["best_" + score] = book.best();
  summary["best_step"] = book.best_step();
  for (const auto& [key, value] : last.items()) summary[key] = value;
  summary["checkpoints"] = {{"last", "checkpoints/last.safetensors"}, {"best", "checkpoints/best.safetensors"}};
  return summary;
}

}  // namespace ldae::run
