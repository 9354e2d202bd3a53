#include "ldae/feature_table.h"

#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <map>
#include <set>
#include <sstream>

#include "ldae/pca.h"
#include "ldae/probe_metrics.h"
#include "tensor/error.h"

namespace ldae::probe {

namespace {

// One CSV line -> fields ("a,b" quoting and "" for a quote). False on an unterminated quote.
bool split_csv_line(const std::string& line, std::vector<std::string>* out) {
  out->clear();
  std::string field;
  bool quoted = false;
  for (size_t i = 0; i < line.size(); ++i) {
    const char ch = line[i];
    if (quoted) {
      if (ch == '"') {
        if (i + 1 < line.size() && line[i + 1] == '"') {
          field += '"';
          ++i;
        } else {
          quoted = false;
        }
      } else {
        field += ch;
      }
    } else if (ch == '"') {
      quoted = true;
    } else if (ch == ',') {
      out->push_back(field);
      field.clear();
    } else {
      field += ch;
    }
  }
  out->push_back(field);
  return !quoted;
}

std::string csv_field(const std::string& s) {
  if (s.find_first_of(",\"\n\r") == std::string::npos) return s;
  std::string q = "\"";
  for (char c : s) q += (c == '"') ? std::string("\"\"") : std::string(1, c);
  return q + "\"";
}

std::string trim(const std::string& s) {
  const size_t a = s.find_first_not_of(" \t");
  if (a == std::string::npos) return "";
  const size_t b = s.find_last_not_of(" \t");
  return s.substr(a, b - a + 1);
}

// A whole-field number (strtod), false for anything else. "nan" parses as NaN.
bool parse_number(const std::string& text, double* value) {
  const std::string t = trim(text);
  if (t.empty()) return false;
  char* end = nullptr;
  const double v = std::strtod(t.c_str(), &end);
  if (end != t.c_str() + t.size()) return false;
  *value = v;
  return true;
}

bool known_diagnosis(const std::string& d) { return d == "CN" || d == "MCI" || d == "AD"; }
bool known_split(const std::string& s) { return s == "train" || s == "val" || s == "test"; }

std::string format_double(double v) {
  if (std::isnan(v)) return "";
  char buf[40];
  std::snprintf(buf, sizeof buf, "%.17g", v);
  return buf;
}

}  // namespace

std::vector<size_t> FeatureTable::rows_of_split(const std::string& s) const {
  std::vector<size_t> rows;
  for (size_t r = 0; r < split.size(); ++r)
    if (split[r] == s) rows.push_back(r);
  return rows;
}

void validate_features(const FeatureTable& t, const std::string& op) {
  const size_t n = t.subject.size();
  check(t.session.size() == n && t.diagnosis.size() == n && t.split.size() == n && t.age.size() == n, op,
        "the table's columns differ in length");
  check(t.line.empty() || t.line.size() == n, op, "the table's line numbers differ in length");
  check(n >= 1, op, t.source + ": the table has no rows");
  check(t.dim() >= 1, op, t.source + ": the table has no feature columns");
  check(t.x.defined() && t.x.dim() == 2 && t.x.size(0) == static_cast<int64_t>(n) && t.x.size(1) == t.dim() &&
            t.x.dtype() == DType::F64,
        op, t.source + ": the features must be a float64 (" + std::to_string(n) + ", " + std::to_string(t.dim()) +
                ") tensor");
  auto where = [&](size_t r) {
    return t.source + (t.line.empty() ? " row " + std::to_string(r) : ":" + std::to_string(t.line[r]));
  };
  const Tensor x = t.x.contiguous();
  const double* p = x.data<double>();
  std::map<std::string, size_t> first_row;  // subject -> first row
  for (size_t r = 0; r < n; ++r) {
    check(!t.subject[r].empty(), op, where(r) + ": empty subject");
    check(known_diagnosis(t.diagnosis[r]), op,
          where(r) + ": unknown diagnosis \"" + t.diagnosis[r] + "\" (expected CN, MCI or AD)");
    check(known_split(t.split[r]), op, where(r) + ": unknown split \"" + t.split[r] + "\" (expected train, val or test)");
    check(std::isnan(t.age[r]) || std::isfinite(t.age[r]), op, where(r) + ": the age is infinite");
    for (int64_t j = 0; j < t.dim(); ++j)
      check(std::isfinite(p[static_cast<int64_t>(r) * t.dim() + j]), op,
            where(r) + ": feature " + t.feature_names[static_cast<size_t>(j)] + " is not a finite number");
    const auto it = first_row.emplace(t.subject[r], r).first;
    check(t.split[it->second] == t.split[r], op,
          "subject " + t.subject[r] + " is in two splits (" + t.split[it->second] + " at " + where(it->second) +
              ", " + t.split[r] + " at " + where(r) + "): the split must be by subject");
  }
}

FeatureTable parse_features(const std::string& text, const std::string& source) {
  const std::string op = "read_features";
  FeatureTable t;
  t.source = source;
  std::istringstream in(text);
  std::string line;
  std::vector<std::string> header, fields;
  int64_t line_no = 0;
  // Header.
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (!trim(line).empty()) break;
  }
  check(!trim(line).empty(), op, source + ": empty file (expected a header subject,session,diagnosis,age,split,y0,...)");
  check(split_csv_line(line, &header), op, source + ":" + std::to_string(line_no) + ": unterminated quote");
  for (auto& h : header) h = trim(h);
  std::map<std::string, size_t> col;
  for (size_t i = 0; i < header.size(); ++i) {
    check(col.emplace(header[i], i).second, op, source + ": column \"" + header[i] + "\" appears twice");
  }
  std::string missing;
  for (const char* need : {"subject", "session", "diagnosis", "age", "split"})
    if (!col.count(need)) missing += (missing.empty() ? "" : ", ") + std::string(need);
  check(missing.empty(), op,
        source + ": missing column(s) " + missing + " (expected subject,session,diagnosis,age,split,y0,...,y{d-1})");
  // Feature columns: y0, y1, ... consecutive; every "y<digits>" column must belong to them.
  std::vector<size_t> feature_cols;
  while (col.count("y" + std::to_string(feature_cols.size())))
    feature_cols.push_back(col.at("y" + std::to_string(feature_cols.size())));
  check(!feature_cols.empty(), op, source + ": no feature columns (expected y0, y1, ...)");
  for (const auto& h : header) {
    if (h.size() >= 2 && h[0] == 'y' && h.find_first_not_of("0123456789", 1) == std::string::npos) {
      const size_t k = std::stoul(h.substr(1));
      check(k < feature_cols.size(), op,
            source + ": feature column " + h + " does not follow y0..y" + std::to_string(feature_cols.size() - 1) +
                " (the feature columns must be y0..y{d-1} without gaps)");
    }
  }
  for (size_t j = 0; j < feature_cols.size(); ++j) {
    check(j == 0 || feature_cols[j] > feature_cols[j - 1], op,
          source + ": feature columns out of order (y" + std::to_string(j) + " before y" + std::to_string(j - 1) + ")");
    t.feature_names.push_back("y" + std::to_string(j));
  }
  const int64_t d = static_cast<int64_t>(feature_cols.size());
  std::vector<double> values;
  while (std::getline(in, line)) {
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (trim(line).empty()) continue;
    const std::string at = source + ":" + std::to_string(line_no);
    check(split_csv_line(line, &fields), op, at + ": unterminated quote");
    check(fields.size() == header.size(), op,
          at + ": " + std::to_string(fields.size()) + " fields, the header has " + std::to_string(header.size()));
    t.subject.push_back(trim(fields[col.at("subject")]));
    t.session.push_back(trim(fields[col.at("session")]));
    t.diagnosis.push_back(trim(fields[col.at("diagnosis")]));
    t.split.push_back(trim(fields[col.at("split")]));
    t.line.push_back(line_no);
    check(!t.subject.back().empty(), op, at + ": empty subject");
    check(known_diagnosis(t.diagnosis.back()), op,
          at + ": unknown diagnosis \"" + t.diagnosis.back() + "\" (expected CN, MCI or AD)");
    check(known_split(t.split.back()), op, at + ": unknown split \"" + t.split.back() + "\" (expected train, val or test)");
    const std::string age_text = trim(fields[col.at("age")]);
    double age = std::nan("");
    if (!age_text.empty()) {
      check(parse_number(age_text, &age) && !std::isinf(age), op, at + ": age \"" + age_text + "\" is not a number");
    }
    t.age.push_back(age);
    for (int64_t j = 0; j < d; ++j) {
      const std::string& f = fields[feature_cols[static_cast<size_t>(j)]];
      double v = 0;
      check(parse_number(f, &v) && std::isfinite(v), op,
            at + ": feature y" + std::to_string(j) + " is \"" + trim(f) + "\", not a finite number");
      values.push_back(v);
    }
  }
  check(!t.subject.empty(), op, source + ": no rows after the header");
  t.x = Tensor::from_vector(values, {t.rows(), d}, DType::F64);
  validate_features(t, op);
  return t;
}

FeatureTable read_features(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  check(f.good(), "read_features", path + ": cannot open the file (no such file or no permission)");
  std::stringstream ss;
  ss << f.rdbuf();
  return parse_features(ss.str(), path);
}

void write_features(const std::string& path, const FeatureTable& t) {
  validate_features(t, "write_features");
  std::ofstream f(path, std::ios::binary);
  check(f.good(), "write_features", path + ": cannot write the file");
  f << "subject,session,diagnosis,age,split";
  for (int64_t j = 0; j < t.dim(); ++j) f << ",y" << j;
  f << "\n";
  const Tensor x = t.x.contiguous();
  const double* p = x.data<double>();
  for (int64_t r = 0; r < t.rows(); ++r) {
    const size_t i = static_cast<size_t>(r);
    f << csv_field(t.subject[i]) << ',' << csv_field(t.session[i]) << ',' << t.diagnosis[i] << ','
      << format_double(t.age[i]) << ',' << t.split[i];
    for (int64_t j = 0; j < t.dim(); ++j) f << ',' << format_double(p[r * t.dim() + j]);
    f << "\n";
  }
  check(f.good(), "write_features", path + ": write failed");
}

std::vector<std::string> manifest_splits(const data::Manifest& manifest, double val_fraction, double test_fraction,
                                         uint64_t seed) {
  std::vector<std::string> splits(manifest.rows.size());
  if (manifest.column_index("split") >= 0) {
    for (size_t r = 0; r < manifest.rows.size(); ++r) splits[r] = manifest.field(r, "split");
    return splits;
  }
  const data::Split s = data::split_by_subject(manifest, val_fraction, test_fraction, seed);
  for (size_t r : s.train) splits[r] = "train";
  for (size_t r : s.val) splits[r] = "val";
  for (size_t r : s.test) splits[r] = "test";
  return splits;
}

FeatureTable features_from_manifest(const data::Manifest& manifest, const std::vector<std::string>& splits,
                                    const Tensor& x, std::vector<std::string> feature_names) {
  const std::string op = "features_from_manifest";
  const int64_t n = static_cast<int64_t>(manifest.rows.size());
  check(splits.size() == manifest.rows.size(), op,
        "needs one split per manifest row (" + std::to_string(n) + "), got " + std::to_string(splits.size()));
  check(x.defined() && x.dim() == 2 && x.size(0) == n, op,
        "needs features (" + std::to_string(n) + ", d), one row per manifest row, got " +
            (x.defined() ? shape_str(x.shape()) : std::string("undefined")));
  if (feature_names.empty())
    for (int64_t j = 0; j < x.size(1); ++j) feature_names.push_back("y" + std::to_string(j));
  check(static_cast<int64_t>(feature_names.size()) == x.size(1), op, "needs one name per feature column");
  FeatureTable t;
  t.source = manifest.source;
  t.feature_names = std::move(feature_names);
  for (size_t r = 0; r < manifest.rows.size(); ++r) {
    const data::ManifestRow& row = manifest.rows[r];
    t.subject.push_back(row.subject);
    t.session.push_back(std::to_string(row.session));
    t.diagnosis.push_back(row.diagnosis);
    t.age.push_back(row.age);
    t.split.push_back(splits[r]);
    t.line.push_back(row.line);
  }
  t.x = x.detach().to(cpu_device()).to(DType::F64).contiguous();
  validate_features(t, op);
  return t;
}

std::vector<double> manifest_numbers(const data::Manifest& manifest, const std::string& column,
                                     const std::string& op) {
  if (manifest.column_index(column) < 0) {
    std::string cols;
    for (const auto& c : manifest.columns) cols += (cols.empty() ? "" : ", ") + c;
    fail(op, manifest.source + ": no column \"" + column + "\" (columns: " + cols + ")");
  }
  std::vector<double> values;
  for (size_t r = 0; r < manifest.rows.size(); ++r) {
    const std::string& text = manifest.field(r, column);
    double v = 0;
    check(parse_number(text, &v) && std::isfinite(v), op,
          manifest.source + ":" + std::to_string(manifest.rows[r].line) + ": " + column + " is \"" + text +
              "\", not a finite number");
    values.push_back(v);
  }
  return values;
}

FeatureTable oracle_features(const data::Manifest& manifest, const std::string& column,
                             const std::vector<std::string>& splits) {
  const std::string op = "oracle_features";
  const std::vector<double> values = manifest_numbers(manifest, column, op);
  check(splits.size() == manifest.rows.size(), op, "needs one split per manifest row");
  FeatureTable t = features_from_manifest(
      manifest, splits, Tensor::from_vector(values, {static_cast<int64_t>(values.size()), 1}, DType::F64), {column});
  t.source = manifest.source + " column " + column;
  return t;
}

namespace {

// The table's "train" rows as an (M, d) float64 matrix, after the checks PCA needs.
Tensor pca_training_rows(const FeatureTable& table, const std::string& op) {
  validate_features(table, op);
  const std::vector<size_t> train = table.rows_of_split("train");
  check(train.size() >= 2, op, table.source + ": PCA needs at least 2 training rows, got " +
                                   std::to_string(train.size()));
  const Tensor x = table.x.contiguous();
  std::vector<double> rows;
  for (size_t r : train) {
    const double* p = x.data<double>() + static_cast<int64_t>(r) * table.dim();
    rows.insert(rows.end(), p, p + table.dim());
  }
  return Tensor::from_vector(rows, {static_cast<int64_t>(train.size()), table.dim()}, DType::F64);
}

}  // namespace

FeatureTable with_pca(const FeatureTable& table, int64_t k) {
  const Tensor train_x = pca_training_rows(table, "with_pca");
  FeatureTable out = table;
  out.x = pca_features(train_x, table.x.contiguous(), k);
  out.feature_names.clear();
  for (int64_t j = 0; j < k; ++j) out.feature_names.push_back("pc" + std::to_string(j));
  out.source = table.source + " (PCA, " + std::to_string(k) + " components fitted on the train split)";
  return out;
}

int64_t pca_components_for_variance(const FeatureTable& table, double fraction, int64_t max_k) {
  const Tensor train_x = pca_training_rows(table, "pca_components_for_variance");
  return components_for_variance(fit_pca(train_x, max_k).explained_variance_ratio, fraction);
}

double FeatureSpread::ratio() const {
  return median_abs_mean > 0 ? median_std / median_abs_mean : std::numeric_limits<double>::quiet_NaN();
}

FeatureSpread feature_spread(const FeatureTable& t) {
  check(t.rows() > 0 && t.dim() > 0, "feature_spread", "the table has no rows or no features");
  return feature_spread(t.x);
}

FeatureSpread feature_spread(const Tensor& codes) {
  check(codes.defined() && codes.dim() == 2 && codes.size(0) > 0 && codes.size(1) > 0, "feature_spread",
        "expected codes (N, d) with N, d > 0, got " +
            (codes.defined() ? shape_str(codes.shape()) : std::string("undefined")));
  const Tensor x = codes.to(DType::F64).contiguous();  // (N, d)
  const int64_t n = x.size(0), d = x.size(1);
  const double* v = x.data<double>();
  std::vector<double> stds, abs_means;
  for (int64_t j = 0; j < d; ++j) {
    double sum = 0;
    for (int64_t i = 0; i < n; ++i) sum += v[i * d + j];
    const double mean = sum / static_cast<double>(n);
    double ss = 0;
    for (int64_t i = 0; i < n; ++i) ss += (v[i * d + j] - mean) * (v[i * d + j] - mean);
    stds.push_back(std::sqrt(ss / static_cast<double>(n)));
    abs_means.push_back(std::fabs(mean));
  }
  FeatureSpread s;
  s.scans = n;
  s.median_std = percentile(stds, 0.5);
  s.median_abs_mean = percentile(abs_means, 0.5);
  return s;
}

}  // namespace ldae::probe
