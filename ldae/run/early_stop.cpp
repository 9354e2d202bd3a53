#include "ldae/run/early_stop.h"

#include "nn/optimizer.h"  // nn::format_number

namespace ldae::run {

EarlyStopper::EarlyStopper(const EarlyStop& rule) : rule_(rule), start_(std::chrono::steady_clock::now()) {}

bool EarlyStopper::stop_after(int64_t epochs_done, int64_t epochs_planned, EpochsTrained& trained) const {
  if (epochs_done >= epochs_planned) return false;  // the run ends here anyway
  const bool by_epoch = rule_.stop_after_epoch > 0 && epochs_done >= rule_.stop_after_epoch;
  const std::chrono::duration<double> passed = std::chrono::steady_clock::now() - start_;
  const bool by_time = rule_.time_limit_min > 0 && passed.count() >= 60.0 * rule_.time_limit_min;
  if (!by_epoch && !by_time) return false;
  trained = {epochs_done, epochs_planned,
             early_stop_reason(!by_epoch, rule_.time_limit_min, epochs_done, epochs_planned)};
  return true;
}

std::string early_stop_reason(bool by_time_limit, double time_limit_min, int64_t epochs_done, int64_t epochs_planned) {
  const std::string done = std::to_string(epochs_done), planned = std::to_string(epochs_planned);
  if (!by_time_limit) return "--stop-after-epoch " + done + " of " + planned;
  return "the time limit of " + nn::format_number(time_limit_min) + " min (--time-limit) was reached after epoch " +
         done + " of " + planned + " (--stop-after-epoch " + done + " repeats this run)";
}

}  // namespace ldae::run
