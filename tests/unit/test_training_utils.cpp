// EMA of parameters, the progress line and the CSV metrics log.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "nn/csv_log.h"
#include "nn/ema.h"
#include "nn/progress.h"

using namespace ldae;
using namespace ldae::nn;
using ldae::testing::expect_error;
namespace fs = std::filesystem;

namespace {

// Two parameters and a buffer, with values set by the test.
class Toy : public Module {
 public:
  Toy() {
    w = register_parameter("w", Tensor::from_vector({1.0, 2.0}, {2}, DType::F64));
    b = register_parameter("b", Tensor::from_vector({-1.0}, {1}, DType::F64));
    s = register_buffer("s", Tensor::from_vector({10.0}, {1}, DType::F64));
  }
  void set(double w0, double w1, double b0, double s0) {
    NoGrad no_grad;
    w.copy_(Tensor::from_vector({w0, w1}, {2}, DType::F64));
    b.copy_(Tensor::from_vector({b0}, {1}, DType::F64));
    s.copy_(Tensor::from_vector({s0}, {1}, DType::F64));
  }
  Tensor w, b, s;
};

std::string read_file(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::string temp_path(const std::string& name) {
  return (fs::temp_directory_path() / ("ldae_utils_" + std::to_string(::getpid()) + "_" + name)).string();
}

}  // namespace

// ---- EMA ------------------------------------------------------------------------------

TEST(Ema, AveragesParametersAndBuffers) {
  Toy model;
  Ema ema(model, EmaOptions{0.9, false});
  model.set(2.0, 4.0, 1.0, 20.0);
  ema.update(model);
  // shadow = 0.9 * old + 0.1 * new
  EXPECT_DOUBLE_EQ(ema.state_dict().at("w").to_vector()[0], 1.1);
  EXPECT_DOUBLE_EQ(ema.state_dict().at("w").to_vector()[1], 2.2);
  EXPECT_DOUBLE_EQ(ema.state_dict().at("b").to_vector()[0], -0.8);
  EXPECT_DOUBLE_EQ(ema.state_dict().at("s").to_vector()[0], 11.0);
  ema.update(model);
  EXPECT_DOUBLE_EQ(ema.state_dict().at("w").to_vector()[0], 1.19);
  EXPECT_EQ(ema.num_updates(), 2);
  // The shadow is a copy: changing the model did not change it except through update().
  EXPECT_EQ(model.w.to_vector()[0], 2.0);
}

TEST(Ema, BuffersCopiedWhenNotAveraged) {
  Toy model;
  EmaOptions o{0.9, false};
  o.average_buffers = false;
  Ema ema(model, o);
  model.set(2.0, 4.0, 1.0, 20.0);
  ema.update(model);
  EXPECT_DOUBLE_EQ(ema.state_dict().at("w").to_vector()[0], 1.1);  // parameters: averaged
  EXPECT_EQ(ema.state_dict().at("s").to_vector()[0], 20.0);         // the buffer: copied
  model.set(2.0, 4.0, 1.0, -3.0);
  ema.update(model);
  EXPECT_EQ(ema.state_dict().at("s").to_vector()[0], -3.0);
}

TEST(Ema, UnchangedEntriesStayExact) {
  Toy model;
  model.set(0.1, 0.7, 0.3, 1e-3);
  Ema ema(model, EmaOptions{0.999, false});
  for (int i = 0; i < 10; ++i) ema.update(model);
  EXPECT_EQ(ema.state_dict().at("w").to_vector(), model.w.to_vector());
  EXPECT_EQ(ema.state_dict().at("s").to_vector(), model.s.to_vector());
}

TEST(Ema, WarmupRaisesTheDecayGradually) {
  Toy model;
  Ema ema(model, EmaOptions{0.5, true});
  EXPECT_DOUBLE_EQ(ema.next_decay(), 2.0 / 11.0);  // update 1: (1 + 1) / (10 + 1)
  model.set(12.0, 2.0, -1.0, 10.0);
  ema.update(model);
  EXPECT_NEAR(ema.state_dict().at("w").to_vector()[0], 1.0 + (9.0 / 11.0) * 11.0, 1e-12);
  EXPECT_DOUBLE_EQ(ema.next_decay(), 3.0 / 12.0);
  for (int i = 0; i < 20; ++i) ema.update(model);
  EXPECT_DOUBLE_EQ(ema.next_decay(), 0.5);  // capped by decay
  Ema plain(model, EmaOptions{0.999, false});
  EXPECT_DOUBLE_EQ(plain.next_decay(), 0.999);
}

TEST(Ema, CopyToAndLoadStateDict) {
  Toy model;
  Ema ema(model, EmaOptions{0.5, false});
  model.set(3.0, 4.0, 5.0, 6.0);
  ema.update(model);
  Toy other;
  ema.copy_to(other);
  EXPECT_EQ(other.w.to_vector(), (std::vector<double>{2.0, 3.0}));
  EXPECT_EQ(other.s.to_vector(), (std::vector<double>{8.0}));

  Ema restored(Toy(), EmaOptions{0.5, false});
  restored.load_state_dict(ema.state_dict(), ema.num_updates());
  EXPECT_EQ(restored.state_dict().at("b").to_vector(), ema.state_dict().at("b").to_vector());
  EXPECT_EQ(restored.num_updates(), 1);
  expect_error([&] { restored.load_state_dict({{"w", Tensor::zeros({3}, DType::F64)}}, 0); },
               {"Ema.load_state_dict", "shape mismatch: w: EMA (2,) vs state (3,)", "missing key: b"});
}

TEST(Ema, RefusesADifferentModel) {
  Toy model;
  Ema ema(model);
  class Other : public Module {
   public:
    Other() { register_parameter("w", Tensor::zeros({2}, DType::F64)); }
  } other;
  expect_error([&] { ema.update(other); }, {"Ema.update", "missing key: b", "missing key: s"});
}

// ---- Progress line -----------------------------------------------------------------------

TEST(Progress, LogsPeriodicLinesWhenNotATerminal) {
  std::ostringstream out;
  double now = 0;
  ProgressOptions o;
  o.out = &out;
  o.tty = 0;
  o.clock = [&] { return now; };
  {
    Progress p("train", 100, 0, o);
    for (int step = 1; step <= 100; ++step) {
      now += 0.5;  // 2 it/s
      p.update(step, {{"loss", 1.0 / step}});
    }
  }
  const std::string text = out.str();
  // Every 10 % plus the final line: 10 lines, no carriage returns.
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 10) << text;
  EXPECT_EQ(text.find('\r'), std::string::npos);
  EXPECT_NE(text.find("train  10/100  10% | 2.00 it/s | 0:05 elapsed | ETA 0:45 | loss 0.1"), std::string::npos)
      << text;
  EXPECT_NE(text.find("train  100/100  100% | 2.00 it/s | 0:50 elapsed | loss 0.01\n"), std::string::npos)
      << text;
}

TEST(Progress, RedrawsOneLineOnATerminal) {
  std::ostringstream out;
  double now = 0;
  ProgressOptions o;
  o.out = &out;
  o.tty = 1;
  o.clock = [&] { return now; };
  Progress p("", 10, 4, o);  // resumed at step 4
  now = 3;
  p.update(5);
  now = 3.05;  // too soon to redraw
  p.update(6);
  now = 6;
  p.update(7);
  p.finish();
  const std::string text = out.str();
  EXPECT_EQ(std::count(text.begin(), text.end(), '\r'), 3) << text;
  EXPECT_EQ(std::count(text.begin(), text.end(), '\n'), 1) << text;
  EXPECT_NE(text.find("5/10  50% | 3.00 s/it"), std::string::npos) << text;
  EXPECT_NE(text.find("7/10  70% | 2.00 s/it | 0:06 elapsed | ETA 0:06"), std::string::npos) << text;
}

TEST(Progress, FormatsDurations) {
  EXPECT_EQ(Progress::format_duration(0), "0:00");
  EXPECT_EQ(Progress::format_duration(75.4), "1:15");
  EXPECT_EQ(Progress::format_duration(3723), "1:02:03");
  EXPECT_EQ(Progress::format_duration(-1), "?");
}

// ---- CSV log ------------------------------------------------------------------------------

TEST(CsvLog, WritesRowsAndResumesAfterACheckpoint) {
  const std::string path = temp_path("log.csv");
  {
    CsvLog log(path, {"loss", "lr"});
    for (int step = 1; step <= 5; ++step) log.log(step, {{"loss", 1.0 / step}, {"lr", 0.5}});
    log.log(6, {{"loss", 0.125}});  // lr left empty
  }
  EXPECT_EQ(read_file(path), "step,loss,lr\n1,1,0.5\n2,0.5,0.5\n3,0.3333333333,0.5\n4,0.25,0.5\n5,0.2,0.5\n6,0.125,\n");
  {
    std::ofstream(path, std::ios::app) << "7,0.1";  // a row cut short by a crash
  }
  {
    CsvLog log(path, {"loss", "lr"}, /*resume_after=*/3);
    log.log(4, {{"loss", 0.0625}, {"lr", 0.25}});
  }
  EXPECT_EQ(read_file(path), "step,loss,lr\n1,1,0.5\n2,0.5,0.5\n3,0.3333333333,0.5\n4,0.0625,0.25\n");
  expect_error([&] { CsvLog(path, {"loss"}, 3); }, {"CsvLog", "header"});
  expect_error([&] { CsvLog(path + ".missing", {"loss"}, 3); }, {"CsvLog", "does not exist"});
  expect_error([&] { CsvLog(path, {"loss", "lr"}).log(1, {{"acc", 1.0}}); }, {"CsvLog.log", "\"acc\" is not a column"});
  expect_error([&] { CsvLog(path, {"a,b"}); }, {"CsvLog", "invalid column name"});
  fs::remove(path);
}
