// How a command group joins the `ldae` program. Each apps/cmd_<group>.cpp defines a
// function that adds its subcommands to the CLI11 app and registers it with one line, in a
// variable named after the group (the command files are compiled together in a unity build,
// apps/CMakeLists.txt, so two files may not both say `reg`):
//
//   const ldae::app::Registration info_registration("info", 10, add_info_command);
//
// main.cpp calls every registered function (by `order`, then name) before parsing, so a
// new command group is a new file and nothing else. A subcommand does its work in its
// callback; it reports failures by throwing (ldae::Error or std::exception), which
// main.cpp turns into "error: ..." and exit code 1.
#pragma once
#include <CLI/CLI.hpp>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace ldae::app {

using AddCommands = std::function<void(CLI::App&)>;

struct Registration {
  Registration(std::string name, int order, AddCommands add);
};

struct RegisteredGroup {
  std::string name;
  int order;
  AddCommands add;
};
// All registered groups, sorted by (order, name).
std::vector<RegisteredGroup> registered_groups();

// ---- Small parsing helpers shared by the commands ---------------------------------------

// "64,80,64" -> {64, 80, 64}; throws CLI::ValidationError naming `what` unless it is
// exactly `count` positive integers (count 0: any number >= 1).
std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what, size_t count = 0,
                                    bool allow_zero = false);

}  // namespace ldae::app
