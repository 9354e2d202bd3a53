// ldae/run/checkpoint_book.h: the best score and the last checkpoint of a training stage.
#include <gtest/gtest.h>

#include <cmath>
#include <limits>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "ldae/run/checkpoint_book.h"
#include "ldae/run/early_stop.h"

namespace ldae::run {
namespace {

TEST(CheckpointBook, ALossImprovesOnlyWhenStrictlyLower) {
  CheckpointBook book(CheckpointBook::Better::Lower);
  EXPECT_EQ(book.best(), std::numeric_limits<double>::infinity());
  EXPECT_TRUE(book.improves(0.5, 10));
  EXPECT_FALSE(book.improves(0.5, 20));  // equal: the earlier step stays the best
  EXPECT_FALSE(book.improves(0.7, 30));
  EXPECT_FALSE(book.improves(std::nan(""), 40));
  EXPECT_TRUE(book.improves(0.25, 50));
  EXPECT_EQ(book.best(), 0.25);
  EXPECT_EQ(book.best_step(), 50);
}

TEST(CheckpointBook, ASimilarityImprovesOnlyWhenStrictlyHigher) {
  CheckpointBook book(CheckpointBook::Better::Higher);
  EXPECT_EQ(book.best(), -std::numeric_limits<double>::infinity());
  EXPECT_TRUE(book.improves(0.1, 3));
  EXPECT_FALSE(book.improves(0.05, 6));
  EXPECT_FALSE(book.improves(std::nan(""), 9));
  EXPECT_EQ(book.best(), 0.1);
  EXPECT_EQ(book.best_step(), 3);
}

TEST(CheckpointBook, KeptNamesTheLastCheckpointWritten) {
  CheckpointBook book(CheckpointBook::Better::Lower);
  EXPECT_EQ(book.kept("run/checkpoints/last.safetensors"), "no checkpoint had been written yet");
  book.wrote(12);
  book.wrote(24);
  EXPECT_EQ(book.kept("run/checkpoints/last.safetensors"),
            "the last good checkpoint, run/checkpoints/last.safetensors (step 24), is kept");
}

TEST(CheckpointBook, ResumeRestoresTheBestAndCountsAsACheckpoint) {
  CheckpointBook book(CheckpointBook::Better::Lower);
  book.resume(0.3, 8, 16);
  EXPECT_EQ(book.best(), 0.3);
  EXPECT_EQ(book.best_step(), 8);
  EXPECT_EQ(book.kept("last.safetensors"), "the last good checkpoint, last.safetensors (step 16), is kept");
  EXPECT_FALSE(book.improves(0.4, 20));
  EXPECT_TRUE(book.improves(0.2, 24));
}

TEST(CheckpointBook, NonFiniteStopMessageCountsFromOne) {
  EXPECT_EQ(non_finite_stop_message("the loss", std::nan(""), 4, 0, 2, 7, "no checkpoint had been written yet"),
            "the loss is NaN at step 5 (epoch 1, micro-batch 3 of 7); stopped without saving this step: "
            "no checkpoint had been written yet");
  EXPECT_NE(non_finite_stop_message("x", std::numeric_limits<double>::infinity(), 0, 0, 0, 1, "k").find("+infinity"),
            std::string::npos);
  EXPECT_NE(non_finite_stop_message("x", -std::numeric_limits<double>::infinity(), 0, 0, 0, 1, "k").find("-infinity"),
            std::string::npos);
}

TEST(CheckpointBook, FinishedSummaryKeepsTheStagesOrder) {
  CheckpointBook book(CheckpointBook::Better::Higher);
  EXPECT_TRUE(book.improves(0.5, 10));
  EXPECT_FALSE(book.improves(0.4, 20));
  const nlohmann::ordered_json last = {{"val_ssim", 0.4}, {"val_mse", 0.01}};
  const nlohmann::ordered_json s = finished_summary(20, EpochsTrained{2, 2, ""}, "val_ssim", book, last);
  std::vector<std::string> keys;
  for (const auto& [key, value] : s.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"steps", "epochs", "best_val_ssim", "best_step", "val_ssim", "val_mse",
                                            "checkpoints"}));
  EXPECT_EQ(s["steps"], 20);
  EXPECT_EQ(s["epochs"], 2);
  EXPECT_DOUBLE_EQ(s["best_val_ssim"].get<double>(), 0.5);
  EXPECT_EQ(s["best_step"], 10);
  EXPECT_DOUBLE_EQ(s["val_ssim"].get<double>(), 0.4);
  EXPECT_EQ(s["checkpoints"]["last"], "checkpoints/last.safetensors");
  EXPECT_EQ(s["checkpoints"]["best"], "checkpoints/best.safetensors");
}

TEST(CheckpointBook, EpochFigureNamesHaveAtLeastThreeDigits) {
  EXPECT_EQ(epoch_figure_name(1), "epoch_001.png");
  EXPECT_EQ(epoch_figure_name(42), "epoch_042.png");
  EXPECT_EQ(epoch_figure_name(1234), "epoch_1234.png");
}


TEST(CheckpointBook, FinishedSummaryOfARunStoppedEarly) {
  CheckpointBook book(CheckpointBook::Better::Lower);
  EXPECT_TRUE(book.improves(0.1, 5));
  const nlohmann::ordered_json s =
      finished_summary(5, EpochsTrained{1, 4, "the time limit was reached"}, "val_l1", book, {{"val_l1", 0.1}});
  std::vector<std::string> keys;
  for (const auto& [key, value] : s.items()) keys.push_back(key);
  EXPECT_EQ(keys, (std::vector<std::string>{"steps", "epochs", "epochs_planned", "stopped_early", "best_val_l1",
                                            "best_step", "val_l1", "checkpoints"}));
  EXPECT_EQ(s["epochs"], 1);
  EXPECT_EQ(s["epochs_planned"], 4);
  EXPECT_EQ(s["stopped_early"], "the time limit was reached");
}

TEST(EarlyStop, StopsOnlyWhenARuleSaysSoAndEpochsRemain) {
  const EarlyStopper none(EarlyStop{}), past(EarlyStop{1e-12, 0}), far(EarlyStop{1e9, 0}), epoch2(EarlyStop{0, 2}),
      both(EarlyStop{1e-12, 2});
  std::this_thread::sleep_for(std::chrono::milliseconds(1));  // the 60 picoseconds of 1e-12 min are over
  EpochsTrained trained{3, 3, ""};
  EXPECT_FALSE(none.stop_after(1, 3, trained));
  EXPECT_FALSE(far.stop_after(1, 3, trained));
  EXPECT_FALSE(epoch2.stop_after(1, 3, trained));
  EXPECT_FALSE(past.stop_after(3, 3, trained));  // the last epoch: nothing left to skip
  EXPECT_FALSE(epoch2.stop_after(3, 3, trained));
  EXPECT_EQ(trained.done, 3);
  EXPECT_EQ(trained.stopped_early, "");

  EXPECT_TRUE(past.stop_after(1, 3, trained));
  EXPECT_EQ(trained.done, 1);
  EXPECT_EQ(trained.planned, 3);
  EXPECT_EQ(trained.stopped_early, early_stop_reason(true, 1e-12, 1, 3));
  EXPECT_TRUE(epoch2.stop_after(2, 3, trained));
  EXPECT_EQ(trained.done, 2);
  EXPECT_EQ(trained.stopped_early, "--stop-after-epoch 2 of 3");
  EXPECT_TRUE(both.stop_after(2, 3, trained));  // both rules: the epoch's, which repeats exactly
  EXPECT_EQ(trained.stopped_early, "--stop-after-epoch 2 of 3");
  EXPECT_EQ(early_stop_reason(true, 2.5, 2, 3),
            "the time limit of 2.5 min (--time-limit) was reached after epoch 2 of 3 (--stop-after-epoch 2 repeats "
            "this run)");
}

}  // namespace
}  // namespace ldae::run
