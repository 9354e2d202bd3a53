#include "nn/progress.h"

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <iostream>
#include <sstream>

namespace ldae::nn {

namespace {

double steady_seconds() {
  using namespace std::chrono;
  return duration<double>(steady_clock::now().time_since_epoch()).count();
}

}  // namespace

Progress::Progress(std::string label, int64_t total, int64_t start, ProgressOptions options)
    : label_(std::move(label)), total_(total), start_(start), step_(start), options_(std::move(options)) {
  if (!options_.out) options_.out = &std::cerr;
  if (!options_.clock) options_.clock = steady_seconds;
  tty_ = options_.tty >= 0 ? options_.tty == 1 : (options_.out == &std::cerr && ::isatty(2));
  if (options_.log_every <= 0) options_.log_every = std::max<int64_t>(1, total_ / 10);
  t0_ = last_print_ = options_.clock();
  last_logged_step_ = start_;
}

Progress::~Progress() {
  if (printed_ && !finished_) finish();
}

double seconds_since(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
}

std::string Progress::format_duration(double seconds) {
  if (!std::isfinite(seconds) || seconds < 0) return "?";
  const long long s = static_cast<long long>(seconds + 0.5);
  char buf[32];
  if (s >= 3600)
    std::snprintf(buf, sizeof buf, "%lld:%02lld:%02lld", s / 3600, (s / 60) % 60, s % 60);
  else
    std::snprintf(buf, sizeof buf, "%lld:%02lld", s / 60, s % 60);
  return buf;
}

std::string Progress::line() const {
  const double elapsed = options_.clock() - t0_;
  const double done = static_cast<double>(step_ - start_);
  const double rate = elapsed > 0 ? done / elapsed : 0.0;
  std::ostringstream os;
  if (!label_.empty()) os << label_ << "  ";
  os << step_ << "/" << total_;
  if (total_ > 0) os << "  " << (100 * step_ / total_) << "%";
  char buf[64];
  if (rate >= 1 || rate == 0)
    std::snprintf(buf, sizeof buf, " | %.2f it/s", rate);
  else
    std::snprintf(buf, sizeof buf, " | %.2f s/it", 1.0 / rate);
  os << buf << " | " << format_duration(elapsed) << " elapsed";
  if (step_ < total_) os << " | ETA " << (rate > 0 ? format_duration((total_ - step_) / rate) : "?");
  if (!metrics_.empty()) {
    os << " |";
    for (const auto& [name, value] : metrics_) {
      std::snprintf(buf, sizeof buf, " %s %.4g", name.c_str(), value);
      os << buf;
    }
  }
  return os.str();
}

void Progress::print(bool final) {
  std::ostream& out = *options_.out;
  if (tty_)
    out << "\r" << line() << "\033[K" << (final ? "\n" : "") << std::flush;  // \033[K: clear to end
  else
    out << line() << "\n" << std::flush;
  printed_ = true;
  last_print_ = options_.clock();
  last_logged_step_ = step_;
}

void Progress::update(int64_t step, const Metrics& metrics) {
  step_ = step;
  metrics_ = metrics;
  const double now = options_.clock();
  if (step_ >= total_) {
    finish();
    return;
  }
  const bool due = tty_ ? now - last_print_ >= options_.redraw_interval_s || !printed_
                        : now - last_print_ >= options_.log_interval_s ||
                              step_ - last_logged_step_ >= options_.log_every;
  if (due) print(false);
}

void Progress::finish() {
  if (finished_) return;
  finished_ = true;
  print(true);
}

}  // namespace ldae::nn
