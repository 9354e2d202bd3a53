#include "ldae/report_claims.h"

#include <algorithm>
#include <cmath>
#include <exception>

#include "ldae/report.h"
#include "ldae/report_values.h"

namespace ldae::report {

namespace {

using json = nlohmann::ordered_json;

constexpr double kReconstructionTolerance = 0.01;  // the paper's largest encoded-vs-AE gap is 0.009
constexpr double kRatioMargin = 0.05;              // below the paper's y_sem-only / encoded ratio
constexpr double kInterpolationTolerance = 0.02;   // below the paper's SSIM at the same gap
// How far the y_sem-only SSIM must lead the same draws decoded with another subject's code: as
// much as the encoded rule tolerates, so that a lead in the fifth decimal does not count.
constexpr double kOwnCodeMargin = 0.01;

struct Row {
  std::string relation, paper, ours, rule, reading;
};

// The step counts under `path` ("ldae.encoded" -> {"10", "20", ...}) in results.json's order,
// those with an SSIM only.
std::vector<std::string> step_counts(const json& root, const std::string& path) {
  std::vector<std::string> steps;
  if (const json* m = at_path(root, path); m && m->is_object())
    for (const auto& [s, _] : m->items())
      if (!std::isnan(value_at(root, path + "." + s + ".ssim"))) steps.push_back(s);
  return steps;
}

// "0.504 / 0.632 at 10 / 20 steps" (SSIMs under `path`), with " (8 / 4 test scans)" when counted.
std::string ssim_series(const json& root, const std::string& path, const std::vector<std::string>& steps,
                        bool with_scans) {
  std::vector<std::string> values, scans;
  for (const std::string& s : steps) {
    values.push_back(number(root, path + "." + s + ".ssim"));
    if (const json* n = at_path(root, path + "." + s + ".scans"); n && n->is_number_integer())
      scans.push_back(std::to_string(n->get<long long>()));
  }
  std::string text = join(values, " / ") + " at " + join(steps, " / ") + " steps";
  if (with_scans && scans.size() == steps.size()) text += " (" + join(scans, " / ") + " test scans)";
  return text;
}

// The reason a part was skipped, "missing from results.json" when absent, "" when present.
std::string why_missing(const json& r, const std::string& part) { return skipped(r, part, "missing from results.json"); }

// `row` read as not measured, for `why`.
Row not_measured(Row row, const std::string& why) {
  row.ours = "–";
  row.reading = "not measured: " + why;
  return row;
}

Row encoded_matches_autoencoder(const json& r, const json& paper) {
  Row row{"reconstruction from the encoded x_T matches the autoencoder's",
          "encoded " + ssim_series(paper, "ldae.encoded", step_counts(paper, "ldae.encoded"), false) +
              "; autoencoder " + number(paper, "vae.ssim"),
          "", "encoded at most " + fixed(kReconstructionTolerance, 2) + " below the autoencoder (the paper's largest gap: 0.009)", ""};
  const double ae = value_at(r, "vae.ssim");
  const std::vector<std::string> steps = step_counts(r, "ldae.encoded");
  if (std::isnan(ae) || steps.empty()) {
    return not_measured(row, std::isnan(ae) ? "no autoencoder SSIM" : std::string("no encoded reconstruction"));
  }
  row.ours = "encoded " + ssim_series(r, "ldae.encoded", steps, true) + "; autoencoder " + number(r, "vae.ssim") +
             (at_path(r, "vae.scans") ? " (" + number(r, "vae.scans", 0) + ")" : "");
  std::vector<std::string> hold, fail;
  for (const std::string& s : steps)
    (value_at(r, "ldae.encoded." + s + ".ssim") >= ae - kReconstructionTolerance ? hold : fail).push_back(s);
  if (fail.empty())
    row.reading = "holds at every step count";
  else if (hold.empty())
    row.reading = "does not hold at any step count";
  else
    row.reading = "holds at " + join(hold) + " steps; does not hold at " + join(fail);
  return row;
}

Row semantic_keeps_most(const json& r, const json& paper) {
  const double paper_ratio = value_at(paper, "ldae.semantic_only.100.ssim") / value_at(paper, "ldae.encoded.100.ssim");
  Row row{"y_sem alone keeps most of the image (y_sem-only reconstruction / encoded)",
          number(paper, "ldae.semantic_only.100.ssim") + " / " + number(paper, "ldae.encoded.100.ssim") + " = " +
              fixed(paper_ratio, 2) + " at 100 steps",
          "", "at least the paper's ratio - " + fixed(kRatioMargin, 2) + " (" + fixed(paper_ratio - kRatioMargin, 2) +
              "), at the largest step count",
          ""};
  std::string largest;
  for (const std::string& s : step_counts(r, "ldae.encoded"))
    if (!std::isnan(value_at(r, "ldae.semantic_only." + s + ".ssim"))) largest = s;
  if (largest.empty()) {
    return not_measured(row, "no encoded and y_sem-only reconstructions at the same step count");
  }
  const double ratio =
      value_at(r, "ldae.semantic_only." + largest + ".ssim") / value_at(r, "ldae.encoded." + largest + ".ssim");
  row.ours = number(r, "ldae.semantic_only." + largest + ".ssim") + " / " +
             number(r, "ldae.encoded." + largest + ".ssim") + " = " + fixed(ratio, 2) + " at " + largest + " steps";
  row.reading = ratio >= paper_ratio - kRatioMargin ? "holds" : "does not hold";
  return row;
}

Row semantic_beats_unconditional(const json& r) {
  Row row{"y_sem carries the image beyond the unconditional model", "–", "",
          "y_sem-only SSIM above the unconditional model's at every step count", ""};
  std::vector<std::string> steps;
  for (const std::string& s : step_counts(r, "ldae.semantic_only"))
    if (!std::isnan(value_at(r, "ldae.unconditional." + s + ".ssim"))) steps.push_back(s);
  if (steps.empty()) {
    return not_measured(row, "no y_sem-only and unconditional reconstructions at the same step count");
  }
  std::vector<std::string> unconditional;
  for (const std::string& s : steps) unconditional.push_back(number(r, "ldae.unconditional." + s + ".ssim"));
  row.ours = "y_sem only " + ssim_series(r, "ldae.semantic_only", steps, false) + "; unconditional " +
             join(unconditional, " / ");
  std::vector<std::string> fail;
  for (const std::string& s : steps)
    if (!(value_at(r, "ldae.semantic_only." + s + ".ssim") > value_at(r, "ldae.unconditional." + s + ".ssim")))
      fail.push_back(s);
  row.reading = fail.empty() ? "holds at every step count" : "does not hold at " + join(fail) + " steps";
  return row;
}

Row semantic_is_this_scan(const json& r) {
  Row row{"y_sem describes this scan, not just any brain", "–", "",
          "y_sem-only SSIM at least " + fixed(kOwnCodeMargin, 2) +
              " above the same x_T draws sampled with another test subject's y_sem, at every step count with both",
          ""};
  std::vector<std::string> steps;
  for (const std::string& s : step_counts(r, "ldae.semantic_only"))
    if (!std::isnan(value_at(r, "ldae.other_subject_code." + s + ".ssim"))) steps.push_back(s);
  if (steps.empty()) {
    return not_measured(row, "no reconstruction with another subject's y_sem (fewer than two test subjects)");
  }
  std::vector<std::string> other, lead, fail;
  for (const std::string& s : steps) {
    const double own = value_at(r, "ldae.semantic_only." + s + ".ssim");
    const double theirs = value_at(r, "ldae.other_subject_code." + s + ".ssim");
    other.push_back(number(r, "ldae.other_subject_code." + s + ".ssim"));
    lead.push_back((own >= theirs ? "+" : "") + fixed(own - theirs, 4));
    if (!(own - theirs >= kOwnCodeMargin)) fail.push_back(s);
  }
  row.ours = "own y_sem " + ssim_series(r, "ldae.semantic_only", steps, false) + "; another subject's " +
             join(other, " / ") + " (lead " + join(lead, " / ") + ")";
  row.reading = fail.empty() ? "holds at every step count" : "does not hold at " + join(fail) + " steps";
  return row;
}

Row ad_from_y_sem(const json& r, const json& paper) {
  Row row{"AD vs CN from y_sem (linear probe)", "AUC " + number(paper, "probe.ad_vs_cn.auc"), "",
          "the AUC's 95 % interval above 0.5", ""};
  double lo = 0, hi = 0;
  if (const std::string why = why_missing(r, "probe"); !why.empty() || !interval_at(r, "probe.ad_vs_cn.auc", &lo, &hi)) {
    return not_measured(row, why.empty() ? std::string("no AUC interval") : why);
  }
  row.ours = "AUC " + with_interval(r, "probe.ad_vs_cn.auc");
  if (at_path(r, "probe.ad_vs_cn.test_subjects_AD") && at_path(r, "probe.ad_vs_cn.test_subjects_CN"))
    row.ours += " (" + number(r, "probe.ad_vs_cn.test_subjects_AD", 0) + " AD and " +
                number(r, "probe.ad_vs_cn.test_subjects_CN", 0) + " CN test subjects)";
  else if (at_path(r, "probe.ad_vs_cn.test_subjects"))
    row.ours += " (" + number(r, "probe.ad_vs_cn.test_subjects", 0) + " AD and CN test subjects)";
  if (const std::string few = too_few_subjects(r, "probe."); !few.empty()) {
    row.reading = "not resolved: " + few;
  } else if (lo > 0.5) {
    row.reading = "holds";
  } else if (hi < 0.5) {
    row.reading = "does not hold: below chance";
  } else {
    // Holding 0.5: the split decides whether that is a failure or too few subjects. When the
    // true hippocampal volume's interval clears 0.5 on the same test subjects, they can tell.
    double olo = 0, ohi = 0;
    const bool oracle = interval_at(r, "baselines.oracle_hippocampus.ad_vs_cn.auc", &olo, &ohi);
    const std::string oracle_auc =
        oracle ? "true hippocampal volume, " + with_interval(r, "baselines.oracle_hippocampus.ad_vs_cn.auc") : "";
    if (oracle && olo > 0.5)
      row.reading = "does not hold: the interval holds 0.5, while the oracle's (" + oracle_auc +
                    ") is above 0.5 on the same test subjects";
    else if (oracle)
      row.reading = "not resolved: the interval holds 0.5; so does the oracle's (" + oracle_auc +
                    "): this test split is too small to tell";
    else
      row.reading = "not resolved: the interval holds 0.5 (no oracle to tell whether the split could)";
  }
  return row;
}

Row ad_above_image_dae(const json& r, const json& paper) {
  Row row{"y_sem above the image-space DAE on AD vs CN",
          "AUC " + number(paper, "probe.ad_vs_cn.auc") + " vs " + number(paper, "baselines.image_dae.ad_vs_cn.auc"), "",
          "the two AUC intervals do not overlap", ""};
  double ylo = 0, yhi = 0, dlo = 0, dhi = 0;
  const std::string why = why_missing(r, "baselines.image_dae");
  if (!why.empty() || !interval_at(r, "probe.ad_vs_cn.auc", &ylo, &yhi) ||
      !interval_at(r, "baselines.image_dae.ad_vs_cn.auc", &dlo, &dhi)) {
    return not_measured(row, why.empty() ? std::string("no AUC intervals") : "image-space DAE " + why);
  }
  row.ours = with_interval(r, "probe.ad_vs_cn.auc") + " vs " + with_interval(r, "baselines.image_dae.ad_vs_cn.auc");
  if (std::string few = too_few_subjects(r, "probe."); !few.empty() ||
                                                       !(few = too_few_subjects(r, "baselines.image_dae.")).empty())
    row.reading = "not resolved: " + few;
  else
    row.reading = ylo > dhi ? "holds" : yhi < dlo ? "does not hold: the image-space DAE is higher"
                                                  : "not resolved: the intervals overlap";
  return row;
}

Row age_from_y_sem(const json& r, const json& paper) {
  Row row{"age from y_sem (linear regression)", "MAE " + number(paper, "probe.age.mae", 2) + " years", "",
          "the interval of y_sem's MAE below the MAE of predicting the mean training age", ""};
  double lo = 0, hi = 0;
  const double constant = value_at(r, "baselines.mean_age.age.mae");
  if (!interval_at(r, "probe.age.mae", &lo, &hi) || std::isnan(constant)) {
    return not_measured(row, "no MAE interval for y_sem or no mean-age baseline");
  }
  const double mae = value_at(r, "probe.age.mae");
  row.ours = "MAE " + with_interval(r, "probe.age.mae", 2) + "; the mean training age " + fixed(constant, 2);
  row.reading = hi < constant ? "holds" : mae >= constant ? "does not hold: no better than the mean training age"
                                                          : "not resolved: the interval reaches the constant's MAE";
  return row;
}

Row manipulation_moves_regions(const json& r) {
  Row row{"moving y_sem along the AD direction changes the disease regions the disease's way", "figures only", "",
          "each region's change moves the disease's way, monotone in alpha and measurably (Manipulation's checks)",
          ""};
  if (const std::string why = why_missing(r, "manipulation"); !why.empty()) {
    return not_measured(row, why);
  }
  const json* per_alpha = at_path(r, "manipulation.per_alpha");
  const json* top = per_alpha && per_alpha->is_array() && !per_alpha->empty() ? &per_alpha->back() : nullptr;
  std::vector<std::string> ours, hold;
  for (const char* region : {"ventricle", "hippocampus"}) {
    const std::string key = region;
    const double change = top ? value_at(*top, key + "_change") : NAN;
    const double real = value_at(r, "manipulation.calibration.ad_minus_cn_baseline." + key);
    std::string text = key + " " + (change > 0 ? "+" : "") + fixed(change, 4) + " (real AD - CN " + fixed(real, 4);
    if (change * real > 0) text += ": " + fixed(100 * change / real, 0) + " % of it";
    ours.push_back(text + ")");
    const json* checks = at_path(r, "manipulation.checks");
    auto check = [&](const std::string& name) {
      const json* c = checks ? at_path(*checks, key + "_" + name) : nullptr;
      return c && c->is_boolean() && c->get<bool>();
    };
    if (check("measurable") && check("disease_direction") && check("monotone_in_alpha")) hold.push_back(key);
  }
  const double alpha = top ? value_at(*top, "alpha") : NAN;
  row.ours = "at alpha " + (alpha > 0 ? "+" : std::string()) + fixed(alpha, 0) + ": " + join(ours, "; ");
  const std::string measured = hold.size() == 2 ? "holds for both regions"
                               : hold.empty()   ? "does not hold for either region"
                                                : "holds for the " + hold[0] + " region only";
  // The direction is the AD probe's: only when that probe tells AD from CN (its AUC interval
  // above 0.5) is it an AD direction; otherwise which way each region moves is chance.
  double lo = 0, hi = 0;
  if (const std::string few = too_few_subjects(r, "probe."); !few.empty())
    row.reading = "not resolved: the AD probe it follows cannot be judged (" + few + "); measured: " + measured;
  else if (!interval_at(r, "probe.ad_vs_cn.auc", &lo, &hi))
    row.reading = "not resolved: the AD probe it follows has no AUC interval; measured: " + measured;
  else if (lo <= 0.5)
    row.reading = "not resolved: the AD probe it follows is not above chance (AUC " +
                  with_interval(r, "probe.ad_vs_cn.auc") + "), so which way each region moves is chance; measured: " +
                  measured;
  else
    row.reading = measured;
  return row;
}

// The paper's interpolation SSIM at a time gap of `months`: 0.969 at 6 months, (more than) 0.93 at 24,
// linear in between and held constant outside.
double paper_interpolation_ssim(const json& paper, double months) {
  const double at6 = value_at(paper, "interpolation.6_months.ssim"), at24 = value_at(paper, "interpolation.24_months.ssim");
  const double f = std::min(1.0, std::max(0.0, (months - 6.0) / 18.0));
  return at6 + f * (at24 - at6);
}

Row interpolation_near_autoencoder(const json& r, const json& paper) {
  Row row{"interpolated visits match the autoencoder's reconstruction of the missing scan",
          "SSIM " + number(paper, "interpolation.6_months.ssim") + " at a 6-month gap, above " +
              number(paper, "interpolation.24_months.ssim", 2) + " at 24",
          "", "at most " + fixed(kInterpolationTolerance, 2) + " below the paper's SSIM at the same gap (linear between 6 and 24 months)", ""};
  const json* by_gap = at_path(r, "interpolation.by_gap");
  if (const std::string why = why_missing(r, "interpolation"); !why.empty() || !by_gap || !by_gap->is_object() ||
                                                                  by_gap->empty()) {
    return not_measured(row, why.empty() ? std::string("no gaps") : why);
  }
  std::vector<std::string> values, gaps, fail;
  for (const auto& [gap, _] : by_gap->items()) {
    const double v = value_at(r, "interpolation.by_gap." + gap + ".ldae_vs_autoencoder.ssim");
    values.push_back(fixed(v, 3));
    gaps.push_back(gap);
    double months = NAN;
    try {
      months = std::stod(gap);
    } catch (const std::exception&) {
    }
    const double target = paper_interpolation_ssim(paper, std::isnan(months) ? 6.0 : months);
    if (!(v >= target - kInterpolationTolerance)) fail.push_back(gap + " (paper " + fixed(target, 3) + ")");
  }
  row.ours = "SSIM " + join(values, " / ") + " at " + join(gaps, " / ") + " months";
  row.reading = fail.empty() ? "holds" : "does not hold at " + join(fail) + " months";
  return row;
}

Row latent_is_faster(const json& r, const json& paper) {
  const double target = value_at(paper, "speed.ratio");
  Row row{"LDAE inference faster than an image-space DAE", fixed(target, 0) + "x per volume", "",
          "at least " + fixed(target, 0) + "x per volume at every step count", ""};
  const json* per_volume = at_path(r, "speed.per_volume");
  if (const std::string why = why_missing(r, "speed"); !why.empty() || !per_volume || !per_volume->is_object() ||
                                                         per_volume->empty()) {
    return not_measured(row, why.empty() ? std::string("no per-volume times") : why);
  }
  std::vector<std::string> ratios, steps, fail;
  for (const auto& [s, _] : per_volume->items()) {
    const double ratio = value_at(r, "speed.per_volume." + s + ".ratio");
    ratios.push_back(fixed(ratio, 1) + "x");
    steps.push_back(s);
    if (!(ratio >= target)) fail.push_back(s);
  }
  row.ours = join(ratios, " / ") + " at " + join(steps, " / ") + " steps (one step: " + number(r, "speed.ratio_per_step", 1) +
             "x)";
  row.reading = fail.empty() ? "holds" : "does not hold at " + join(fail) + " steps";
  return row;
}

}  // namespace

std::string too_few_subjects(const json& r, const std::string& base) {
  const double ad = value_at(r, base + "ad_vs_cn.test_subjects_AD"), cn = value_at(r, base + "ad_vs_cn.test_subjects_CN");
  if (!std::isnan(ad) && !std::isnan(cn)) {
    if (ad >= kMinSubjectsPerClass && cn >= kMinSubjectsPerClass) return "";
    return "only " + fixed(ad, 0) + " AD and " + fixed(cn, 0) + " CN test subjects (fewer than " +
           std::to_string(kMinSubjectsPerClass) + " of a class: too few to read an interval)";
  }
  const double all = value_at(r, base + "ad_vs_cn.test_subjects");
  if (std::isnan(all) || all >= 2 * kMinSubjectsPerClass) return "";
  return "only " + fixed(all, 0) + " AD and CN test subjects (fewer than " + std::to_string(2 * kMinSubjectsPerClass) +
         ": too few to read an interval)";
}

std::vector<std::vector<std::string>> claims_table(const json& r) {
  const json& paper = paper_numbers();
  const std::vector<Row> rows = {encoded_matches_autoencoder(r, paper),
                                 semantic_keeps_most(r, paper),
                                 semantic_beats_unconditional(r),
                                 semantic_is_this_scan(r),
                                 ad_from_y_sem(r, paper),
                                 ad_above_image_dae(r, paper),
                                 age_from_y_sem(r, paper),
                                 manipulation_moves_regions(r),
                                 interpolation_near_autoencoder(r, paper),
                                 latent_is_faster(r, paper)};
  std::vector<std::vector<std::string>> table = {{"relation in the paper", "paper", "this run", "rule", "reading"}};
  for (const Row& row : rows) table.push_back({row.relation, row.paper, row.ours, row.rule, row.reading});
  return table;
}

std::string claims_readings(const json& r) {
  const std::vector<std::vector<std::string>> table = claims_table(r);
  std::string text;
  for (size_t i = 1; i < table.size(); ++i) text += "  - " + table[i][0] + ": " + table[i][4] + "\n";
  return text;
}

}  // namespace ldae::report
