// Run folders (ldae/run/run_folder.h): creation and the writability probe, config.json
// compared on resume (every differing key listed), done.json and the checks a later stage
// makes on its predecessor.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "common/test_helpers.h"
#include "ldae/run/run_folder.h"

using namespace ldae;
using namespace ldae::run;
using ldae::testing::expect_error;
namespace fs = std::filesystem;

namespace {

class RunFolder : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() / ("ldae_run_" + std::to_string(::getpid()) + "_" + info->name());
    fs::remove_all(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::permissions(dir_, fs::perms::owner_all, fs::perm_options::add, ec);
    fs::remove_all(dir_, ec);
  }
  fs::path dir_;
};

nlohmann::ordered_json config(double lr, int threads = 2) {
  nlohmann::ordered_json c;
  c["stage"] = "train-x";
  c["preset"] = "tiny";
  c["settings"] = {{"lr", lr}, {"epochs", 3}};
  c["environment"] = {{"threads", threads}};
  return c;
}

}  // namespace

TEST_F(RunFolder, FreshThenResumeThenFinished) {
  const RunPaths p = run_paths((dir_ / "run").string());
  prepare_run_folder(p);
  EXPECT_TRUE(fs::is_directory(p.checkpoints));
  EXPECT_TRUE(fs::is_directory(p.figures));
  EXPECT_EQ(open_run(p, config(0.1)), RunStart::Fresh);
  EXPECT_TRUE(fs::exists(p.config));
  // No checkpoint yet (killed before the first one): fresh again.
  EXPECT_EQ(open_run(p, config(0.1)), RunStart::Fresh);
  std::ofstream(p.last) << "x";
  // Another thread count is not a different configuration.
  EXPECT_EQ(open_run(p, config(0.1, 16)), RunStart::Resume);
  write_done(p, "train-x", {{"steps", 5}, {"checkpoints", {{"last", "checkpoints/last.safetensors"}}}});
  EXPECT_EQ(open_run(p, config(0.1)), RunStart::Finished);
  const nlohmann::json c = require_finished_stage(p.root, "train-x");
  EXPECT_EQ(c["preset"], "tiny");
  // A later stage names what must agree with it.
  EXPECT_NO_THROW(require_finished_stage(p.root, "train-x", {{"preset", "tiny"}, {"settings.epochs", 3.0}}));
  expect_error([&] { require_finished_stage(p.root, "train-x", {{"preset", "course"}, {"settings.seed", 1}}); },
               {"does not match this run", "preset: the folder's \"tiny\", this run's \"course\"",
                "settings.seed: the folder's (absent), this run's 1"});
}

TEST_F(RunFolder, ContinueReopensOnlyARunThatStoppedEarly) {
  const RunPaths p = run_paths((dir_ / "run").string());
  prepare_run_folder(p);
  EXPECT_EQ(open_run(p, config(0.1)), RunStart::Fresh);
  std::ofstream(p.last) << "x";
  // A run that trained all its epochs stays finished, with or without --continue.
  write_done(p, "train-x", {{"steps", 6}, {"epochs", 3}});
  EXPECT_EQ(open_run(p, config(0.1), true), RunStart::Finished);
  EXPECT_TRUE(fs::exists(p.done));
  // One that stopped early is finished without --continue ...
  write_done(p, "train-x", {{"steps", 2}, {"epochs", 1}, {"epochs_planned", 3},
                            {"stopped_early", "--stop-after-epoch 1 of 3"}});
  EXPECT_EQ(open_run(p, config(0.1)), RunStart::Finished);
  EXPECT_TRUE(fs::exists(p.done));
  // ... and goes on from its last checkpoint with it: done.json is gone (a later stage now sees
  // an unfinished run until this one finishes again).
  EXPECT_EQ(open_run(p, config(0.1), true), RunStart::Continue);
  EXPECT_FALSE(fs::exists(p.done));
  EXPECT_TRUE(resumes(RunStart::Continue));
  EXPECT_STREQ(resume_word(RunStart::Continue), "continuing");
  EXPECT_STREQ(resume_word(RunStart::Resume), "resuming");
  // An unfinished run resumes as before; --continue changes nothing there.
  EXPECT_EQ(open_run(p, config(0.1), true), RunStart::Resume);
  // A stopped run whose last checkpoint is missing cannot go on: refused, done.json kept.
  write_done(p, "train-x", {{"epochs", 1}, {"stopped_early", "--stop-after-epoch 1 of 3"}});
  fs::remove(p.last);
  expect_error([&] { open_run(p, config(0.1), true); }, {"stopped early but has no", "last.safetensors"});
  EXPECT_TRUE(fs::exists(p.done));
  // A done.json that does not say it stopped early (a number, not the reason) is a finished run;
  // one that is not JSON is an error naming the file.
  std::ofstream(p.last) << "x";
  write_done(p, "train-x", {{"epochs", 1}, {"stopped_early", 5}});
  EXPECT_EQ(open_run(p, config(0.1), true), RunStart::Finished);
  std::ofstream(p.done) << "{not json";
  expect_error([&] { open_run(p, config(0.1), true); }, {"done.json", "not valid JSON"});
  // The configuration is still compared first.
  expect_error([&] { open_run(p, config(0.2), true); }, {"different configuration"});
}

TEST_F(RunFolder, MismatchedConfigurationIsRefusedWithEveryKey) {
  const RunPaths p = run_paths((dir_ / "run").string());
  prepare_run_folder(p);
  open_run(p, config(0.1));
  auto other = config(0.2);
  other["preset"] = "course";
  expect_error([&] { open_run(p, other); },
               {"different configuration", "settings.lr: in the folder 0.1, now 0.2",
                "preset: in the folder \"tiny\", now \"course\""});
  const auto d = config_differences(nlohmann::json(config(0.1)), nlohmann::json(config(0.1, 8)));
  EXPECT_TRUE(d.empty());
  nlohmann::json extra = config(0.1);
  extra["settings"]["new_key"] = true;
  const auto e = config_differences(nlohmann::json(config(0.1)), extra);
  ASSERT_EQ(e.size(), 1u);
  EXPECT_EQ(e[0], "settings.new_key: absent in the folder, now true");
}

TEST_F(RunFolder, UnwritableFolderIsAnErrorBeforeWork) {
  if (::geteuid() == 0) GTEST_SKIP() << "root can write anywhere";
  fs::create_directories(dir_);
  fs::permissions(dir_, fs::perms::owner_read | fs::perms::owner_exec);
  expect_error([&] { prepare_run_folder(run_paths((dir_ / "run").string())); }, {"run folder", "cannot create"});
  // A file where the folder should be.
  fs::permissions(dir_, fs::perms::owner_all);
  std::ofstream((dir_ / "file").string()) << "x";
  expect_error([&] { prepare_run_folder(run_paths((dir_ / "file").string())); }, {"is not a folder"});
}

TEST_F(RunFolder, LaterStageRefusesMissingIncompleteOrForeignRuns) {
  const RunPaths p = run_paths((dir_ / "run").string());
  expect_error([&] { require_finished_stage(p.root, "train-x"); }, {"does not exist"});
  prepare_run_folder(p);
  expect_error([&] { require_finished_stage(p.root, "train-x"); }, {"has no config.json"});
  open_run(p, config(0.1));
  expect_error([&] { require_finished_stage(p.root, "train-y"); }, {"is a run of 'train-x', not of 'train-y'"});
  expect_error([&] { require_finished_stage(p.root, "train-x"); },
               {"was not finished (no done.json)", "run the same 'ldae train-x' command again"});
  write_done(p, "train-x", {{"checkpoints", {{"best", "checkpoints/best.safetensors"}}}});
  expect_error([&] { require_finished_stage(p.root, "train-x"); }, {"missing its best checkpoint"});
  // Checkpoints but no config.json: not ours.
  const RunPaths q = run_paths((dir_ / "other").string());
  prepare_run_folder(q);
  std::ofstream(q.last) << "x";
  expect_error([&] { open_run(q, config(0.1)); }, {"no config.json"});
}

TEST_F(RunFolder, AtomicJsonAndStaleTemporaries) {
  const RunPaths p = run_paths((dir_ / "run").string());
  prepare_run_folder(p);
  std::ofstream(p.last + ".tmp.12345") << "half a checkpoint";
  prepare_run_folder(p);  // removes what a killed writer left
  EXPECT_FALSE(fs::exists(p.last + ".tmp.12345"));
  write_json_atomic(p.config, config(0.5));
  EXPECT_DOUBLE_EQ(read_json(p.config)["settings"]["lr"].get<double>(), 0.5);
  std::ofstream(p.done) << "{not json";
  expect_error([&] { read_json(p.done); }, {"not valid JSON"});
}
