#include "ldae/report_values.h"

#include <cmath>
#include <cstdio>

namespace ldae::report {

using json = nlohmann::ordered_json;

const json* at_path(const json& root, const std::string& path) {
  const json* node = &root;
  size_t start = 0;
  while (start <= path.size()) {
    const size_t dot = path.find('.', start);
    const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
    if (!node->is_object() || !node->contains(key)) return nullptr;
    node = &(*node)[key];
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  return node;
}

double value_at(const json& root, const std::string& path) {
  const json* v = at_path(root, path);
  return v && v->is_number() ? v->get<double>() : NAN;
}

std::string fixed(double x, int digits) {
  if (std::isnan(x)) return "–";
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.*f", digits, x);
  return buf;
}

std::string number(const json& root, const std::string& path, int digits) {
  const json* v = at_path(root, path);
  if (!v || !v->is_number()) return "–";
  const double x = v->get<double>();
  if (!std::isfinite(x)) return "nan";
  return fixed(x, digits);
}

bool interval_at(const json& root, const std::string& path, double* lo, double* hi) {
  const json* ci = at_path(root, path + "_ci");
  if (!ci || !ci->is_array() || ci->size() != 2 || !(*ci)[0].is_number() || !(*ci)[1].is_number()) return false;
  *lo = (*ci)[0].get<double>();
  *hi = (*ci)[1].get<double>();
  return true;
}

std::string with_interval(const json& root, const std::string& path, int digits) {
  std::string s = number(root, path, digits);
  double lo = 0, hi = 0;
  if (s != "–" && interval_at(root, path, &lo, &hi)) s += " [" + fixed(lo, digits) + ", " + fixed(hi, digits) + "]";
  return s;
}

std::string skipped(const json& root, const std::string& part, const std::string& if_absent) {
  const json* p = at_path(root, part);
  if (!p) return if_absent;
  if (p->is_object() && p->contains("skipped") && (*p)["skipped"].is_string()) return (*p)["skipped"];
  return "";
}

std::string join(const std::vector<std::string>& items, const std::string& separator) {
  std::string s;
  for (size_t i = 0; i < items.size(); ++i) s += (i ? separator : "") + items[i];
  return s;
}

}  // namespace ldae::report
