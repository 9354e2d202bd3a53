// A progress line for long loops:
//
//   train  120/1000  12% | 3.41 it/s | 0:35 elapsed | ETA 4:18 | loss 0.1234 lr 0.0001
//
// On a terminal the line is redrawn in place (carriage return, at most every 0.1 s);
// when the output is a file or a pipe (CI logs, nohup) a full line is printed now and
// then instead (every 10 % of the loop or every 30 s, whichever comes first), so logs
// stay readable. Speed and ETA count only the steps done since the Progress was created,
// so a resumed run reports its own speed.
#pragma once
#include <chrono>
#include <cstdint>
#include <functional>
#include <iosfwd>
#include <string>
#include <utility>
#include <vector>

namespace ldae::nn {

using Metrics = std::vector<std::pair<std::string, double>>;

struct ProgressOptions {
  std::ostream* out = nullptr;        // default std::cerr
  int tty = -1;                       // -1: detect (a terminal on stderr), 0: no, 1: yes
  double redraw_interval_s = 0.1;     // terminal: minimum time between redraws
  double log_interval_s = 30.0;       // file/pipe: print at least this often ...
  int64_t log_every = 0;              // ... and every this many steps (0: 10 % of total)
  std::function<double()> clock;      // seconds; default: a steady clock (tests pass a fake)
};

class Progress {
 public:
  // total: the step count at the end; start: the step count already done (resume).
  Progress(std::string label, int64_t total, int64_t start = 0, ProgressOptions options = {});
  // Reports that `step` steps are done, with the current metrics (e.g. {{"loss", 0.12}}).
  void update(int64_t step, const Metrics& metrics = {});
  // Prints the final state and a newline (also done by the destructor if needed).
  void finish();
  ~Progress();

  // The line for the current state, without any terminal control characters.
  std::string line() const;

  // "0:35", "4:18", "1:02:03".
  static std::string format_duration(double seconds);

 private:
  void print(bool final);

  std::string label_;
  int64_t total_, start_, step_;
  Metrics metrics_;
  ProgressOptions options_;
  bool tty_;
  double t0_, last_print_;
  int64_t last_logged_step_;
  bool finished_ = false, printed_ = false;
};

// Wall seconds from t0 to now, by the steady clock (stage timings: `timing.<stage>_s`).
double seconds_since(std::chrono::steady_clock::time_point t0);

}  // namespace ldae::nn
