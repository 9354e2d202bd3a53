// The evaluation report (ldae/report.h, ldae/report_document.h): base64 against the RFC
// 4648 test vectors, Markdown and HTML rendering of the same blocks, and the report built
// from a results.json showing its numbers, the paper's, and why a part is missing.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "ldae/report.h"
#include "ldae/report_document.h"
#include "tensor/error.h"

namespace {

using json = nlohmann::ordered_json;
using namespace ldae::report;

TEST(ReportDocument, Base64MatchesRfc4648Vectors) {
  EXPECT_EQ(base64(""), "");
  EXPECT_EQ(base64("f"), "Zg==");
  EXPECT_EQ(base64("fo"), "Zm8=");
  EXPECT_EQ(base64("foo"), "Zm9v");
  EXPECT_EQ(base64("foob"), "Zm9vYg==");
  EXPECT_EQ(base64("fooba"), "Zm9vYmE=");
  EXPECT_EQ(base64("foobar"), "Zm9vYmFy");
  EXPECT_EQ(base64(std::string("\xff\x00\x10", 3)), "/wAQ");
}

TEST(ReportDocument, MarkdownAndHtmlRenderTheSameBlocks) {
  Document doc;
  doc.heading("Title", 1);
  doc.paragraph("uses `code` and **bold** & <tags>");
  doc.table({{"a", "b|c"}, {"1", "2"}});
  doc.code("ldae demo\n");
  const std::string md = doc.markdown();
  EXPECT_NE(md.find("# Title\n"), std::string::npos);
  EXPECT_NE(md.find("| a | b\\|c |\n|---|---:|\n| 1 | 2 |"), std::string::npos) << md;
  EXPECT_NE(md.find("```\nldae demo\n```"), std::string::npos);
  const std::string html = doc.html("t", ".");
  EXPECT_NE(html.find("<h1>Title</h1>"), std::string::npos);
  EXPECT_NE(html.find("<code>code</code>"), std::string::npos);
  EXPECT_NE(html.find("<b>bold</b> &amp; &lt;tags&gt;"), std::string::npos) << html;
  EXPECT_NE(html.find("<th>b|c</th>"), std::string::npos);
}

TEST(ReportDocument, HtmlEmbedsFiguresAndFlagsMissingOnes) {
  const auto dir = std::filesystem::temp_directory_path() / "ldae_test_report_fig";
  std::filesystem::create_directories(dir);
  {
    std::ofstream png(dir / "a.png", std::ios::binary);
    png << "foobar";  // not a real PNG: only the embedding is tested
  }
  Document doc;
  doc.figure("a.png", "first");
  doc.figure("missing.png", "second");
  const std::string html = doc.html("t", dir.string());
  EXPECT_NE(html.find("data:image/png;base64,Zm9vYmFy"), std::string::npos);
  EXPECT_NE(html.find("missing figure: missing.png"), std::string::npos);
  EXPECT_NE(doc.markdown().find("![first](a.png)"), std::string::npos);
  std::filesystem::remove_all(dir);
}

TEST(Report, ShowsOurNumbersThePapersAndWhatWasSkipped) {
  json r = {{"preset", "tiny"},
            {"seed", 3},
            {"vae", {{"ssim", 0.91234}, {"mse", 0.00123}, {"scans", 40}}},
            {"ldae", {{"encoded", {{"10", {{"ssim", 0.9}, {"mse", 0.002}, {"scans", 8}}}}}}},
            {"probe",
             {{"ad_vs_cn", {{"auc", 0.75}, {"auc_ci", {0.5, 0.9}}, {"acc", 0.7}}}, {"age", {{"mae", 3.5}}}}},
            {"baselines", {{"supervised", {{"skipped", "not trained at this preset"}}}}},
            {"y_sem_spread", {{"summary", "How much y_sem differs between scans: test text"}}},
            {"manipulation", {{"skipped", "needs the ground-truth masks"}}},
            {"timing", {{"train_ae_s", 12.25}}},
            {"commands", {"ldae demo --preset tiny"}}};
  const std::string md = build_report(r).markdown();
  // Each reconstruction row says how many test scans its mean is over.
  EXPECT_NE(md.find("| autoencoder (decode of the posterior mean) | – | 40 | 0.912 | 0.00123 | 0.962 |"),
            std::string::npos)
      << md;
  EXPECT_NE(md.find("| LDAE, encoded x_T | 10 | 8 | 0.900 | 0.00200 | 0.953 |"), std::string::npos) << md;
  EXPECT_NE(md.find("0.750 [0.500, 0.900]"), std::string::npos);
  EXPECT_NE(md.find("3.50"), std::string::npos);
  EXPECT_NE(md.find("supervised (ours): not trained at this preset"), std::string::npos);
  EXPECT_NE(md.find("Not available: needs the ground-truth masks."), std::string::npos);
  // The spread of y_sem follows the probes' table.
  EXPECT_GT(md.find("How much y_sem differs between scans: test text"), md.find("| LDAE y_sem (ours) |")) << md;
  EXPECT_NE(md.find("How much y_sem differs between scans: test text"), std::string::npos);
  EXPECT_NE(md.find("| train_ae_s | 12.2 |"), std::string::npos) << md;  // printf rounds 12.25 to even
  EXPECT_NE(md.find("ldae demo --preset tiny"), std::string::npos);
  // The paper's LDAE probe row is always there, for comparison.
  EXPECT_NE(md.find("| LDAE (paper, CN positive) | 0.895 | 0.837 |"), std::string::npos) << md;
}

// Each AD-vs-CN row is read against chance by its interval: above, below, or 0.5 inside;
// skipped rows and rows without an interval are left out.
TEST(Report, ReadsEachAucAgainstChanceByItsInterval) {
  json r = {{"preset", "tiny"},
            {"probe", {{"ad_vs_cn", {{"auc", 0.3}, {"auc_ci", {0.2, 0.45}}}}}},
            {"baselines",
             {{"oracle", {{"description", "the oracle"}, {"ad_vs_cn", {{"auc", 0.8}, {"auc_ci", {0.55, 0.95}}}}}},
              {"pca", {{"description", "the PCA"}, {"ad_vs_cn", {{"auc", 0.52}, {"auc_ci", {0.3, 0.7}}}}}},
              {"no_interval", {{"description", "no interval"}, {"ad_vs_cn", {{"auc", 0.9}}}}},
              {"supervised", {{"skipped", "not trained"}}}}}};
  const std::string md = build_report(r).markdown();
  const size_t at = md.find("AD vs CN against chance (AUC 0.5)");
  ASSERT_NE(at, std::string::npos) << md;
  const std::string text = md.substr(at, md.find('\n', at) - at);
  EXPECT_NE(text.find("Above chance (the whole interval above 0.5): the oracle 0.800 [0.550, 0.950]."),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Below chance (the whole interval below 0.5): LDAE y_sem 0.300 [0.200, 0.450]."),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("Not told apart from chance (0.5 inside the interval): the PCA 0.520 [0.300, 0.700]."),
            std::string::npos)
      << text;
  EXPECT_EQ(text.find("no interval"), std::string::npos) << text;
  EXPECT_EQ(text.find("not trained"), std::string::npos) << text;
  // Without any AUC interval there is no such paragraph.
  EXPECT_EQ(build_report(json{{"preset", "tiny"}}).markdown().find("against chance"), std::string::npos);
}

TEST(Report, WriteReportWritesBothFiles) {
  const auto dir = std::filesystem::temp_directory_path() / "ldae_test_report_write";
  std::filesystem::create_directories(dir);
  write_report(dir.string(), json{{"preset", "tiny"}});
  EXPECT_TRUE(std::filesystem::exists(dir / "report.md"));
  EXPECT_TRUE(std::filesystem::exists(dir / "report.html"));
  EXPECT_THROW(write_report((dir / "no" / "such" / "folder").string(), json::object()), ldae::Error);
  std::filesystem::remove_all(dir);
}

}  // namespace
