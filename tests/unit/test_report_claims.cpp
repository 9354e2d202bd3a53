// The report's table of the paper's relations (ldae/report_claims.h): each rule read on a
// results.json where it holds, where it does not, where the intervals leave it open, where
// the test split has too few AD or CN subjects to read an interval, and where the part is
// missing; the course demo's own numbers read as the note says; the wall
// times in pipeline order with their total; and a report from any value at any place of
// results.json (what `ldae report` may be handed).
#include <gtest/gtest.h>

#include <string>

#include "ldae/report.h"
#include "ldae/report_claims.h"

namespace {

using json = nlohmann::ordered_json;
using ldae::report::claims_table;

// The reading of the row whose relation starts with `relation` ("" when there is none).
std::string reading(const json& results, const std::string& relation) {
  for (const auto& row : claims_table(results))
    if (row[0].rfind(relation, 0) == 0) return row[4];
  return "";
}

// The "this run" cell of that row.
std::string ours(const json& results, const std::string& relation) {
  for (const auto& row : claims_table(results))
    if (row[0].rfind(relation, 0) == 0) return row[2];
  return "";
}

json reconstructions(double encoded10, double encoded100, double semantic100, double unconditional100) {
  return {{"encoded", {{"10", {{"ssim", encoded10}, {"scans", 8}}}, {"100", {{"ssim", encoded100}, {"scans", 1}}}}},
          {"semantic_only", {{"10", {{"ssim", semantic100 - 0.05}}}, {"100", {{"ssim", semantic100}}}}},
          {"other_subject_code", {{"10", {{"ssim", semantic100 - 0.15}}}}},
          {"unconditional", {{"10", {{"ssim", unconditional100}}}, {"100", {{"ssim", unconditional100}}}}}};
}

json manipulation(bool ventricle_ok, bool hippocampus_ok) {
  return {{"per_alpha",
           {{{"alpha", -2.0}, {"ventricle_change", 0.001}, {"hippocampus_change", 0.001}},
            {{"alpha", 2.0}, {"ventricle_change", -0.002}, {"hippocampus_change", -0.0005}}}},
          {"calibration", {{"ad_minus_cn_baseline", {{"ventricle", -0.01}, {"hippocampus", -0.001}}}}},
          {"checks",
           {{"ventricle_measurable", true},
            {"ventricle_disease_direction", ventricle_ok},
            {"ventricle_monotone_in_alpha", true},
            {"hippocampus_measurable", true},
            {"hippocampus_disease_direction", hippocampus_ok},
            {"hippocampus_monotone_in_alpha", true}}}};
}

// A run where every relation holds.
json all_hold() {
  return {{"vae", {{"ssim", 0.95}, {"scans", 40}}},
          {"ldae", reconstructions(0.945, 0.952, 0.9, 0.3)},
          {"probe",
           {{"ad_vs_cn", {{"auc", 0.9}, {"auc_ci", {0.8, 0.97}}, {"test_subjects", 60}}},
            {"age", {{"mae", 3.0}, {"mae_ci", {2.5, 3.5}}}}}},
          {"baselines",
           {{"image_dae", {{"ad_vs_cn", {{"auc", 0.7}, {"auc_ci", {0.6, 0.78}}}}}},
            {"oracle_hippocampus", {{"ad_vs_cn", {{"auc", 0.8}, {"auc_ci", {0.7, 0.9}}}}}},
            {"mean_age", {{"age", {{"mae", 5.0}}}}}}},
          {"manipulation", manipulation(true, true)},
          {"interpolation", {{"by_gap", {{"12", {{"ldae_vs_autoencoder", {{"ssim", 0.96}}}}}}}}},
          {"speed", {{"ratio_per_step", 30.0}, {"per_volume", {{"10", {{"ratio", 21.0}}}, {"100", {{"ratio", 28.0}}}}}}}};
}

TEST(ReportClaims, EveryRuleHoldsOnARunThatMeetsIt) {
  const auto table = claims_table(all_hold());
  ASSERT_EQ(table.size(), 11u);  // header + ten relations
  EXPECT_EQ(table[0], (std::vector<std::string>{"relation in the paper", "paper", "this run", "rule", "reading"}));
  for (size_t i = 1; i < table.size(); ++i) EXPECT_EQ(table[i][4].rfind("holds", 0), 0u) << table[i][0] << ": " << table[i][4];
  EXPECT_EQ(reading(all_hold(), "reconstruction from the encoded"), "holds at every step count");
  EXPECT_EQ(reading(all_hold(), "moving y_sem"), "holds for both regions");
  // The paper's side comes from paper_numbers().
  EXPECT_EQ(table[5][1], "AUC 0.895");
  EXPECT_NE(table[2][1].find("0.869 / 0.962 = 0.90"), std::string::npos) << table[2][1];
  EXPECT_NE(ours(all_hold(), "moving y_sem").find("at alpha +2: ventricle -0.0020 (real AD - CN -0.0100: 20 % of it)"),
            std::string::npos)
      << ours(all_hold(), "moving y_sem");
}

TEST(ReportClaims, TheCourseDemosNumbersReadAsMeasured) {
  // Seed 0 course demo of 174a7f6 (docs/results.md), rounded.
  json r = all_hold();
  r["vae"] = {{"ssim", 0.702}, {"scans", 40}};
  r["ldae"] = {{"encoded", {{"10", {{"ssim", 0.504}}}, {"50", {{"ssim", 0.704}}}, {"100", {{"ssim", 0.714}}}}},
               {"semantic_only", {{"10", {{"ssim", 0.209}}}, {"100", {{"ssim", 0.265}}}}},
               {"unconditional", {{"10", {{"ssim", 0.049}}}, {"100", {{"ssim", 0.069}}}}}};
  r["probe"] = {{"ad_vs_cn", {{"auc", 0.366}, {"auc_ci", {0.147, 0.594}}, {"test_subjects", 27}, {"test_subjects_AD", 10},
                              {"test_subjects_CN", 17}}},
                {"age", {{"mae", 5.21}, {"mae_ci", {4.25, 6.32}}}}};
  r["baselines"] = {{"image_dae", {{"skipped", "not trained by this demo"}}},
                    {"oracle_hippocampus", {{"ad_vs_cn", {{"auc", 0.735}, {"auc_ci", {0.48, 0.958}}}}}},
                    {"mean_age", {{"age", {{"mae", 5.207}}}}}};
  r["manipulation"] = manipulation(true, false);
  r["interpolation"] = {{"by_gap", {{"12", {{"ldae_vs_autoencoder", {{"ssim", 0.898}}}}},
                                    {"24", {{"ldae_vs_autoencoder", {{"ssim", 0.898}}}}}}}};
  EXPECT_EQ(reading(r, "reconstruction from the encoded"), "holds at 50, 100 steps; does not hold at 10");
  EXPECT_EQ(reading(r, "y_sem alone keeps"), "does not hold");
  EXPECT_EQ(reading(r, "y_sem carries"), "holds at every step count");
  EXPECT_EQ(reading(r, "y_sem describes"),
            "not measured: no reconstruction with another subject's y_sem (fewer than two test subjects)");
  EXPECT_EQ(reading(r, "AD vs CN from y_sem"),
            "not resolved: the interval holds 0.5; so does the oracle's (true hippocampal volume, 0.735 [0.480, "
            "0.958]): this test split is too small to tell");
  EXPECT_EQ(reading(r, "y_sem above the image-space DAE"), "not measured: image-space DAE not trained by this demo");
  EXPECT_EQ(ours(r, "AD vs CN from y_sem"), "AUC 0.366 [0.147, 0.594] (10 AD and 17 CN test subjects)");
  EXPECT_EQ(reading(r, "age from y_sem"), "does not hold: no better than the mean training age");
  EXPECT_EQ(reading(r, "moving y_sem"),
            "not resolved: the AD probe it follows is not above chance (AUC 0.366 [0.147, 0.594]), so which way "
            "each region moves is chance; measured: holds for the ventricle region only");
  EXPECT_EQ(reading(r, "interpolated visits"), "does not hold at 12 (paper 0.956), 24 (paper 0.930) months");
}

TEST(ReportClaims, IntervalsDecideBelowChanceOverlapAndUnresolvedAge) {
  json r = all_hold();
  r["probe"]["ad_vs_cn"]["auc"] = 0.3;
  r["probe"]["ad_vs_cn"]["auc_ci"] = {0.2, 0.45};
  EXPECT_EQ(reading(r, "AD vs CN from y_sem"), "does not hold: below chance");
  EXPECT_EQ(reading(r, "y_sem above the image-space DAE"), "does not hold: the image-space DAE is higher");
  r["probe"]["ad_vs_cn"]["auc_ci"] = {0.45, 0.75};
  EXPECT_EQ(reading(r, "y_sem above the image-space DAE"), "not resolved: the intervals overlap");
  // Holding 0.5 while the oracle's interval (0.7, 0.9) clears it: the split can tell, so it fails.
  EXPECT_EQ(reading(r, "AD vs CN from y_sem"),
            "does not hold: the interval holds 0.5, while the oracle's (true hippocampal volume, 0.800 [0.700, "
            "0.900]) is above 0.5 on the same test subjects");
  {
    json no_oracle = r;
    no_oracle["baselines"].erase("oracle_hippocampus");
    EXPECT_EQ(reading(no_oracle, "AD vs CN from y_sem"),
              "not resolved: the interval holds 0.5 (no oracle to tell whether the split could)");
  }
  r["probe"]["age"]["mae_ci"] = {2.5, 5.5};  // MAE 3.0 below the constant's 5.0, the interval not
  EXPECT_EQ(reading(r, "age from y_sem"), "not resolved: the interval reaches the constant's MAE");
  r["speed"]["per_volume"]["10"]["ratio"] = 12.0;
  EXPECT_EQ(reading(r, "LDAE inference"), "does not hold at 10 steps");
  r["ldae"] = reconstructions(0.90, 0.93, 0.2, 0.3);  // y_sem only below the unconditional model
  EXPECT_EQ(reading(r, "reconstruction from the encoded"), "does not hold at any step count");
  EXPECT_EQ(reading(r, "y_sem carries"), "does not hold at 10, 100 steps");
  r["manipulation"] = manipulation(false, false);
  r["probe"]["ad_vs_cn"]["auc_ci"] = {0.6, 0.8};  // the direction's probe above chance: the checks decide
  EXPECT_EQ(reading(r, "moving y_sem"), "does not hold for either region");
  // The paper's interpolation target falls with the gap: 0.92 passes at 24 months (0.930 - 0.02), not at 12.
  r["interpolation"] = {{"by_gap", {{"12", {{"ldae_vs_autoencoder", {{"ssim", 0.92}}}}},
                                    {"24", {{"ldae_vs_autoencoder", {{"ssim", 0.92}}}}}}}};
  EXPECT_EQ(reading(r, "interpolated visits"), "does not hold at 12 (paper 0.956) months");
}

TEST(ReportClaims, OwnCodeMustBeatAnotherSubjectsCodeAtEveryStepCount) {
  json r = all_hold();
  EXPECT_EQ(reading(r, "y_sem describes"), "holds at every step count");
  EXPECT_EQ(ours(r, "y_sem describes"), "own y_sem 0.850 at 10 steps; another subject's 0.750 (lead +0.1000)");
  // A lead in the fifth decimal (the preprocessed course cohort's, 0.222647 against 0.222642) is
  // no lead: the decoder samples the same brain whichever subject's code it is given.
  r["ldae"]["other_subject_code"]["10"]["ssim"] = 0.849995;
  EXPECT_EQ(reading(r, "y_sem describes"), "does not hold at 10 steps");
  r["ldae"]["other_subject_code"]["10"]["ssim"] = 0.86;
  EXPECT_EQ(reading(r, "y_sem describes"), "does not hold at 10 steps");
  EXPECT_NE(ours(r, "y_sem describes").find("(lead -0.0100)"), std::string::npos) << ours(r, "y_sem describes");
  // Step counts without the control (one test scan) are left out, not failed.
  r["ldae"]["other_subject_code"] = {{"100", {{"ssim", 0.5}}}};
  EXPECT_EQ(reading(r, "y_sem describes"), "holds at every step count");
}

TEST(ReportClaims, TooFewTestSubjectsLeaveTheAucIntervalsUnread) {
  // The tiny demo's split: one AD and one CN test subject give the point interval [1, 1].
  json r = all_hold();
  r["probe"]["ad_vs_cn"] = {{"auc", 1.0}, {"auc_ci", {1.0, 1.0}}, {"test_subjects", 2}, {"test_subjects_AD", 1},
                            {"test_subjects_CN", 1}};
  const std::string few = "not resolved: only 1 AD and 1 CN test subjects (fewer than 5 of a class: too few to read "
                          "an interval)";
  EXPECT_EQ(reading(r, "AD vs CN from y_sem"), few);
  EXPECT_EQ(reading(r, "y_sem above the image-space DAE"), few);
  EXPECT_EQ(ours(r, "AD vs CN from y_sem"), "AUC 1.000 [1.000, 1.000] (1 AD and 1 CN test subjects)");
  const std::string md = ldae::report::build_report(r).markdown();
  EXPECT_NE(md.find("AD vs CN against chance (AUC 0.5): the intervals are not read: only 1 AD"), std::string::npos)
      << md;
  EXPECT_EQ(md.find("Above chance"), std::string::npos) << md;
  // Five of each are enough; without the per-class counts (older results.json) ten in all.
  r["probe"]["ad_vs_cn"]["test_subjects_AD"] = 5;
  r["probe"]["ad_vs_cn"]["test_subjects_CN"] = 5;
  EXPECT_EQ(reading(r, "AD vs CN from y_sem"), "holds");
  r["probe"]["ad_vs_cn"].erase("test_subjects_AD");
  r["probe"]["ad_vs_cn"].erase("test_subjects_CN");
  EXPECT_EQ(reading(r, "AD vs CN from y_sem").rfind("not resolved: only 2 AD and CN test subjects (fewer than 10", 0),
            0u);
  r["probe"]["ad_vs_cn"]["test_subjects"] = 10;
  EXPECT_EQ(reading(r, "AD vs CN from y_sem"), "holds");
}

TEST(ReportClaims, MissingOrSkippedPartsAreNotMeasured) {
  const auto table = claims_table(json::object());
  ASSERT_EQ(table.size(), 11u);
  for (size_t i = 1; i < table.size(); ++i) {
    EXPECT_EQ(table[i][4].rfind("not measured: ", 0), 0u) << table[i][0] << ": " << table[i][4];
    EXPECT_EQ(table[i][2], "–") << table[i][0];
  }
  json r = all_hold();
  r["manipulation"] = {{"skipped", "no cohort.json"}};
  EXPECT_EQ(reading(r, "moving y_sem"), "not measured: no cohort.json");
}

TEST(ReportClaims, TheReportLeadsWithTheTableAndTimesTheStagesInOrder) {
  json r = all_hold();
  r["timing"] = {{"evaluate_probes_s", 3.0}, {"train_ae_s", 10.0}, {"evaluate_s", 5.0}, {"synth_s", 1.0}};
  const std::string md = ldae::report::build_report(r).markdown();
  const size_t claims = md.find("## The paper's relations on this run");
  ASSERT_NE(claims, std::string::npos) << md;
  EXPECT_LT(claims, md.find("## Reconstruction"));
  EXPECT_NE(md.find("| relation in the paper | paper | this run | rule | reading |\n|---|---|---|---|---|"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| synth_s | 1.0 |\n| train_ae_s | 10.0 |\n| evaluate_s | 5.0 |\n|   of which evaluate_probes_s | "
                    "3.0 |\n| total (stages and evaluation) | 16.0 |"),
            std::string::npos)
      << md;
}

}  // namespace

namespace {

// Every JSON pointer below `node` ("" for the root itself).
void pointers(const json& node, const std::string& at, std::vector<std::string>* out) {
  out->push_back(at);
  if (node.is_object())
    for (const auto& [k, v] : node.items()) pointers(v, at + "/" + k, out);
  else if (node.is_array())
    for (size_t i = 0; i < node.size(); ++i) pointers(node[i], at + "/" + std::to_string(i), out);
}

// A results.json with every part the report reads (the tiny demo's layout, shortened).
json full_results() {
  json r = all_hold();
  r["preset"] = "tiny";
  r["seed"] = 5;
  r["threads"] = 1;
  r["machine"] = {{"cpu", "x"}, {"threads", 1}};
  r["program"] = "ldae test";
  r["cohort"] = {{"subjects", 16}, {"scans", 64}, {"split", {{"train", 36}, {"val", 12}, {"test", 16}}}};
  r["metrics"] = {{"ssim_kernel", 3}};
  r["baselines"]["image_dae"]["reconstruction"] = {{"encoded", {{"20", {{"ssim", 0.5}, {"mse", 0.01}, {"scans", 1}}}}}};
  r["baselines"]["image_dae"]["description"] = "the image-space DAE";
  r["baselines"]["supervised"] = {{"skipped", "not trained"}};
  r["y_sem_spread"] = {{"summary", "spread"}};
  r["manipulation"]["summary"] = "moved";
  r["manipulation"]["table"] = {{"alpha", "change"}, {"-2", "+0.1"}};
  r["interpolation"]["summary"] = "interpolated";
  r["interpolation"]["table"] = {{"gap", "ssim"}, {"12", "0.9"}};
  r["speed"]["summary"] = "fast";
  r["speed"]["method"] = "timed";
  r["speed"]["table"] = {{"steps", "ratio"}, {"10", "21"}};
  r["speed"]["components_s"] = {{"semantic_encoder", 0.1}, {"ae_encode", 0.1}, {"ae_decode", 0.1}};
  r["speed"]["end_to_end"] = {{"steps", 10}, {"ldae_s", 1.0}, {"ldae_composed_s", 1.1}};
  r["timing"] = {{"train_ae_s", 1.0}, {"evaluate_s", 2.0}};
  r["figures"] = {{{"path", "a.png"}, {"caption", "first"}}, {{"path", "b.png"}, {"caption", "second"}}};
  r["commands"] = {"ldae demo --preset tiny"};
  return r;
}

}  // namespace

// `ldae report` reads any results.json a user hands it: whatever value stands at any place
// (a string, a number, null, an array, an object), the report is built, never an exception.
TEST(ReportClaims, AnyValueAnywhereStillGivesAReport) {
  const json base = full_results();
  std::vector<std::string> where;
  pointers(base, "", &where);
  const std::vector<json> replacements = {"text", 7, -1.5, nullptr, json::array({1, "a"}), json::object({{"x", 1}})};
  int built = 0;
  for (const std::string& at : where) {
    if (at.empty()) continue;
    for (const json& value : replacements) {
      json r = base;
      r[json::json_pointer(at)] = value;
      std::string md;
      EXPECT_NO_THROW(md = ldae::report::build_report(r).markdown()) << at << " = " << value.dump();
      built += !md.empty();
    }
  }
  EXPECT_EQ(built, static_cast<int>(6 * (where.size() - 1)));
}

TEST(ReportClaims, TheManipulationIsReadOnlyWhenItsProbeIsAboveChance) {
  // The same measured changes (both regions the disease's way) under probes of three kinds.
  json r = all_hold();
  EXPECT_EQ(reading(r, "moving y_sem"), "holds for both regions");  // AUC 0.9 [0.8, 0.97]
  r["probe"]["ad_vs_cn"]["auc"] = 0.45;
  r["probe"]["ad_vs_cn"]["auc_ci"] = {0.3, 0.6};
  EXPECT_EQ(reading(r, "moving y_sem"),
            "not resolved: the AD probe it follows is not above chance (AUC 0.450 [0.300, 0.600]), so which way "
            "each region moves is chance; measured: holds for both regions");
  r["probe"]["ad_vs_cn"]["auc_ci"] = {0.5, 0.6};  // touching 0.5 is not above it
  EXPECT_EQ(reading(r, "moving y_sem").rfind("not resolved: the AD probe it follows is not above chance", 0), 0u);
  r["probe"]["ad_vs_cn"]["auc_ci"] = {0.8, 0.97};
  r["probe"]["ad_vs_cn"]["test_subjects_AD"] = 1;  // the tiny demo's split
  r["probe"]["ad_vs_cn"]["test_subjects_CN"] = 1;
  EXPECT_EQ(reading(r, "moving y_sem").rfind("not resolved: the AD probe it follows cannot be judged (only 1 AD", 0), 0u)
      << reading(r, "moving y_sem");
  r["probe"]["ad_vs_cn"].erase("auc_ci");
  r["probe"]["ad_vs_cn"]["test_subjects_AD"] = 20;
  r["probe"]["ad_vs_cn"]["test_subjects_CN"] = 20;
  EXPECT_EQ(reading(r, "moving y_sem"),
            "not resolved: the AD probe it follows has no AUC interval; measured: holds for both regions");
}
