// The options every training stage takes (--preset, --config, --set, --list-settings) and
// how its settings are resolved for the command line: a bad setting is a usage error
// (exit code 2, "usage error: ..."), raised before any work starts.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "ldae/run/settings.h"
#include "tensor/device.h"

namespace ldae::app {

struct StageArgs {
  std::string preset = "tiny";
  std::string config;                // --config FILE.json
  std::vector<std::string> sets;     // --set key=value (repeatable)
  bool list_settings = false;
  std::string device = "cpu";        // --device cpu|cuda|cuda:N
  double time_limit_min = 0;         // --time-limit MIN (0: none)
  int64_t stop_after_epoch = 0;      // --stop-after-epoch K (0: none)
  bool continue_stopped = false;     // --continue: train on a run that stopped early
};

// Adds --device to `sub` (the text checked by parse_device: a bad name is a usage error).
void add_device_option(CLI::App* sub, std::string& device, const std::string& what);

// Adds the options above to `sub`; `table` is described in the command's --help footer.
// --time-limit and --stop-after-epoch are not settings: they change when a run stops, not what
// it trains, so config.json does not record them (a run interrupted under one limit resumes
// under another) and done.json says where the run stopped and why.
void add_stage_options(CLI::App* sub, StageArgs& args, const run::SettingsTable& table);

// Resolves the settings (preset, then --config, then --set); a SettingsError becomes a
// CLI::ValidationError (exit code 2).
run::Settings resolve_stage_settings(const StageArgs& args, const run::SettingsTable& table);

// Prints the resolved settings as JSON (for --list-settings).
void print_settings(const run::Settings& settings);

// The line a training command prints after its result line when --time-limit or
// --stop-after-epoch stopped it ("OUT: stopped early: ...", then how to go on: --continue);
// nothing when `stopped_early` is empty.
void print_stopped_early(const std::string& out, const std::string& stopped_early);

}  // namespace ldae::app
