#include "apps/stage_args.h"

#include <cstdio>

#include "tensor/error.h"

namespace ldae::app {

void add_device_option(CLI::App* sub, std::string& device, const std::string& what) {
  sub->add_option("--device", device,
                  what + ": cpu, cuda (the first GPU) or cuda:N; a GPU needs a program built with "
                         "-DLDAE_CUDA=ON and is refused before any work when none is usable")
      ->check(CLI::Validator(
          [](std::string& text) {
            try {
              parse_device("--device", text);
              return std::string();
            } catch (const Error& e) {  // CLI11 puts "--device: " in front itself
              const std::string what = e.what();
              return what.substr(what.find(": ") + 2);
            }
          },
          "DEVICE"))
      ->capture_default_str();
}

void add_stage_options(CLI::App* sub, StageArgs& args, const run::SettingsTable& table) {
  sub->add_option("--preset", args.preset, "Network sizes and default settings: tiny, course or paper")
      ->check(CLI::IsMember({"tiny", "course", "paper"}))
      ->capture_default_str();
  sub->add_option("--config", args.config,
                  "JSON file of settings (an object {\"key\": value, ...}, or a run's config.json); "
                  "applied after the preset's defaults");
  sub->add_option("--set", args.sets, "Override one setting, key=value (repeatable; applied last)")
      ->take_all()
      ->allow_extra_args(false);
  sub->add_flag("--list-settings", args.list_settings,
                "Print the resolved settings as JSON and exit (nothing is read or written)");
  sub->add_option("--time-limit", args.time_limit_min,
                  "Stop at the end of the first epoch that ends MIN minutes or more after the command "
                  "started (0: no limit); the run is then finished with the epochs it trained, the first "
                  "of the planned run's, and done.json says so (epochs, epochs_planned, stopped_early)")
      ->type_name("MIN")
      ->check(CLI::Range(0.0, 1e9))
      ->capture_default_str();
  sub->add_option("--stop-after-epoch", args.stop_after_epoch,
                  "Stop at the end of epoch K of the planned ones (0: no stop), as --time-limit does: "
                  "what repeats a time-limited run bit for bit (its done.json names K)")
      ->type_name("K")
      ->check(CLI::Range(int64_t{0}, int64_t{1000000000}))
      ->capture_default_str();
  sub->add_flag("--continue", args.continue_stopped,
                "If --out holds a run that stopped early (--time-limit, --stop-after-epoch), train it on from its "
                "last checkpoint towards its planned epochs (or this command's own limit): the same bits as the "
                "planned run. Without it such a run counts as finished; a run that trained all its epochs stays so");
  add_device_option(sub, args.device, "Where the networks train");
  sub->footer("Settings (key (type)  defaults at tiny, course, paper; range):\n" + run::settings_help(table));
}

run::Settings resolve_stage_settings(const StageArgs& args, const run::SettingsTable& table) {
  try {
    return run::resolve_settings(table, args.preset, args.config, args.sets);
  } catch (const run::SettingsError& e) {
    throw CLI::ValidationError(e.what());
  }
}

void print_settings(const run::Settings& settings) { std::printf("%s\n", settings.json().dump(2).c_str()); }

void print_stopped_early(const std::string& out, const std::string& stopped_early) {
  if (stopped_early.empty()) return;
  std::printf("%s: stopped early: %s\n", out.c_str(), stopped_early.c_str());
  std::printf("%s: the same command with --continue trains it on towards its planned epochs\n", out.c_str());
}

}  // namespace ldae::app
