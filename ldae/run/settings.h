// Typed settings of a training stage. Each stage declares a table (name, type, default
// per preset, range, help); a run's values are resolved in three layers, later ones
// winning:
//
//   1. the preset's defaults (--preset tiny|course|paper)
//   2. a JSON file (--config FILE.json): an object of settings, or a run's config.json
//      (whose "settings" object is used)
//   3. key=value pairs from the command line (--set lr_g=1e-4)
//
// An unknown key, a value of the wrong type or outside its range is refused with a
// SettingsError naming the key, where it came from and what is allowed, before any work
// starts.
#pragma once
#include <nlohmann/json.hpp>

#include <cstdint>
#include <string>
#include <vector>

#include "tensor/error.h"

namespace ldae::run {

// A bad setting (unknown key, wrong type, out of range). The command line turns it into
// a usage error (exit code 2).
class SettingsError : public Error {
 public:
  explicit SettingsError(const std::string& what) : Error(what) {}
};

enum class SettingType { Int, Float, Bool, String };
const char* setting_type_name(SettingType t);  // "int", "float", "bool", "string"

struct SettingSpec {
  std::string key;          // lower_snake_case
  SettingType type;
  // Defaults at the presets tiny, course, paper (JSON values of `type`).
  nlohmann::json tiny, course, paper;
  std::string help;         // one line
  double min = -1e300;      // inclusive range (Int and Float)
  double max = 1e300;
  std::vector<std::string> choices;  // String: the allowed values (empty: any)
};

// Table entries (every field given, in the order a reader wants them).
SettingSpec int_setting(std::string key, int64_t tiny, int64_t course, int64_t paper, double min, double max,
                        std::string help);
SettingSpec float_setting(std::string key, double tiny, double course, double paper, double min, double max,
                          std::string help);
SettingSpec bool_setting(std::string key, bool tiny, bool course, bool paper, std::string help);
SettingSpec string_setting(std::string key, std::string tiny, std::string course, std::string paper,
                           std::vector<std::string> choices, std::string help);

// A stage's table; keys unique.
using SettingsTable = std::vector<SettingSpec>;

// The resolved values, in the table's order.
class Settings {
 public:
  Settings() = default;
  Settings(const SettingsTable* table, nlohmann::ordered_json values) : table_(table), values_(std::move(values)) {}

  int64_t get_int(const std::string& key) const;
  double get_float(const std::string& key) const;
  bool get_bool(const std::string& key) const;
  std::string get_string(const std::string& key) const;
  const nlohmann::ordered_json& json() const { return values_; }

 private:
  const SettingsTable* table_ = nullptr;
  nlohmann::ordered_json values_;
};

// Resolves the layers described above. `config_file` may be empty; `assignments` are
// "key=value" texts (the value parsed as the key's type: integers in decimal, floats as
// C's strtod, bools as true/false/1/0/yes/no/on/off).
// Throws SettingsError (bad key, type, range, or a config file that is not a JSON object)
// or ldae::Error (a config file that cannot be read).
Settings resolve_settings(const SettingsTable& table, const std::string& preset, const std::string& config_file,
                          const std::vector<std::string>& assignments);

// The table as text for --help: one block per setting with its type, its defaults at the
// three presets, its range and help.
std::string settings_help(const SettingsTable& table);

}  // namespace ldae::run
