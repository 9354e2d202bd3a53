// A wall-clock limit for a training command (`ldae train-ae|train-ldm|train-repr
// --time-limit MIN`): the stage stops at the end of the first epoch that ends after the
// limit, so that its last checkpoint, its log and done.json are those of whole epochs, and
// the run counts as finished (the next stage and every inference command accept it).
// done.json then records the epochs trained, the epochs planned and why it stopped
// (finished_summary in checkpoint_book.h). What a limit is for: a session on a lent GPU, or a
// course that has ten minutes, where the number of epochs that fit is not known in advance.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "ldae/run/checkpoint_book.h"

namespace ldae::run {

class TimeLimit {
 public:
  // minutes <= 0: no limit. The clock starts here.
  explicit TimeLimit(double minutes);

  bool set() const { return minutes_ > 0; }
  double minutes() const { return minutes_; }
  // True when a limit is set and at least that long has passed since construction.
  bool reached() const;

 private:
  double minutes_;
  std::chrono::steady_clock::time_point start_;
};

// done.json's "stopped_early" text for a run that trained `epochs_done` of `epochs_planned`
// epochs because `limit` was reached: "the time limit of 2.5 min (--time-limit) was reached
// after epoch 3 of 10".
std::string time_limit_stop_reason(const TimeLimit& limit, int64_t epochs_done, int64_t epochs_planned);

// A stage's check at the end of epoch `epochs_done` of `epochs_planned`: when epochs remain and
// the limit is reached, sets `trained` to say so and returns true (the stage then stops).
bool stop_for_time_limit(const TimeLimit& limit, int64_t epochs_done, int64_t epochs_planned, EpochsTrained& trained);

}  // namespace ldae::run
