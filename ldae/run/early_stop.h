// Stopping a training command before the epochs it plans, at an epoch's end: after a
// wall-clock limit (`--time-limit MIN`: the first epoch that ends past it is the last) or after
// a given epoch (`--stop-after-epoch K`). Either way the last checkpoint, the log and the
// figures are those of whole epochs, and the run counts as finished (the next stage and every
// inference command accept it); done.json records the epochs trained, the epochs planned and
// why it stopped (finished_summary in checkpoint_book.h).
//
// A stopped run is the first K epochs of the planned one, bit for bit (the learning-rate
// schedule and the data order are still those of all planned epochs, so it is not the same as
// a run that plans K). The clock makes a time-limited run depend on the machine's speed;
// --stop-after-epoch K with the same settings repeats it exactly, and its done.json says so.
// The same command with `--continue` trains a stopped run on from its last checkpoint, as an
// interrupted run resumes: what it then writes is the planned run's, bit for bit.
// What a time limit is for: a lent GPU, or a lesson of ten minutes, where the number of epochs
// that fit is not known in advance.
#pragma once
#include <chrono>
#include <cstdint>
#include <string>

#include "ldae/run/checkpoint_book.h"

namespace ldae::run {

// The command line's request. 0 in either field: that rule is off.
struct EarlyStop {
  double time_limit_min = 0;     // --time-limit MIN
  int64_t stop_after_epoch = 0;  // --stop-after-epoch K
  // --continue: a run in the folder that an earlier command stopped early trains on from its
  // last checkpoint (run::open_run's RunStart::Continue) instead of counting as finished; the
  // continued run is the planned one, bit for bit, as far as it gets.
  bool continue_stopped = false;
};

class EarlyStopper {
 public:
  // The clock of the time limit starts here.
  explicit EarlyStopper(const EarlyStop& rule);

  // At the end of epoch `epochs_done` of `epochs_planned`: true when the run stops there
  // (epochs remain and a rule says so), with `trained` set to say how far it got and why.
  bool stop_after(int64_t epochs_done, int64_t epochs_planned, EpochsTrained& trained) const;

 private:
  EarlyStop rule_;
  std::chrono::steady_clock::time_point start_;
};

// done.json's "stopped_early" text. By the clock: "the time limit of 2.5 min (--time-limit) was
// reached after epoch 3 of 10 (--stop-after-epoch 3 repeats this run)"; by the epoch:
// "--stop-after-epoch 3 of 10".
std::string early_stop_reason(bool by_time_limit, double time_limit_min, int64_t epochs_done, int64_t epochs_planned);

}  // namespace ldae::run
