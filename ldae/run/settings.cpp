#include "ldae/run/settings.h"

#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <set>
#include <sstream>

#include "nn/optimizer.h"  // format_number

namespace ldae::run {

namespace {

using json = nlohmann::json;

const SettingSpec* find_spec(const SettingsTable& table, const std::string& key) {
  for (const auto& s : table)
    if (s.key == key) return &s;
  return nullptr;
}

std::string known_keys(const SettingsTable& table) {
  std::string out;
  for (const auto& s : table) out += (out.empty() ? "" : ", ") + s.key;
  return out;
}

std::string range_text(const SettingSpec& s) {
  std::ostringstream o;
  if (s.type == SettingType::String) {
    if (s.choices.empty()) return "any text";
    for (size_t i = 0; i < s.choices.size(); ++i) o << (i ? ", " : "one of ") << s.choices[i];
    return o.str();
  }
  if (s.type == SettingType::Bool) return "true or false";
  const bool lo = s.min > -1e299, hi = s.max < 1e299;
  if (lo && hi) o << "in [" << nn::format_number(s.min) << ", " << nn::format_number(s.max) << "]";
  else if (lo) o << ">= " << nn::format_number(s.min);
  else if (hi) o << "<= " << nn::format_number(s.max);
  else o << "any " << setting_type_name(s.type);
  return o.str();
}

// Checks that `v` has the spec's type and range; returns it normalised (an Int as an
// integer, a Float as a float). `where` names the source in messages.
json validate(const SettingSpec& s, const json& v, const std::string& where) {
  const std::string head = where + ": setting '" + s.key + "' (" + setting_type_name(s.type) + ") ";
  switch (s.type) {
    case SettingType::Int: {
      if (!v.is_number_integer()) throw SettingsError(head + "must be an integer, got " + v.dump());
      const int64_t x = v.get<int64_t>();
      if (static_cast<double>(x) < s.min || static_cast<double>(x) > s.max)
        throw SettingsError(head + "must be " + range_text(s) + ", got " + v.dump());
      return json(x);
    }
    case SettingType::Float: {
      if (!v.is_number()) throw SettingsError(head + "must be a number, got " + v.dump());
      const double x = v.get<double>();
      if (!std::isfinite(x) || x < s.min || x > s.max)
        throw SettingsError(head + "must be " + range_text(s) + ", got " + v.dump());
      return json(x);
    }
    case SettingType::Bool:
      if (!v.is_boolean()) throw SettingsError(head + "must be true or false, got " + v.dump());
      return v;
    case SettingType::String: {
      if (!v.is_string()) throw SettingsError(head + "must be a string, got " + v.dump());
      const std::string x = v.get<std::string>();
      if (!s.choices.empty()) {
        bool ok = false;
        for (const auto& c : s.choices) ok = ok || c == x;
        if (!ok) throw SettingsError(head + "must be " + range_text(s) + ", got \"" + x + "\"");
      }
      return v;
    }
  }
  return v;
}

// Parses command-line text as the spec's type (then validate() checks the range).
json parse_text(const SettingSpec& s, const std::string& text, const std::string& where) {
  const std::string head = where + ": setting '" + s.key + "' (" + setting_type_name(s.type) + ") ";
  switch (s.type) {
    case SettingType::Int: {
      if (text.empty()) throw SettingsError(head + "needs a value");
      size_t i = (text[0] == '-' || text[0] == '+') ? 1 : 0;
      bool digits = i < text.size();
      for (; i < text.size(); ++i) digits = digits && text[i] >= '0' && text[i] <= '9';
      if (!digits) throw SettingsError(head + "must be an integer, got \"" + text + "\"");
      errno = 0;
      const long long v = std::strtoll(text.c_str(), nullptr, 10);
      if (errno == ERANGE) throw SettingsError(head + "is out of range: \"" + text + "\"");
      return json(static_cast<int64_t>(v));
    }
    case SettingType::Float: {
      char* end = nullptr;
      errno = 0;
      const double v = std::strtod(text.c_str(), &end);
      if (text.empty() || end != text.c_str() + text.size() || errno == ERANGE || !std::isfinite(v))
        throw SettingsError(head + "must be a finite number, got \"" + text + "\"");
      return json(v);
    }
    case SettingType::Bool:
      if (text == "true" || text == "1" || text == "yes" || text == "on") return json(true);
      if (text == "false" || text == "0" || text == "no" || text == "off") return json(false);
      throw SettingsError(head + "must be true or false, got \"" + text + "\"");
    case SettingType::String:
      return json(text);
  }
  return json(text);
}

}  // namespace

const char* setting_type_name(SettingType t) {
  switch (t) {
    case SettingType::Int: return "int";
    case SettingType::Float: return "float";
    case SettingType::Bool: return "bool";
    case SettingType::String: return "string";
  }
  return "?";
}

SettingSpec int_setting(std::string key, int64_t tiny, int64_t course, int64_t paper, double min, double max,
                        std::string help) {
  return SettingSpec{std::move(key), SettingType::Int, tiny, course, paper, std::move(help), min, max, {}};
}
SettingSpec float_setting(std::string key, double tiny, double course, double paper, double min, double max,
                          std::string help) {
  return SettingSpec{std::move(key), SettingType::Float, tiny, course, paper, std::move(help), min, max, {}};
}
SettingSpec bool_setting(std::string key, bool tiny, bool course, bool paper, std::string help) {
  return SettingSpec{std::move(key), SettingType::Bool, tiny, course, paper, std::move(help), -1e300, 1e300, {}};
}
SettingSpec string_setting(std::string key, std::string tiny, std::string course, std::string paper,
                           std::vector<std::string> choices, std::string help) {
  return SettingSpec{std::move(key), SettingType::String, tiny, course, paper, std::move(help), -1e300, 1e300,
                     std::move(choices)};
}

int64_t Settings::get_int(const std::string& key) const {
  check(table_ && find_spec(*table_, key) && find_spec(*table_, key)->type == SettingType::Int, "Settings",
        "no int setting '" + key + "'");
  return values_.at(key).get<int64_t>();
}
double Settings::get_float(const std::string& key) const {
  check(table_ && find_spec(*table_, key) && find_spec(*table_, key)->type == SettingType::Float, "Settings",
        "no float setting '" + key + "'");
  return values_.at(key).get<double>();
}
bool Settings::get_bool(const std::string& key) const {
  check(table_ && find_spec(*table_, key) && find_spec(*table_, key)->type == SettingType::Bool, "Settings",
        "no bool setting '" + key + "'");
  return values_.at(key).get<bool>();
}
std::string Settings::get_string(const std::string& key) const {
  check(table_ && find_spec(*table_, key) && find_spec(*table_, key)->type == SettingType::String, "Settings",
        "no string setting '" + key + "'");
  return values_.at(key).get<std::string>();
}

Settings resolve_settings(const SettingsTable& table, const std::string& preset, const std::string& config_file,
                          const std::vector<std::string>& assignments) {
  if (preset != "tiny" && preset != "course" && preset != "paper")
    throw SettingsError("unknown preset '" + preset + "' (choose tiny, course, paper)");
  nlohmann::ordered_json values = nlohmann::ordered_json::object();
  for (const auto& s : table) {
    const json& d = preset == "tiny" ? s.tiny : preset == "course" ? s.course : s.paper;
    values[s.key] = validate(s, d, "preset " + preset + " (a bug in the table)");
  }
  if (!config_file.empty()) {
    std::ifstream in(config_file);
    if (!in) fail("--config", "cannot read '" + config_file + "'");
    json doc;
    try {
      doc = json::parse(in);
    } catch (const std::exception& e) {
      throw SettingsError("--config " + config_file + ": not valid JSON: " + e.what());
    }
    if (doc.is_object() && doc.contains("settings") && doc["settings"].is_object()) doc = doc["settings"];
    if (!doc.is_object())
      throw SettingsError("--config " + config_file + ": expected a JSON object of settings");
    for (const auto& [key, v] : doc.items()) {
      const SettingSpec* s = find_spec(table, key);
      if (!s)
        throw SettingsError("--config " + config_file + ": unknown setting '" + key + "' (known: " +
                            known_keys(table) + ")");
      values[key] = validate(*s, v, "--config " + config_file);
    }
  }
  for (const auto& a : assignments) {
    const size_t eq = a.find('=');
    if (eq == std::string::npos || eq == 0)
      throw SettingsError("--set " + a + ": expected key=value");
    const std::string key = a.substr(0, eq), text = a.substr(eq + 1);
    const SettingSpec* s = find_spec(table, key);
    if (!s) throw SettingsError("--set " + a + ": unknown setting '" + key + "' (known: " + known_keys(table) + ")");
    values[key] = validate(*s, parse_text(*s, text, "--set " + a), "--set " + a);
  }
  return Settings(&table, values);
}

std::string settings_help(const SettingsTable& table) {
  std::ostringstream o;
  for (const auto& s : table) {
    o << "  " << s.key << " (" << setting_type_name(s.type) << ")  tiny " << s.tiny.dump() << ", course "
      << s.course.dump() << ", paper " << s.paper.dump();
    const std::string r = range_text(s);
    if (s.type != SettingType::Bool && r.rfind("any ", 0) != 0) o << "; " << r;
    o << "\n      " << s.help << "\n";
  }
  return o.str();
}

}  // namespace ldae::run
