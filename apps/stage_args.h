// The options every training stage takes (--preset, --config, --set, --list-settings) and
// how its settings are resolved for the command line: a bad setting is a usage error
// (exit code 2, "usage error: ..."), raised before any work starts.
#pragma once
#include <CLI/CLI.hpp>

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
};

// Adds --device to `sub` (the text checked by parse_device: a bad name is a usage error).
void add_device_option(CLI::App* sub, std::string& device, const std::string& what);

// Adds the options above to `sub`; `table` is described in the command's --help footer.
void add_stage_options(CLI::App* sub, StageArgs& args, const run::SettingsTable& table);

// Resolves the settings (preset, then --config, then --set); a SettingsError becomes a
// CLI::ValidationError (exit code 2).
run::Settings resolve_stage_settings(const StageArgs& args, const run::SettingsTable& table);

// Prints the resolved settings as JSON (for --list-settings).
void print_settings(const run::Settings& settings);

}  // namespace ldae::app
