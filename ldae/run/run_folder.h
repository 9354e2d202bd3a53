// A run folder: everything one training stage writes, in one place.
//
//   RUN/config.json                 the resolved configuration (written at the start)
//   RUN/log.csv                     one row per optimizer step, plus validation rows
//   RUN/checkpoints/last.safetensors  the latest state (resume point), written atomically
//   RUN/checkpoints/best.safetensors  the state with the best validation score
//   RUN/figures/                    PNG figures drawn during validation
//   RUN/done.json                   written last: the stage finished (what later stages check)
//
// Running the same command again in the same folder resumes from last.safetensors, but
// only when the configuration is the same: config.json is compared key by key, except
// its "environment" part (program version, thread count), which is informative only.
#pragma once
#include <nlohmann/json.hpp>

#include <map>
#include <string>
#include <vector>

#include "tensor/device.h"

namespace ldae::run {

struct RunPaths {
  std::string root, config, log, checkpoints, last, best, figures, done;
};

// The layout above under `root`.
RunPaths run_paths(const std::string& root);

// Creates RUN/, RUN/checkpoints and RUN/figures if needed and proves that files can be
// written there (a probe file is created, flushed and removed). Throws ldae::Error
// "run folder <root>: ..." naming the reason (not a folder, permission denied, disk full)
// before any training work.
void prepare_run_folder(const RunPaths& paths);

enum class RunStart {
  Fresh,     // nothing to resume: config.json has been (re)written, start from step 0
  Resume,    // same configuration and a last checkpoint: continue from it
  Finished,  // same configuration and done.json: the stage is complete, nothing to do
  Continue,  // a run that stopped early (done.json with "stopped_early") and `continue_stopped`:
             // its done.json is removed and it resumes from its last checkpoint as Resume does
};

// Decides how a stage starts in its folder, given the configuration `config` it would
// write. When RUN/config.json exists its comparable part must equal `config`'s, else
// ldae::Error lists every differing key with both values. Writes config.json (atomically)
// unless resuming or finished. `continue_stopped` (the stages' --continue) turns a run that
// stopped before its planned epochs (--time-limit, --stop-after-epoch) from Finished into
// Continue; a run that trained all its epochs stays Finished.
RunStart open_run(const RunPaths& paths, const nlohmann::ordered_json& config, bool continue_stopped = false);

// True when the stage goes on from its last checkpoint (Resume or Continue).
inline bool resumes(RunStart start) { return start == RunStart::Resume || start == RunStart::Continue; }
// The stage's progress word for it: "continuing" (Continue) or "resuming".
inline const char* resume_word(RunStart start) { return start == RunStart::Continue ? "continuing" : "resuming"; }

// The differences between two configurations, one line per key path, e.g.
//   "settings.lr_g: in the folder 0.001, now 0.002"; the "environment" part is skipped.
std::vector<std::string> config_differences(const nlohmann::json& saved, const nlohmann::json& now);

// Writes `doc` (indented) to `path` atomically (temporary file, flush, rename).
void write_json_atomic(const std::string& path, const nlohmann::ordered_json& doc);
// Reads a JSON file; ldae::Error naming the file if it is missing or not JSON.
nlohmann::json read_json(const std::string& path);

// Marks the stage finished: writes RUN/done.json = {"stage": ..., "complete": true, ...summary}.
void write_done(const RunPaths& paths, const std::string& stage, const nlohmann::ordered_json& summary);

// For a later stage: checks that `root` holds a finished run of `stage` (config.json and
// done.json present, done.json naming that stage, the checkpoints it lists present), and
// that its config.json has the values of `must_match` (key paths such as "preset" or
// "settings.split_seed" -> value), and returns its config.json. Throws ldae::Error saying
// what is missing or different, e.g. "RUN was not finished (no done.json): run the same
// 'ldae train-ae' command again to complete it", or "preset: the folder's "tiny", this
// run's "course"".
nlohmann::json require_finished_stage(const std::string& root, const std::string& stage,
                                      const std::map<std::string, nlohmann::json>& must_match = {});

// "ldae <git describe at configure time>" (or "ldae (unknown version)").
std::string program_version();
// The thread count in effect ($OMP_NUM_THREADS, else the hardware threads).
int thread_count_hint();
// config.json's "environment" part: {"version", "threads", "device"} (informative only: a
// run may resume with another thread count or on another device).
nlohmann::ordered_json environment_json(Device device);

}  // namespace ldae::run
