// Command-line parsing shared by the tutorial programs: the same library (CLI11) and the
// same exit codes as the `ldae` program (0 success and --help, 1 runtime error, 2 usage
// error), so every program answers --help and rejects a bad value with a clear message.
//
//   CLI::App app{"what the program does"};
//   app.add_option("--steps", steps, "training steps")->check(tutorial::kPositive);
//   if (int code = tutorial::parse(app, argc, argv); code >= 0) return code;
#pragma once
#include <CLI/CLI.hpp>

#include <iostream>
#include <string>

namespace tutorial {

// Validators with short messages ("--lr: must be > 0, got -1"): a number > 0, and >= 0.
inline std::string check_number(const std::string& text, bool allow_zero) {
  size_t used = 0;
  double v = 0;
  try {
    v = std::stod(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (used == 0 || used != text.size()) return "expected a number, got '" + text + "'";
  if (allow_zero ? v < 0 : v <= 0) return std::string("must be ") + (allow_zero ? ">= 0" : "> 0") + ", got " + text;
  return "";
}
inline const CLI::Validator kPositive([](std::string& s) { return check_number(s, false); }, "> 0");
inline const CLI::Validator kNonNegative([](std::string& s) { return check_number(s, true); }, ">= 0");

// Parses argv into the options registered on `app`. Returns -1 when the program should go
// on; otherwise the exit code to return at once (0 after printing --help, 2 after a
// usage error, whose message goes to stderr).
inline int parse(CLI::App& app, int argc, char** argv) {
  try {
    app.parse(argc, argv);
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "usage error: " << e.what() << "\nRun '" << argv[0] << " --help' for usage.\n";
    return 2;
  }
  return -1;
}

}  // namespace tutorial
