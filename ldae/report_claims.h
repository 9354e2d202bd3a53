// "The paper's relations on this run": one row per relation the published LDAE reports,
// read on this run's results.json by a stated rule, for the top of the report.
//
// Each row: the relation, the paper's numbers (ldae-reference 7.7, 8), this run's, the rule,
// and the reading. A reading is one of
//   "holds", "does not hold"   the rule decided;
//   "not resolved"            the bootstrap intervals leave it open (the test split is too
//                             small to tell);
//   "not measured"            the part was skipped or is missing (the reason follows);
// followed by the detail ("at 50, 100 steps", "ventricle region only", ...). The rules:
//   1. encoded x_T reconstruction no more than 0.01 SSIM below the autoencoder's (the paper's
//      largest gap is 0.009, at 10 steps), per step count;
//   2. y_sem alone keeps at least (the paper's 0.869 / 0.962 = 0.90) - 0.05 of the encoded SSIM,
//      at the largest step count;
//   3. y_sem alone above the unconditional model at every step count (no paper number: the
//      floor y_sem must beat);
//   3b. y_sem alone at least 0.01 SSIM above the same x_T draws sampled with another test
//      subject's y_sem, at every step count that has both (no paper number: the shift branch improves the samples with
//      any code, so only this lead is the scan's own);
//   4. AD vs CN from y_sem: the AUC's 95 % interval above 0.5 (below: does not hold; holding
//      0.5: does not hold when the oracle's interval clears 0.5 on the same test subjects, which
//      shows they can tell, else not resolved);
//   5. y_sem above the image-space DAE on AD vs CN: the intervals do not overlap;
//      (4 and 5 are not resolved with fewer than kMinSubjectsPerClass AD or CN test subjects)
//   6. age from y_sem: the interval of its MAE below the MAE of predicting the mean training age;
//   7. manipulation: each region (ventricle, hippocampus) moves the disease's way, monotone in
//      alpha and measurably (ldae/manipulation_eval.h checks); read only when the AD probe
//      whose direction it follows is above chance (its AUC interval above 0.5), else not
//      resolved (a direction from a probe at chance moves each region either way by chance);
//   8. interpolation no more than 0.02 SSIM below the paper's against the autoencoder's
//      reconstruction of the missing visit at the same gap (0.969 at 6 months, 0.93 at 24, linear
//      in between), at every gap;
//   9. the LDAE at least 20x faster than the image-space DAE per volume at every step count.
#pragma once
#include <nlohmann/json.hpp>

#include <string>
#include <vector>

namespace ldae::report {

// The fewest AD and CN test subjects (each) for which an AUC interval is read: with 5 and 5 a
// perfect separation happens by chance with probability 1/252, with 3 and 3 1/20, and a bootstrap
// over so few subjects gives an interval of one point ([1.000, 1.000]).
constexpr int kMinSubjectsPerClass = 5;

// "" when `base`ad_vs_cn ("probe." or "baselines.<name>.") has at least kMinSubjectsPerClass
// AD and CN test subjects (results.json files without the per-class counts: at least twice as
// many in all); else why its interval is not read ("only 1 AD and 1 CN test subjects ...").
std::string too_few_subjects(const nlohmann::ordered_json& results, const std::string& base);

// The table's rows, header first: relation, paper, this run, rule, reading.
std::vector<std::vector<std::string>> claims_table(const nlohmann::ordered_json& results);

// The readings alone, one line per relation: "  - <relation>: <reading>\n" (what `ldae demo` and
// `ldae report` print at the end).
std::string claims_readings(const nlohmann::ordered_json& results);

}  // namespace ldae::report
