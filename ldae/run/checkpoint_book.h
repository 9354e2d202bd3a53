// What a training stage keeps track of about its checkpoints: the best validation score so far
// and the step that reached it (checkpoints/best.safetensors), and the last checkpoint written
// (checkpoints/last.safetensors), which an error names as the one to resume from.
#pragma once
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>

namespace ldae::run {

class CheckpointBook {
 public:
  enum class Better { Lower, Higher };  // for a loss, for a similarity
  explicit CheckpointBook(Better better);

  // True when `score` beats the best so far (strictly; NaN never does); it then becomes the
  // best, reached at `step`.
  bool improves(double score, int64_t step);
  // On resume from a checkpoint written at `step` that recorded `best` (reached at `best_step`).
  void resume(double best, int64_t best_step, int64_t step);
  // After a checkpoint of `step` was written.
  void wrote(int64_t step);

  double best() const { return best_; }  // +infinity (Lower) or -infinity (Higher) before any score
  int64_t best_step() const { return best_step_; }

  // For an error that stops training: "the last good checkpoint, LAST_PATH (step N), is kept",
  // or "no checkpoint had been written yet".
  std::string kept(const std::string& last_path) const;

 private:
  Better better_;
  double best_;
  int64_t best_step_ = 0;
  bool have_checkpoint_ = false;
  int64_t checkpoint_step_ = 0;
};

// How many epochs a finished stage trained: all it planned, or fewer with the reason when it
// was stopped early (ldae/run/early_stop.h).
struct EpochsTrained {
  int64_t done = 0, planned = 0;
  std::string stopped_early;  // empty: every planned epoch was trained
};

// done.json's summary of a finished training stage: "steps", "epochs" (trained), for a run
// stopped early "epochs_planned" and "stopped_early", then "best_<score>" and "best_step" from
// the book, then `last` (the stage's own numbers from its last validation, in their order),
// then "checkpoints" (the last and best files every stage writes).
nlohmann::ordered_json finished_summary(int64_t steps, const EpochsTrained& epochs, const std::string& score,
                                        const CheckpointBook& book, const nlohmann::ordered_json& last);

// The message of a stage that stops because `what` (e.g. "the loss") is NaN or infinite at
// optimizer step step + 1, in epoch epoch + 1 at micro-batch batch + 1 of `batches`; `kept`
// is CheckpointBook::kept.
std::string non_finite_stop_message(const std::string& what, double value, int64_t step, int64_t epoch,
                                    int64_t batch, int64_t batches, const std::string& kept);

// The file name of the validation figure after `epochs_done` epochs: "epoch_003.png".
std::string epoch_figure_name(int64_t epochs_done);

}  // namespace ldae::run
