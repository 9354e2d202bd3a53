// Reading numbers out of results.json for the report (ldae/report.h, ldae/report_claims.h):
// a value at a dotted path and its text with a fixed number of decimals.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace ldae::report {

// The value at a dotted path ("probe.ad_vs_cn.auc"), or nullptr.
const nlohmann::ordered_json* at_path(const nlohmann::ordered_json& root, const std::string& path);

// The number at `path`, or NaN when it is absent or not a number.
double value_at(const nlohmann::ordered_json& root, const std::string& path);

// A number with `digits` decimals, "–" when absent or not a number, "nan" when not finite.
std::string number(const nlohmann::ordered_json& root, const std::string& path, int digits = 3);

// `x` with `digits` decimals ("–" for NaN).
std::string fixed(double x, int digits);

// "0.912 [0.850, 0.960]" when an interval `<path>_ci` (two numbers) exists, else number().
std::string with_interval(const nlohmann::ordered_json& root, const std::string& path, int digits = 3);

// The interval `<path>_ci` as [lo, hi] into *lo, *hi; false when there is none.
bool interval_at(const nlohmann::ordered_json& root, const std::string& path, double* lo, double* hi);

// The reason a part of results.json was skipped ({"skipped": "why"}), `if_absent` when the part is
// missing, "" when it is there and measured.
std::string skipped(const nlohmann::ordered_json& root, const std::string& part, const std::string& if_absent);

// "a, b, c" (items joined by `separator`).
std::string join(const std::vector<std::string>& items, const std::string& separator = ", ");

}  // namespace ldae::report
