// ldae report DIR: rewrite DIR/report.md and DIR/report.html from DIR/results.json (what
// `ldae evaluate` and `ldae demo` wrote), e.g. after a newer program changed the report's
// layout. Nothing is recomputed: the report shows the numbers results.json holds.
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <memory>

#include "apps/command.h"
#include "ldae/report.h"
#include "ldae/report_claims.h"
#include "tensor/error.h"

namespace {

void run_report(const std::string& dir) {
  const std::string path = (std::filesystem::path(dir) / "results.json").string();
  std::ifstream in(path);
  ldae::check(in.good(), "report", "cannot open " + path + " (DIR must be the output folder of ldae evaluate)");
  nlohmann::ordered_json results;  // keeps the file's key order, which the report's tables follow
  try {
    results = nlohmann::ordered_json::parse(in);
  } catch (const std::exception& e) {
    ldae::fail("report", path + " is not valid JSON: " + e.what());
  }
  ldae::check(results.is_object(), "report", path + " is not a JSON object");
  ldae::report::write_report(dir, results);
  std::printf("%s/report.md and %s/report.html written from %s\n", dir.c_str(), dir.c_str(), path.c_str());
  std::printf("The paper's relations on this run:\n%s", ldae::report::claims_readings(results).c_str());
}

void add_report_command(CLI::App& app) {
  auto dir = std::make_shared<std::string>();
  CLI::App* sub = app.add_subcommand(
      "report", "Rewrite DIR/report.md and DIR/report.html from DIR/results.json (ldae evaluate's output folder); "
                "nothing is recomputed");
  sub->add_option("DIR", *dir, "The evaluation's output folder (holds results.json and the figures)")->required();
  sub->callback([dir] { run_report(*dir); });
}

const ldae::app::Registration report_registration("report", 91, add_report_command);

}  // namespace
