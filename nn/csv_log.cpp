#include "nn/csv_log.h"

#include <algorithm>
#include <cstdio>
#include <sstream>

#include "tensor/error.h"

namespace ldae::nn {

namespace {

std::string header_line(const std::vector<std::string>& columns) {
  std::string h = "step";
  for (const auto& c : columns) h += "," + c;
  return h;
}

}  // namespace

CsvLog::CsvLog(std::string path, std::vector<std::string> columns, int64_t resume_after)
    : path_(std::move(path)), columns_(std::move(columns)) {
  for (const auto& c : columns_)
    check(!c.empty() && c.find_first_of(",\"\n") == std::string::npos && c != "step", "CsvLog",
          "invalid column name \"" + c + "\"");
  const std::string header = header_line(columns_);
  if (resume_after < 0) {
    out_.open(path_, std::ios::trunc);
    check(out_.good(), "CsvLog", "cannot create " + path_);
    out_ << header << "\n" << std::flush;
    return;
  }
  // Resume: keep the header and the rows up to resume_after.
  std::ifstream in(path_);
  check(in.good(), "CsvLog", "cannot resume " + path_ + ": the file does not exist");
  std::string line, kept;
  std::getline(in, line);
  check(line == header, "CsvLog",
        "cannot resume " + path_ + ": its header \"" + line + "\" differs from \"" + header + "\"");
  kept = header + "\n";
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    long long step = 0;
    const size_t commas = static_cast<size_t>(std::count(line.begin(), line.end(), ','));
    if (commas != columns_.size() || std::sscanf(line.c_str(), "%lld", &step) != 1)
      continue;  // a half-written row from the crash
    if (step <= resume_after) kept += line + "\n";
  }
  in.close();
  out_.open(path_, std::ios::trunc);
  check(out_.good(), "CsvLog", "cannot rewrite " + path_);
  out_ << kept << std::flush;
}

void CsvLog::log(int64_t step, const std::map<std::string, double>& values) {
  std::map<std::string, double> rest = values;
  std::ostringstream row;
  row.precision(10);
  row << step;
  for (const auto& c : columns_) {
    row << ",";
    auto it = rest.find(c);
    if (it != rest.end()) {
      row << it->second;
      rest.erase(it);
    }
  }
  check(rest.empty(), "CsvLog.log", "\"" + (rest.empty() ? "" : rest.begin()->first) +
                                        "\" is not a column of " + path_);
  out_ << row.str() << "\n" << std::flush;
  check(out_.good(), "CsvLog.log", "write to " + path_ + " failed");
}

}  // namespace ldae::nn
