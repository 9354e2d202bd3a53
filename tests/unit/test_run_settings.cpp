// The typed settings of a training stage (ldae/run/settings.h): preset defaults, then a
// JSON config file, then key=value overrides; every bad key, type and range refused with
// a message naming the key and where it came from.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/test_helpers.h"
#include "ldae/run/settings.h"
#include "ldae/train_ae_settings.h"

using namespace ldae;
using namespace ldae::run;
namespace fs = std::filesystem;

namespace {

const SettingsTable& table() {
  static const SettingsTable t = {
      int_setting("epochs", 2, 20, 100, 1, 1000, "passes"),
      float_setting("lr", 1e-3, 3e-4, 5e-5, 0.0, 1.0, "learning rate"),
      bool_setting("leak", false, false, true, "a switch"),
      string_setting("mode", "a", "a", "b", {"a", "b"}, "a choice"),
  };
  return t;
}

// Expects a SettingsError whose message contains every part.
template <typename Body>
void expect_settings_error(Body body, const std::vector<std::string>& parts) {
  try {
    body();
    ADD_FAILURE() << "expected a SettingsError containing \"" << parts[0] << "\"";
  } catch (const SettingsError& e) {
    const std::string msg = e.what();
    for (const auto& p : parts) EXPECT_NE(msg.find(p), std::string::npos) << msg;
  }
}

std::string write_file(const std::string& name, const std::string& text) {
  const fs::path p = fs::temp_directory_path() / ("ldae_settings_" + std::to_string(::getpid()) + "_" + name);
  std::ofstream(p) << text;
  return p.string();
}

}  // namespace

TEST(RunSettings, PresetThenConfigThenSet) {
  const Settings tiny = resolve_settings(table(), "tiny", "", {});
  EXPECT_EQ(tiny.get_int("epochs"), 2);
  EXPECT_DOUBLE_EQ(tiny.get_float("lr"), 1e-3);
  EXPECT_FALSE(tiny.get_bool("leak"));
  EXPECT_EQ(tiny.get_string("mode"), "a");
  const Settings paper = resolve_settings(table(), "paper", "", {});
  EXPECT_EQ(paper.get_int("epochs"), 100);
  EXPECT_TRUE(paper.get_bool("leak"));

  const std::string cfg = write_file("a.json", R"({"epochs": 7, "lr": 0.01, "mode": "b"})");
  const Settings c = resolve_settings(table(), "tiny", cfg, {"epochs=9", "leak=true", "lr=0.5"});
  EXPECT_EQ(c.get_int("epochs"), 9);     // --set wins over the file
  EXPECT_EQ(c.get_string("mode"), "b");  // the file wins over the preset
  EXPECT_TRUE(c.get_bool("leak"));
  // A run's config.json: its "settings" object is used; an integer is a valid float.
  const std::string run_cfg = write_file("b.json", R"({"stage": "x", "settings": {"lr": 1, "epochs": 3}})");
  const Settings d = resolve_settings(table(), "course", run_cfg, {});
  EXPECT_EQ(d.get_int("epochs"), 3);
  EXPECT_DOUBLE_EQ(d.get_float("lr"), 1.0);
  // The JSON keeps the table's order.
  EXPECT_EQ(d.json().begin().key(), "epochs");
  fs::remove(cfg);
  fs::remove(run_cfg);
}

TEST(RunSettings, RefusesBadKeysTypesAndRanges) {
  expect_settings_error([] { resolve_settings(table(), "tiny", "", {"epoch=3"}); },
                        {"unknown setting 'epoch'", "known: epochs, lr, leak, mode"});
  expect_settings_error([] { resolve_settings(table(), "tiny", "", {"epochs"}); }, {"expected key=value"});
  expect_settings_error([] { resolve_settings(table(), "tiny", "", {"epochs=1.5"}); },
                        {"'epochs' (int)", "must be an integer", "1.5"});
  expect_settings_error([] { resolve_settings(table(), "tiny", "", {"epochs=0"}); }, {"must be in [1, 1000]"});
  expect_settings_error([] { resolve_settings(table(), "tiny", "", {"lr=fast"}); }, {"'lr' (float)", "fast"});
  expect_settings_error([] { resolve_settings(table(), "tiny", "", {"lr=nan"}); }, {"'lr' (float)"});
  expect_settings_error([] { resolve_settings(table(), "tiny", "", {"lr=2"}); }, {"must be in [0, 1]"});
  expect_settings_error([] { resolve_settings(table(), "tiny", "", {"leak=maybe"}); }, {"true or false"});
  expect_settings_error([] { resolve_settings(table(), "tiny", "", {"mode=c"}); }, {"one of a, b"});
  expect_settings_error([] { resolve_settings(table(), "huge", "", {}); }, {"unknown preset 'huge'"});

  const std::string wrong_type = write_file("c.json", R"({"epochs": "7"})");
  expect_settings_error([&] { resolve_settings(table(), "tiny", wrong_type, {}); },
                        {"--config", "'epochs' (int) must be an integer, got \"7\""});
  const std::string unknown = write_file("d.json", R"({"epochs": 7, "speed": 1})");
  expect_settings_error([&] { resolve_settings(table(), "tiny", unknown, {}); }, {"unknown setting 'speed'"});
  const std::string not_json = write_file("e.json", "{epochs: 7");
  expect_settings_error([&] { resolve_settings(table(), "tiny", not_json, {}); }, {"not valid JSON"});
  const std::string array = write_file("f.json", "[1, 2]");
  expect_settings_error([&] { resolve_settings(table(), "tiny", array, {}); }, {"expected a JSON object"});
  EXPECT_THROW(resolve_settings(table(), "tiny", "/nonexistent/x.json", {}), Error);
  for (const auto& f : {wrong_type, unknown, not_json, array}) fs::remove(f);
}

// Every stage table resolves at every preset (its defaults are within their own ranges),
// and its help names every key.
TEST(RunSettings, StageTablesAreConsistent) {
  for (const char* preset : {"tiny", "course", "paper"}) {
    const Settings s = resolve_settings(stages::train_ae_settings(), preset, "", {});
    EXPECT_EQ(s.json().size(), stages::train_ae_settings().size());
  }
  const std::string help = settings_help(stages::train_ae_settings());
  for (const auto& spec : stages::train_ae_settings()) EXPECT_NE(help.find(spec.key), std::string::npos);
  // The published values at the paper preset (ldae-reference 2.3, 2.4).
  const Settings p = resolve_settings(stages::train_ae_settings(), "paper", "", {});
  EXPECT_EQ(p.get_int("accumulate"), 4);
  EXPECT_EQ(p.get_int("epochs"), 100);
  EXPECT_DOUBLE_EQ(p.get_float("lr_g"), 5e-5);
  EXPECT_DOUBLE_EQ(p.get_float("lr_d"), 1e-4);
  EXPECT_DOUBLE_EQ(p.get_float("kl_weight"), 1e-7);
  EXPECT_DOUBLE_EQ(p.get_float("adv_weight"), 0.025);
  EXPECT_DOUBLE_EQ(p.get_float("perceptual_weight"), 1e-3);
  EXPECT_DOUBLE_EQ(p.get_float("clip_grad_norm"), 1.0);
  EXPECT_EQ(p.get_int("adv_warmup_steps"), 0);
  EXPECT_FALSE(p.get_bool("faithful_disc_grad_leak"));
}
