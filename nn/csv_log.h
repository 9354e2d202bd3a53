// A CSV file of metrics, one row per logged step, written as it goes (each row is
// flushed, so a crashed run keeps its log). The first column is the step.
//
//   step,loss,lr
//   1,0.9321,0.0001
//
// When a run resumes from a checkpoint at step s, open the log with resume_after = s:
// the rows the crashed run wrote after its last checkpoint (steps > s) are dropped, so
// the resumed log reads exactly like the log of an uninterrupted run.
#pragma once
#include <cstdint>
#include <fstream>
#include <map>
#include <string>
#include <vector>

namespace ldae::nn {

class CsvLog {
 public:
  // columns: the names of the value columns (the "step" column comes first by itself).
  // resume_after < 0: create the file (replacing any old one) and write the header.
  // resume_after >= 0: the file must exist with this header (else ldae::Error); rows
  // with step > resume_after are removed, new rows are appended.
  CsvLog(std::string path, std::vector<std::string> columns, int64_t resume_after = -1);

  // Appends a row. Values are matched to columns by name; a column without a value is
  // left empty; a name that is not a column throws ldae::Error.
  void log(int64_t step, const std::map<std::string, double>& values);

  const std::string& path() const { return path_; }

 private:
  std::string path_;
  std::vector<std::string> columns_;
  std::ofstream out_;
};

}  // namespace ldae::nn
