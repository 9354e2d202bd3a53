#include "ldae/run/time_limit.h"

#include "nn/optimizer.h"  // nn::format_number

namespace ldae::run {

TimeLimit::TimeLimit(double minutes) : minutes_(minutes > 0 ? minutes : 0), start_(std::chrono::steady_clock::now()) {}

bool TimeLimit::reached() const {
  if (!set()) return false;
  const std::chrono::duration<double> passed = std::chrono::steady_clock::now() - start_;
  return passed.count() >= 60.0 * minutes_;
}

std::string time_limit_stop_reason(const TimeLimit& limit, int64_t epochs_done, int64_t epochs_planned) {
  return "the time limit of " + nn::format_number(limit.minutes()) + " min (--time-limit) was reached after epoch " +
         std::to_string(epochs_done) + " of " + std::to_string(epochs_planned);
}

bool stop_for_time_limit(const TimeLimit& limit, int64_t epochs_done, int64_t epochs_planned, EpochsTrained& trained) {
  if (epochs_done >= epochs_planned || !limit.reached()) return false;
  trained = {epochs_done, epochs_planned, time_limit_stop_reason(limit, epochs_done, epochs_planned)};
  return true;
}

}  // namespace ldae::run
