// Manifest CSV reader (validation with line numbers), subject-level splits, the batch
// loader (shapes, seeded shuffling, prefetching, errors) and the 2.5D axial layout.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <string>

#include "data/loader.h"
#include "data/manifest.h"
#include "data/nifti.h"

namespace fs = std::filesystem;
using namespace ldae;
using namespace ldae::data;

namespace {

const char* kHeader = "subject,path,diagnosis,session,age\n";

ManifestOptions no_files() {
  ManifestOptions o;
  o.check_files = false;
  return o;
}

// Expects parse_manifest(text) to fail with a message containing `needle`.
void expect_bad(const std::string& text, const std::string& needle) {
  try {
    parse_manifest(text, "m.csv", "", no_files());
    ADD_FAILURE() << "accepted:\n" << text;
  } catch (const Error& e) {
    const std::string m = e.what();
    EXPECT_EQ(m.rfind("read_manifest: m.csv", 0), 0u) << m;
    EXPECT_NE(m.find(needle), std::string::npos) << "message: " << m << "\nexpected: " << needle;
    EXPECT_EQ(m.find('\n'), std::string::npos) << m;
  }
}

class ManifestFiles : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("ldae_manifest_" + std::string(info->name()) + "_" + std::to_string(::getpid()));
    fs::remove_all(dir_);
    fs::create_directories(dir_ / "img");
  }
  void TearDown() override { fs::remove_all(dir_); }
  // Writes n volumes of shape (2, 3, 4) whose voxels all equal their index, and a manifest.
  std::string make_cohort(int n, const Shape& odd_shape = {}) {
    std::ofstream m(dir_ / "manifest.csv");
    m << kHeader;
    for (int i = 0; i < n; ++i) {
      const Shape s = (!odd_shape.empty() && i == n - 1) ? odd_shape : Shape{2, 3, 4};
      const std::string rel = "img/v" + std::to_string(i) + ".nii";
      write_nifti((dir_ / rel).string(), make_volume(Tensor::full(s, i), Affine::identity()));
      m << "s" << i / 2 << "," << rel << "," << (i % 3 == 0 ? "AD" : i % 3 == 1 ? "CN" : "MCI") << "," << (i % 2) * 12
        << "," << 70 + i << "\n";
    }
    return (dir_ / "manifest.csv").string();
  }
  fs::path dir_;
};

}  // namespace

TEST(Manifest, ParsesRowsQuotesAndExtraColumns) {
  const std::string text = std::string("\xEF\xBB\xBF") +  // a UTF-8 byte-order mark is ignored
                           "subject,path,diagnosis,session,age,note\r\n"
                           "A1,a/x.nii.gz,CN,0,71.5,\"hello, world\"\r\n"
                           "\n"
                           "A1,a/y.nii.gz,CN,12,,\"say \"\"hi\"\"\"\n"
                           "B2,/abs/z.nii,AD,6,NaN,x\n";
  const Manifest m = parse_manifest(text, "m.csv", "/data", no_files());
  ASSERT_EQ(m.rows.size(), 3u);
  EXPECT_EQ(m.rows[0].full_path, "/data/a/x.nii.gz");
  EXPECT_EQ(m.rows[2].full_path, "/abs/z.nii");
  EXPECT_DOUBLE_EQ(m.rows[0].age, 71.5);
  EXPECT_TRUE(std::isnan(m.rows[1].age));
  EXPECT_EQ(m.rows[1].session, 12);
  EXPECT_EQ(m.rows[1].line, 4);
  EXPECT_EQ(m.field(0, "note"), "hello, world");
  EXPECT_EQ(m.field(1, "note"), "say \"hi\"");
  EXPECT_EQ(diagnosis_index("AD"), 0);
  EXPECT_EQ(diagnosis_index("CN"), 1);
  EXPECT_EQ(diagnosis_index("MCI"), 2);
}

TEST(Manifest, RefusesBadInputWithLineNumbers) {
  expect_bad("", "empty file");
  expect_bad("subject,path,diagnosis,age\n", "missing required column(s) session");
  expect_bad("subject,path,diagnosis,session,age,age\n", "duplicate column 'age'");
  expect_bad(std::string(kHeader) + "a,p.nii,CN,0,70\na,q.nii,XX,6,70\n", "m.csv:3: unknown diagnosis 'XX'");
  expect_bad(std::string(kHeader) + "a,p.nii,CN,0\n", "m.csv:2: 4 fields, but the header has 5");
  expect_bad(std::string(kHeader) + "a,p.nii,CN,six,70\n", "m.csv:2: session 'six'");
  expect_bad(std::string(kHeader) + "a,p.nii,CN,-6,70\n", "m.csv:2: session '-6'");
  expect_bad(std::string(kHeader) + "a,p.nii,CN,0,old\n", "m.csv:2: age 'old'");
  expect_bad(std::string(kHeader) + "a,p.nii,CN,0,900\n", "m.csv:2: age '900'");
  expect_bad(std::string(kHeader) + ",p.nii,CN,0,70\n", "m.csv:2: empty subject");
  expect_bad(std::string(kHeader) + "a,,CN,0,70\n", "m.csv:2: empty path");
  expect_bad(std::string(kHeader) + "a,\"p.nii,CN,0,70\n", "m.csv:2: unterminated");
  expect_bad(std::string(kHeader) + "a,p.nii,CN,0,70\n\na,q.nii,CN,0,71\n", "m.csv:4: subject 'a' has month 0 twice: line 2 ('p.nii') and line 4 ('q.nii')");
  // Two spellings of one visit are the same session.
  expect_bad(std::string(kHeader) + "a,p.nii,CN,6,70\na,q.nii,CN,ses-M06,71\n",
             "m.csv:3: subject 'a' has month 6 twice: line 2 ('p.nii') and line 3 ('q.nii')");
  expect_bad(std::string(kHeader) + "a,p.nii,CN,bl,70\na,q.nii,CN,M00,71\n", "has month 0 twice");
  expect_bad(std::string(kHeader) + "a,p.nii,CN,M6x,70\n", "m.csv:2: session 'M6x' is not a visit label");
  expect_bad(std::string(kHeader) + "a,p.nii,CN,,70\n", "m.csv:2: session '' is not a visit label");
  try {
    parse_manifest(std::string(kHeader) + "a,missing.nii,CN,0,70\n", "m.csv", "/nonexistent");
    ADD_FAILURE() << "a missing image was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("m.csv:2: image file not found: /nonexistent/missing.nii"), std::string::npos)
        << e.what();
  }
  EXPECT_THROW(read_manifest("/nonexistent/manifest.csv"), Error);
}

TEST(Manifest, ParsesSessionLabels) {
  const std::pair<const char*, int64_t> good[] = {{"0", 0},       {"6", 6},      {"06", 6},   {"M06", 6},
                                                   {"m06", 6},     {"m6", 6},     {"M120", 120}, {"ses-M06", 6},
                                                   {"SES-m12", 12}, {"bl", 0},     {"BL", 0},   {"sc", 0},
                                                   {"ses-bl", 0},  {"0024", 24}};
  for (const auto& [label, want] : good) {
    int64_t months = -1;
    EXPECT_TRUE(parse_session(label, &months)) << label;
    EXPECT_EQ(months, want) << label;
  }
  for (const char* label : {"", "-3", "M6x", "6.5", "M", "ses-", "ses-01", "mm6", "M-6", "bls", "12345", " 6", "6 ",
                            "month6", "ses-M06x", "+6"}) {
    int64_t months = 77;
    EXPECT_FALSE(parse_session(label, &months)) << "'" << label << "'";
    EXPECT_EQ(months, 77) << label;  // untouched on failure
  }
  // The reader uses it: every spelling lands in ManifestRow::session.
  const Manifest m = parse_manifest(std::string(kHeader) + "a,p.nii,CN,bl,70\na,q.nii,CN,ses-M06,70\nb,r.nii,AD,m12,70\n"
                                                           "b,s.nii,AD,sc,70\n",
                                    "m.csv", "", no_files());
  ASSERT_EQ(m.rows.size(), 4u);
  EXPECT_EQ(m.rows[0].session, 0);
  EXPECT_EQ(m.rows[1].session, 6);
  EXPECT_EQ(m.rows[2].session, 12);
  EXPECT_EQ(m.rows[3].session, 0);
}

// Expects preprocess_output_names(text) to fail with a message containing every needle.
void expect_names_refused(const std::string& text, const std::vector<std::string>& needles) {
  const Manifest m = parse_manifest(text, "m.csv", "/in", no_files());
  try {
    preprocess_output_names(m, "/out");
    ADD_FAILURE() << "accepted:\n" << text;
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_EQ(msg.rfind("preprocess: m.csv: ", 0), 0u) << msg;
    for (const auto& n : needles) EXPECT_NE(msg.find(n), std::string::npos) << "message: " << msg << "\nexpected: " << n;
  }
}

TEST(Manifest, PreprocessOutputNamesAreDistinctPerSubjectAndSession) {
  // The usual layout: one folder per session, the same file name in each.
  const Manifest m = parse_manifest(std::string(kHeader) +
                                        "sub-01,sub-01/ses-M00/anat/T1w.nii.gz,CN,M00,70\n"
                                        "sub-01,sub-01/ses-M12/anat/T1w.nii.gz,CN,ses-M12,71\n"
                                        "sub-02,/abs/sub-02/T1w.nii,AD,6,72\n"
                                        "sub 03/../x,sub-03/T1w.nii.gz,MCI,120,73\n",
                                    "m.csv", "/in", no_files());
  const std::vector<std::string> names = preprocess_output_names(m, "/out");
  const std::vector<std::string> want = {"sub-01/sub-01_ses-M00_T1w.nii.gz", "sub-01/sub-01_ses-M12_T1w.nii.gz",
                                         "sub-02/sub-02_ses-M06_T1w.nii.gz",
                                         "sub_03____x/sub_03____x_ses-M120_T1w.nii.gz"};
  EXPECT_EQ(names, want);

  // Subjects that become the same file name are refused, naming both rows and paths.
  expect_names_refused(std::string(kHeader) + "sub.01,a/T1w.nii.gz,CN,0,70\nsub_01,b/T1w.nii.gz,CN,0,70\n",
                       {"line 2 ('a/T1w.nii.gz') and line 3 ('b/T1w.nii.gz')", "sub_01/sub_01_ses-M00_T1w.nii.gz"});
  // ... and so are names that differ only in case (one file on macOS and Windows).
  expect_names_refused(std::string(kHeader) + "Sub-01,a.nii,CN,0,70\nx,c.nii,CN,0,70\nsub-01,b.nii,CN,bl,70\n",
                       {"line 2 ('a.nii') and line 4 ('b.nii')"});
}

TEST_F(ManifestFiles, PreprocessOutputNamesNeverOverwriteInputs) {
  const std::string csv = make_cohort(2);
  const Manifest m = read_manifest(csv);
  // Writing next to the input manifest would replace it.
  EXPECT_THROW(preprocess_output_names(m, dir_.string()), Error);
  // An input file that sits where an output would go.
  fs::create_directories(dir_ / "s0");
  {
    std::ofstream f(dir_ / "m2.csv");
    f << kHeader << "s0,img/v0.nii,CN,0,70\ns0,s0/s0_ses-M00_T1w.nii.gz,CN,12,70\n";
  }
  std::ofstream(dir_ / "s0" / "s0_ses-M00_T1w.nii.gz") << "x";
  const Manifest m2 = read_manifest((dir_ / "m2.csv").string());
  try {
    preprocess_output_names(m2, dir_.string());
    ADD_FAILURE() << "an output over an input was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("is the input of line 3"), std::string::npos) << e.what();
  }
  EXPECT_NO_THROW(preprocess_output_names(m2, (dir_ / "out").string()));
}

TEST(Manifest, StratifiedSplitPutsEveryDiagnosisInEveryPart) {
  // 9 CN, 3 AD and 4 MCI subjects, two scans each. Without stratification a 10 % test
  // split of 16 subjects is 2 subjects; stratified it takes ceil(0.1 n) of each diagnosis.
  std::string text = kHeader;
  const std::pair<const char*, int> groups[] = {{"CN", 9}, {"AD", 3}, {"MCI", 4}};
  for (const auto& [dx, count] : groups)
    for (int s = 0; s < count; ++s)
      for (int v = 0; v < 2; ++v)
        text += std::string(dx) + std::to_string(s) + ",x.nii," + dx + "," + std::to_string(12 * v) + ",70\n";
  const Manifest m = parse_manifest(text, "m.csv", "", no_files());
  const Split a = split_by_subject(m, 0.1, 0.1, 3, /*stratify=*/true);
  EXPECT_EQ(a.train.size() + a.val.size() + a.test.size(), m.rows.size());
  for (const auto* part : {&a.train, &a.val, &a.test}) {
    std::map<std::string, std::set<std::string>> subjects;  // diagnosis -> subjects
    for (size_t r : *part) subjects[m.rows[r].diagnosis].insert(m.rows[r].subject);
    for (const auto& [dx, count] : groups) EXPECT_GE(subjects[dx].size(), 1u) << dx;
    if (part == &a.test) {
      EXPECT_EQ(subjects["CN"].size(), 1u);  // ceil(0.9)
      EXPECT_EQ(subjects["AD"].size(), 1u);  // ceil(0.3)
    }
  }
  std::set<std::string> train_subjects;
  for (size_t r : a.train) train_subjects.insert(m.rows[r].subject);
  for (size_t r : a.test) EXPECT_FALSE(train_subjects.count(m.rows[r].subject));
  // Deterministic, and the unstratified split is another one.
  EXPECT_EQ(split_by_subject(m, 0.1, 0.1, 3, true).test, a.test);
  // A diagnosis with a single subject keeps it for training.
  const Manifest one = parse_manifest(std::string(kHeader) + "A,x.nii,AD,0,70\nB,x.nii,CN,0,70\nC,x.nii,CN,0,70\n",
                                      "m.csv", "", no_files());
  const Split b = split_by_subject(one, 0.5, 0.5, 1, true);
  ASSERT_EQ(b.train.size(), 2u);  // A and one CN subject
  EXPECT_EQ(one.rows[b.train[0]].subject, "A");
}

TEST(Manifest, SplitsBySubjectWithoutOverlap) {
  std::string text = kHeader;
  for (int s = 0; s < 40; ++s)
    for (int v = 0; v < 3; ++v) text += "S" + std::to_string(s) + ",x.nii,CN," + std::to_string(6 * v) + ",70\n";
  const Manifest m = parse_manifest(text, "m.csv", "", no_files());
  const Split a = split_by_subject(m, 0.2, 0.1, 42);
  EXPECT_EQ(a.train.size() + a.val.size() + a.test.size(), m.rows.size());
  std::set<std::string> tr, va, te;
  for (size_t r : a.train) tr.insert(m.rows[r].subject);
  for (size_t r : a.val) va.insert(m.rows[r].subject);
  for (size_t r : a.test) te.insert(m.rows[r].subject);
  EXPECT_EQ(te.size(), 4u);  // ceil(0.1 * 40)
  EXPECT_EQ(va.size(), 8u);  // ceil(0.2 * 36)
  EXPECT_EQ(tr.size(), 28u);
  for (const auto& s : te) EXPECT_TRUE(!tr.count(s) && !va.count(s)) << s;
  for (const auto& s : va) EXPECT_FALSE(tr.count(s)) << s;
  // Same seed, same split; another seed, another split.
  const Split b = split_by_subject(m, 0.2, 0.1, 42);
  EXPECT_EQ(a.test, b.test);
  EXPECT_EQ(a.val, b.val);
  EXPECT_NE(split_by_subject(m, 0.2, 0.1, 7).test, a.test);
  EXPECT_THROW(split_by_subject(m, 0.99, 0.9, 1), Error);  // no training subject left
  EXPECT_THROW(split_by_subject(m, -0.1, 0.1, 1), Error);
}

TEST_F(ManifestFiles, WriteThenReadRoundTrip) {
  const Manifest m = read_manifest(make_cohort(3));
  Manifest copy = m;
  copy.set_column("latent_path", {"a.npz", "b,c.npz", "d.npz"});
  write_manifest((dir_ / "out.csv").string(), copy);
  const Manifest back = read_manifest((dir_ / "out.csv").string());
  EXPECT_EQ(back.columns.back(), "latent_path");
  EXPECT_EQ(back.field(1, "latent_path"), "b,c.npz");
  EXPECT_EQ(back.rows[2].path, m.rows[2].path);
}

TEST_F(ManifestFiles, LoaderMakesSeededShuffledBatches) {
  const Manifest m = read_manifest(make_cohort(7));
  std::vector<size_t> rows = {0, 1, 2, 3, 4, 5, 6};
  LoaderOptions o;
  o.batch_size = 3;
  o.seed = 5;
  o.prefetch = 2;
  BatchLoader loader(m, rows, o);
  EXPECT_EQ(loader.batches_per_epoch(), 3);
  loader.start_epoch(0);
  const std::vector<size_t> order0 = loader.order();
  std::vector<size_t> seen;
  Batch b;
  int count = 0;
  while (loader.next(&b)) {
    ++count;
    const int64_t n = b.images.size(0);
    EXPECT_EQ(b.images.shape(), (Shape{n, 1, 2, 3, 4}));
    for (int64_t i = 0; i < n; ++i) {
      // Each volume is filled with its row index: the batch holds the right files.
      EXPECT_FLOAT_EQ(b.images.at({i, 0, 1, 2, 3}), static_cast<float>(b.rows[static_cast<size_t>(i)]));
      seen.push_back(b.rows[static_cast<size_t>(i)]);
    }
    EXPECT_EQ(b.labels[0], diagnosis_index(m.rows[b.rows[0]].diagnosis));
  }
  EXPECT_EQ(count, 3);
  EXPECT_EQ(seen, order0);
  std::vector<size_t> sorted = seen;
  std::sort(sorted.begin(), sorted.end());
  EXPECT_EQ(sorted, rows);
  EXPECT_NE(order0, rows);  // shuffled (7! orders; this seed does not give the identity)
  // The same epoch gives the same order; the next epoch another one.
  loader.start_epoch(0);
  EXPECT_EQ(loader.order(), order0);
  loader.start_epoch(1);
  EXPECT_NE(loader.order(), order0);
  // Restarting mid-epoch (the worker is stopped cleanly) and drop_last.
  ASSERT_TRUE(loader.next(&b));
  LoaderOptions d = o;
  d.drop_last = true;
  d.shuffle = false;
  d.prefetch = 0;
  BatchLoader plain(m, rows, d);
  plain.start_epoch(0);
  int n = 0;
  while (plain.next(&b)) ++n;
  EXPECT_EQ(n, 2);
}

// A run resumed mid-epoch starts the epoch at a later batch: the same batches as the
// uninterrupted epoch from there on (with and without prefetching), none before.
TEST_F(ManifestFiles, LoaderStartsAnEpochAtALaterBatch) {
  const Manifest m = read_manifest(make_cohort(7));
  for (int64_t prefetch : {0, 2}) {
    LoaderOptions o;
    o.batch_size = 2;
    o.seed = 9;
    o.prefetch = prefetch;
    BatchLoader loader(m, {0, 1, 2, 3, 4, 5, 6}, o);
    loader.start_epoch(3);
    std::vector<std::vector<size_t>> full;
    Batch b;
    while (loader.next(&b)) full.push_back(b.rows);
    ASSERT_EQ(full.size(), 4u);
    loader.start_epoch(3, 2);
    std::vector<std::vector<size_t>> rest;
    while (loader.next(&b)) rest.push_back(b.rows);
    EXPECT_EQ(rest, std::vector<std::vector<size_t>>(full.begin() + 2, full.end())) << "prefetch " << prefetch;
    loader.start_epoch(3, 4);  // at the end: nothing left
    EXPECT_FALSE(loader.next(&b));
    EXPECT_THROW(loader.start_epoch(3, 5), Error);
  }
}

TEST_F(ManifestFiles, LoaderReportsBadFilesAndShapes) {
  const Manifest m = read_manifest(make_cohort(3, {2, 3, 5}));
  LoaderOptions o;
  o.batch_size = 3;
  o.shuffle = false;
  BatchLoader loader(m, {0, 1, 2}, o);
  loader.start_epoch(0);
  Batch b;
  try {
    loader.next(&b);
    ADD_FAILURE() << "mixed shapes were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.csv:4: "), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("has shape (2, 3, 5)"), std::string::npos) << e.what();
  }
  // A transform that fixes shapes makes the same rows load.
  o.transform = [](const Volume& v) { return make_volume(v.voxels.slice(2, 0, 4), v.affine); };
  BatchLoader fixed(m, {0, 1, 2}, o);
  fixed.start_epoch(0);
  ASSERT_TRUE(fixed.next(&b));
  EXPECT_EQ(b.images.shape(), (Shape{3, 1, 2, 3, 4}));
  // A file broken after the manifest was read: the error names the line and the file.
  { std::ofstream(dir_ / "img" / "v1.nii") << "broken"; }
  BatchLoader broken(m, {0, 1, 2}, o);
  broken.start_epoch(0);
  try {
    broken.next(&b);
    ADD_FAILURE() << "a broken file was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.csv:3: read_nifti:"), std::string::npos) << e.what();
  }
}

TEST(Loader, AxialLayoutPermutesAndInverts) {
  Tensor x = Tensor::empty({1, 1, 2, 3, 4});
  for (int64_t i = 0; i < 24; ++i) x.mutable_data<float>()[i] = static_cast<float>(i);
  const Tensor s = to_axial_slices(x);
  EXPECT_EQ(s.shape(), (Shape{1, 1, 4, 2, 3}));
  // Slice z of the axial layout is the X x Y image at that z.
  EXPECT_DOUBLE_EQ(s.at({0, 0, 3, 1, 2}), x.at({0, 0, 1, 2, 3}));
  EXPECT_EQ(from_axial_slices(s).to_vector(), x.to_vector());
  EXPECT_THROW(to_axial_slices(Tensor::zeros({2, 3, 4})), Error);
}
