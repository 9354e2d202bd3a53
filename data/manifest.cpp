#include "data/manifest.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "tensor/error.h"
#include "tensor/philox.h"

namespace fs = std::filesystem;

namespace ldae::data {

namespace {

const char* kOp = "read_manifest";

// Splits one CSV line into fields (RFC 4180 quoting, no newlines inside quotes).
// Returns false on an unterminated quote or text after a closing quote.
bool split_csv_line(const std::string& line, std::vector<std::string>* fields) {
  fields->clear();
  std::string cur;
  size_t i = 0;
  while (true) {
    cur.clear();
    if (i < line.size() && line[i] == '"') {
      ++i;
      while (true) {
        if (i >= line.size()) return false;  // unterminated
        if (line[i] == '"') {
          if (i + 1 < line.size() && line[i + 1] == '"') {
            cur += '"';
            i += 2;
          } else {
            ++i;
            break;
          }
        } else {
          cur += line[i++];
        }
      }
      if (i < line.size() && line[i] != ',') return false;
    } else {
      while (i < line.size() && line[i] != ',') cur += line[i++];
    }
    fields->push_back(cur);
    if (i >= line.size()) return true;
    ++i;  // skip the comma
  }
}

std::string trim(const std::string& s) {
  size_t b = 0, e = s.size();
  while (b < e && (s[b] == ' ' || s[b] == '\t')) ++b;
  while (e > b && (s[e - 1] == ' ' || s[e - 1] == '\t')) --e;
  return s.substr(b, e - b);
}

bool parse_int(const std::string& s, int64_t* out) {
  if (s.empty() || s.size() > 12) return false;
  for (char c : s)
    if (c < '0' || c > '9') return false;
  *out = std::stoll(s);
  return true;
}

bool parse_age(const std::string& s, double* out) {
  if (s.empty() || s == "NaN" || s == "nan" || s == "NA") {
    *out = NAN;
    return true;
  }
  char* end = nullptr;
  const double v = std::strtod(s.c_str(), &end);
  if (end != s.c_str() + s.size() || !std::isfinite(v) || v < 0 || v > 150) return false;
  *out = v;
  return true;
}

std::string quote_if_needed(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) {
    if (c == '"') q += '"';
    q += c;
  }
  return q + "\"";
}

// Shortens untrusted text for a one-line message.
std::string shown(const std::string& s, size_t limit = 40) {
  std::string t;
  for (char c : s.substr(0, limit)) t += (c >= 32 && c < 127) ? c : '?';
  return "'" + t + (s.size() > limit ? "...'" : "'");
}

}  // namespace

int64_t Manifest::column_index(const std::string& column) const {
  for (size_t c = 0; c < columns.size(); ++c)
    if (columns[c] == column) return static_cast<int64_t>(c);
  return -1;
}

const std::string& Manifest::field(size_t r, const std::string& column) const {
  const int64_t c = column_index(column);
  check(c >= 0, "Manifest::field", "no column '" + column + "' in " + source);
  check(r < rows.size(), "Manifest::field", "row " + std::to_string(r) + " out of range");
  return rows[r].fields[static_cast<size_t>(c)];
}

void Manifest::set_column(const std::string& column, const std::vector<std::string>& values) {
  check(values.size() == rows.size(), "Manifest::set_column",
        std::to_string(values.size()) + " values for " + std::to_string(rows.size()) + " rows");
  int64_t c = column_index(column);
  if (c < 0) {
    columns.push_back(column);
    for (auto& row : rows) row.fields.emplace_back();
    c = static_cast<int64_t>(columns.size()) - 1;
  }
  for (size_t r = 0; r < rows.size(); ++r) {
    rows[r].fields[static_cast<size_t>(c)] = values[r];
    if (column == "path") rows[r].path = values[r];
  }
}

int diagnosis_index(const std::string& diagnosis) {
  if (diagnosis == "AD") return 0;
  if (diagnosis == "CN") return 1;
  if (diagnosis == "MCI") return 2;
  fail("diagnosis_index", "unknown diagnosis '" + diagnosis + "' (expected CN, MCI or AD)");
}

bool parse_session(const std::string& label, int64_t* months) {
  std::string s;
  for (char c : label) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  const bool bids = s.compare(0, 4, "ses-") == 0;
  if (bids) s.erase(0, 4);
  if (s == "bl" || s == "sc") {
    *months = 0;
    return true;
  }
  const bool m_prefix = !s.empty() && s[0] == 'm';
  if (m_prefix) s.erase(0, 1);
  if (bids && !m_prefix) return false;  // "ses-01" counts visits, not months
  if (s.size() > 4) return false;
  return parse_int(s, months);  // digits only: refuses "", "-3", "6x", "6.5"
}

std::vector<std::string> preprocess_output_names(const Manifest& m, const std::string& out_dir) {
  const std::string op = "preprocess";
  auto row_text = [&](size_t r) {
    return "line " + std::to_string(m.rows[r].line) + " (" + shown(m.rows[r].path, 200) + ")";
  };
  auto lower = [](std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
  };
  // The input files, to refuse overwriting one of them (compared as absolute paths with
  // links and ".." resolved; a path that cannot be resolved is left out of the check).
  std::error_code ec;
  auto resolved = [&](const fs::path& p) {
    std::error_code e;
    const fs::path c = fs::weakly_canonical(p, e);
    return e ? std::string() : c.string();
  };
  std::map<std::string, size_t> inputs;
  for (size_t r = 0; r < m.rows.size(); ++r) {
    const std::string c = resolved(m.rows[r].full_path);
    if (!c.empty()) inputs.emplace(c, r);
  }
  const fs::path out_manifest = fs::path(out_dir) / "manifest.csv";
  if (!m.source.empty() && fs::exists(m.source, ec) && fs::exists(out_manifest, ec) &&
      fs::equivalent(m.source, out_manifest, ec))
    fail(op, "--out-dir " + out_dir + " holds the input manifest " + m.source +
                 ": writing the new manifest.csv there would replace it; choose another folder");

  std::vector<std::string> names;
  std::map<std::string, size_t> seen;  // lower-case name -> row
  for (size_t r = 0; r < m.rows.size(); ++r) {
    const ManifestRow& row = m.rows[r];
    std::string subject;
    for (char c : row.subject)
      subject += (std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_') ? c : '_';
    std::string month = std::to_string(row.session);
    if (month.size() < 2) month = "0" + month;
    const std::string name = subject + "/" + subject + "_ses-M" + month + "_T1w.nii.gz";
    const auto [it, fresh] = seen.emplace(lower(name), r);
    if (!fresh)
      fail(op, m.source + ": " + row_text(it->second) + " and " + row_text(r) + " would both be written to " +
                   name + " (subject " + shown(m.rows[it->second].subject) + " and " + shown(row.subject) +
                   ", month " + std::to_string(row.session) +
                   "); give each scan its own subject and session (names differing only in case or in "
                   "characters other than letters, digits, '-' and '_' collide)");
    const std::string out = resolved(fs::path(out_dir) / name);
    const auto in = out.empty() ? inputs.end() : inputs.find(out);
    if (in != inputs.end())
      fail(op, m.source + ": the output of " + row_text(r) + ", " + (fs::path(out_dir) / name).string() +
                   ", is the input of " + row_text(in->second) + "; choose another --out-dir");
    names.push_back(name);
  }
  return names;
}

Manifest parse_manifest(const std::string& text, const std::string& source, const std::string& folder,
                        const ManifestOptions& options) {
  Manifest m;
  m.source = source;
  m.folder = folder;
  auto at_line = [&](int64_t line, const std::string& what) {
    fail(kOp, source + ":" + std::to_string(line) + ": " + what);
  };
  std::istringstream in(text);
  std::string line;
  std::vector<std::string> fields;
  int64_t line_no = 0;
  bool have_header = false;
  int64_t c_subject = -1, c_path = -1, c_diag = -1, c_session = -1, c_age = -1;
  std::map<std::pair<std::string, int64_t>, size_t> seen;  // (subject, session) -> row index
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line_no == 1 && line.size() >= 3 && line.compare(0, 3, "\xEF\xBB\xBF") == 0) line.erase(0, 3);  // BOM
    if (trim(line).empty()) continue;
    if (!split_csv_line(line, &fields)) at_line(line_no, "unterminated or misplaced quote");
    for (auto& f : fields) f = trim(f);
    if (!have_header) {
      have_header = true;
      std::set<std::string> names;
      for (const auto& f : fields) {
        if (f.empty()) at_line(line_no, "empty column name in the header");
        if (!names.insert(f).second) at_line(line_no, "duplicate column " + shown(f));
      }
      m.columns = fields;
      c_subject = m.column_index("subject");
      c_path = m.column_index("path");
      c_diag = m.column_index("diagnosis");
      c_session = m.column_index("session");
      c_age = m.column_index("age");
      std::string missing;
      for (const char* req : {"subject", "path", "diagnosis", "session", "age"})
        if (m.column_index(req) < 0) missing += std::string(missing.empty() ? "" : ", ") + req;
      if (!missing.empty())
        at_line(line_no, "missing required column(s) " + missing +
                             " (need subject, path, diagnosis, session, age)");
      continue;
    }
    if (fields.size() != m.columns.size())
      at_line(line_no, std::to_string(fields.size()) + " fields, but the header has " +
                           std::to_string(m.columns.size()));
    ManifestRow row;
    row.line = line_no;
    row.fields = fields;
    row.subject = fields[static_cast<size_t>(c_subject)];
    row.path = fields[static_cast<size_t>(c_path)];
    row.diagnosis = fields[static_cast<size_t>(c_diag)];
    if (row.subject.empty()) at_line(line_no, "empty subject");
    if (row.path.empty()) at_line(line_no, "empty path");
    if (row.diagnosis != "CN" && row.diagnosis != "MCI" && row.diagnosis != "AD")
      at_line(line_no, "unknown diagnosis " + shown(row.diagnosis) + " (expected CN, MCI or AD)");
    if (!parse_session(fields[static_cast<size_t>(c_session)], &row.session))
      at_line(line_no, "session " + shown(fields[static_cast<size_t>(c_session)]) +
                           " is not a visit label (expected months since baseline: 6, 06, M06, m06, ses-M06, "
                           "or bl / sc for month 0)");
    if (!parse_age(fields[static_cast<size_t>(c_age)], &row.age))
      at_line(line_no, "age " + shown(fields[static_cast<size_t>(c_age)]) +
                           " is not a number of years in [0, 150] (leave it empty if unknown)");
    const auto [first, fresh] = seen.emplace(std::make_pair(row.subject, row.session), m.rows.size());
    if (!fresh) {
      const ManifestRow& other = m.rows[first->second];
      at_line(line_no, "subject " + shown(row.subject) + " has month " + std::to_string(row.session) +
                           " twice: line " + std::to_string(other.line) + " (" + shown(other.path, 200) + ") and line " +
                           std::to_string(line_no) + " (" + shown(row.path, 200) + ")");
    }
    const fs::path p(row.path);
    row.full_path = p.is_absolute() || folder.empty() ? row.path : (fs::path(folder) / p).string();
    if (options.check_files) {
      std::error_code ec;
      if (!fs::is_regular_file(row.full_path, ec)) at_line(line_no, "image file not found: " + row.full_path);
    }
    m.rows.push_back(std::move(row));
  }
  if (!have_header) fail(kOp, source + ": empty file (no header line)");
  return m;
}

Manifest read_manifest(const std::string& path, const ManifestOptions& options) {
  std::error_code ec;
  if (!fs::exists(path, ec)) fail(kOp, path + ": no such file");
  if (fs::is_directory(path, ec)) fail(kOp, path + ": is a directory, not a CSV file");
  std::ifstream f(path, std::ios::binary);
  if (!f) fail(kOp, path + ": cannot open for reading");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_manifest(ss.str(), path, fs::path(path).parent_path().string(), options);
}

void write_manifest(const std::string& path, const Manifest& m) {
  std::ofstream f(path, std::ios::binary);
  if (!f) fail("write_manifest", path + ": cannot open for writing");
  for (size_t c = 0; c < m.columns.size(); ++c) f << (c ? "," : "") << quote_if_needed(m.columns[c]);
  f << "\n";
  for (const auto& row : m.rows) {
    for (size_t c = 0; c < row.fields.size(); ++c) f << (c ? "," : "") << quote_if_needed(row.fields[c]);
    f << "\n";
  }
  if (!f) fail("write_manifest", path + ": write failed");
}

namespace {

// Fisher-Yates with Philox draws from stream `stream`: element i swaps with a uniform j in [0, i].
void shuffle_subjects(std::vector<std::string>& subjects, uint64_t seed, uint64_t stream) {
  for (size_t i = subjects.size(); i-- > 1;) {
    const double u = philox::uniform(seed, stream, i, true);  // (0, 1]
    const size_t j = std::min(i, static_cast<size_t>(std::ceil(u * static_cast<double>(i + 1))) - 1);
    std::swap(subjects[i], subjects[j]);
  }
}

}  // namespace

Split split_by_subject(const Manifest& m, double val_fraction, double test_fraction, uint64_t seed, bool stratify) {
  const std::string op = "split_by_subject";
  check(val_fraction >= 0 && val_fraction < 1 && test_fraction >= 0 && test_fraction < 1, op,
        "fractions must be in [0, 1)");
  // The subjects of each group (one group of all subjects, or one per diagnosis), sorted.
  std::map<std::string, std::vector<std::string>> groups;
  std::map<std::string, bool> seen;
  for (const auto& row : m.rows) {
    if (seen[row.subject]) continue;
    seen[row.subject] = true;
    groups[stratify ? row.diagnosis : std::string()].push_back(row.subject);
  }
  std::map<std::string, int> part;  // 0 train, 1 val, 2 test
  size_t n_train = 0, n_all = 0, n_test_all = 0, n_val_all = 0;
  uint64_t stream = 0;  // stream 0 without stratification: the unstratified split is unchanged
  for (auto& [diagnosis, subjects] : groups) {
    std::sort(subjects.begin(), subjects.end());
    shuffle_subjects(subjects, seed, stream++);
    const size_t n = subjects.size();
    size_t n_test = static_cast<size_t>(std::ceil(test_fraction * static_cast<double>(n) - 1e-9));
    size_t n_val = static_cast<size_t>(std::ceil(val_fraction * static_cast<double>(n - n_test) - 1e-9));
    if (stratify) {  // keep one training subject per diagnosis
      n_test = std::min(n_test, n - 1);
      n_val = std::min(n_val, n - 1 - n_test);
    }
    for (size_t i = 0; i < n; ++i) part[subjects[i]] = i < n_test ? 2 : (i < n_test + n_val ? 1 : 0);
    n_all += n;
    n_test_all += n_test;
    n_val_all += n_val;
    n_train += n - std::min(n, n_test + n_val);
  }
  check(n_train > 0 && n_test_all + n_val_all < n_all, op,
        "no training subject left (" + std::to_string(n_all) + " subjects, " + std::to_string(n_test_all) +
            " test, " + std::to_string(n_val_all) + " validation)");
  Split s;
  for (size_t r = 0; r < m.rows.size(); ++r) {
    const int p = part[m.rows[r].subject];
    (p == 0 ? s.train : p == 1 ? s.val : s.test).push_back(r);
  }
  return s;
}

}  // namespace ldae::data
