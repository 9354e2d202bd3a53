#include "ldae/probe.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <numeric>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "data/manifest.h"
#include "ldae/probe_common.h"
#include "ldae/roc_figure.h"
#include "ldae/run/run_folder.h"
#include "nn/adam.h"
#include "nn/sgd.h"
#include "tensor/error.h"
#include "tensor/random.h"
#include "tensor/safetensors.h"

namespace ldae::probe {

namespace {

using json = nlohmann::ordered_json;

// Philox offsets of the independent random streams (2^40 apart: never overlap in practice).
constexpr uint64_t kClassifierInit = 0, kClassifierShuffle = 1, kAgeInit = 2, kAgeShuffle = 3;
constexpr uint64_t kClassifierBootstrap = 4, kAgeBootstrap = 5;

// The rows `rows` of the table's features as a float32 (M, d) tensor.
Tensor gather(const FeatureTable& t, const std::vector<size_t>& rows) {
  const Tensor x = t.x.contiguous();
  const double* p = x.data<double>();
  const int64_t d = t.dim();
  std::vector<double> v;
  v.reserve(rows.size() * static_cast<size_t>(d));
  for (size_t r : rows) v.insert(v.end(), p + static_cast<int64_t>(r) * d, p + (static_cast<int64_t>(r) + 1) * d);
  return Tensor::from_vector(v, {static_cast<int64_t>(rows.size()), d}, DType::F32);
}

std::vector<double> outputs(const nets::LinearProbe& model, const Tensor& x) {
  if (x.size(0) == 0) return {};
  NoGrad no_grad;
  return model.forward(x).to_vector();
}

using TaskData = TaskRows;

// What fitting one probe chose.
struct FitResult {
  std::shared_ptr<nets::LinearProbe> model;
  int64_t epoch = 0;       // selected epoch (1-based)
  bool by_validation = false;
  double value = std::nan("");  // the validation metric at that epoch
  std::vector<double> val_per_epoch, train_loss_per_epoch;
  std::vector<double> val_bce_per_epoch;  // classification only: the selection's tie-break
};

// Trains a LinearProbe on data.train. classification: BCE-with-logits + Adam, selection by
// the highest validation MCC, ties to the lower validation BCE (ranks_above); else MSE + SGD,
// selection by the lowest validation RMSE in years (outputs * age_scale). can_select false: the last epoch is kept.
FitResult fit(const FeatureTable& table, const TaskData& data, bool classification, bool can_select,
              double age_scale, const ProbeOptions& o, const std::string& name) {
  Generator init = stream(o.seed, classification ? kClassifierInit : kAgeInit);
  Generator shuffle = stream(o.seed, classification ? kClassifierShuffle : kAgeShuffle);
  FitResult r;
  r.model = std::make_shared<nets::LinearProbe>(table.dim(), init);
  nets::LinearProbe& model = *r.model;
  const Tensor x_train = gather(table, data.train);
  const Tensor x_val = gather(table, data.val);
  model.fit_normalisation(x_train);
  // Start as a constant: the classifier at logit 0, the age regressor at the mean training
  // age. The fit is convex, so with enough steps the start would not matter; with the
  // published settings (200 epochs of batches of 32) a small training split gets only a few
  // hundred steps, too few to undo PyTorch's random initialisation (the course demo at seed 1:
  // the one-feature oracle probe kept its initial weight's wrong sign, test AUC 0.164 where the
  // feature itself gives 0.836).
  model.start_constant(classification ? 0.0
                                      : std::accumulate(data.y_train.begin(), data.y_train.end(), 0.0) /
                                            static_cast<double>(data.y_train.size()));
  std::unique_ptr<nn::Optimizer> opt;
  if (classification) {
    nn::AdamOptions a;
    a.lr = o.lr_classifier;
    opt = std::make_unique<nn::Adam>(model.named_parameters(), a);
  } else {
    nn::SgdOptions s;
    s.lr = o.lr_age;
    opt = std::make_unique<nn::SGD>(model.named_parameters(), s);
  }
  const int64_t d = table.dim();
  const Tensor xt = x_train.contiguous();
  const float* xp = xt.data<float>();
  const size_t m = data.train.size();
  std::map<std::string, Tensor> best;
  EpochSelector selector(classification, o.threshold, age_scale, EpochSelector::AgeError::Rmse);
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    model.train();
    const std::vector<size_t> order = permutation(m, shuffle);
    double loss_sum = 0;
    for (size_t start = 0; start < m; start += static_cast<size_t>(o.batch_size)) {
      const size_t end = std::min(m, start + static_cast<size_t>(o.batch_size));
      std::vector<double> xb, yb;
      xb.reserve((end - start) * static_cast<size_t>(d));
      for (size_t i = start; i < end; ++i) {
        const size_t k = order[i];
        xb.insert(xb.end(), xp + static_cast<int64_t>(k) * d, xp + (static_cast<int64_t>(k) + 1) * d);
        yb.push_back(data.y_train[k]);
      }
      const int64_t b = static_cast<int64_t>(end - start);
      const Tensor xbt = Tensor::from_vector(xb, {b, d}, DType::F32);
      const Tensor ybt = Tensor::from_vector(yb, {b}, DType::F32);
      const Tensor out = model.forward(xbt);  // (b,)
      const Tensor loss = classification ? ag::binary_cross_entropy_with_logits(out, ybt) : ag::mse_loss(out, ybt);
      opt->zero_grad();
      ag::backward(loss);
      opt->step();
      loss_sum += loss.item() * static_cast<double>(b);
    }
    r.train_loss_per_epoch.push_back(loss_sum / static_cast<double>(m));
    model.eval();
    if (can_select) {
      const bool better = selector.improves(outputs(model, x_val), data.y_val);
      if (classification) r.val_bce_per_epoch.push_back(selector.last_bce());
      r.val_per_epoch.push_back(selector.last_value());
      if (better) {
        best = copy_state(model);
        r.epoch = epoch;
        r.value = selector.last_value();
      }
    }
    if (o.progress && (epoch == o.epochs || epoch % 50 == 0))
      std::fprintf(stderr, "probe %s: epoch %lld/%lld, train loss %.5g%s\n", name.c_str(),
                   static_cast<long long>(epoch), static_cast<long long>(o.epochs), r.train_loss_per_epoch.back(),
                   can_select ? (std::string(", best validation ") + (classification ? "MCC " : "RMSE ") +
                                 std::to_string(selector.best_value()) + " at epoch " + std::to_string(r.epoch))
                                    .c_str()
                              : "");
  }
  if (can_select) {
    model.load_state_dict(best);
    r.by_validation = true;
  } else {
    r.epoch = o.epochs;
  }
  return r;
}

json split_counts(const FeatureTable& t, const std::string& split) {
  const std::vector<size_t> rows = t.rows_of_split(split);
  int64_t ad = 0, cn = 0, mci = 0, with_age = 0;
  for (size_t r : rows) {
    ad += t.diagnosis[r] == "AD";
    cn += t.diagnosis[r] == "CN";
    mci += t.diagnosis[r] == "MCI";
    with_age += std::isfinite(t.age[r]);
  }
  return json{{"scans", rows.size()}, {"subjects", count_subjects(t, rows)}, {"AD", ad}, {"CN", cn},
              {"MCI", mci},          {"with_age", with_age}};
}

void check_options(const ProbeOptions& o) {
  check(o.epochs >= 1, "probe", "epochs must be >= 1, got " + std::to_string(o.epochs));
  check(o.batch_size >= 1, "probe", "batch_size must be >= 1, got " + std::to_string(o.batch_size));
  check(o.lr_classifier > 0 && o.lr_age > 0, "probe", "learning rates must be positive");
  check(o.threshold > 0 && o.threshold < 1, "probe", "threshold must be in (0, 1)");
  check(o.bootstrap >= 0, "probe", "bootstrap must be >= 0, got " + std::to_string(o.bootstrap));
  check(o.level > 0 && o.level < 1, "probe", "level must be in (0, 1)");
}

}  // namespace

ProbeTasks split_probe_tasks(const FeatureTable& table, const std::string& op, const std::string& classifier,
                             const std::string& regressor) {
  const std::string& src = table.source;
  ProbeTasks tasks;
  TaskRows& cls = tasks.classification;
  TaskRows& age = tasks.age;
  for (size_t r = 0; r < static_cast<size_t>(table.rows()); ++r) {
    const std::string& s = table.split[r];
    const std::string& dx = table.diagnosis[r];
    if (dx == "AD" || dx == "CN") {
      const double y = dx == "AD" ? 1.0 : 0.0;
      if (s == "train") {
        cls.train.push_back(r);
        cls.y_train.push_back(y);
      } else if (s == "val") {
        cls.val.push_back(r);
        cls.y_val.push_back(y);
      } else {
        cls.test.push_back(r);
      }
    }
    if (std::isfinite(table.age[r])) {
      if (s == "train") age.train.push_back(r);
      if (s == "val") age.val.push_back(r);
      if (s == "test") age.test.push_back(r);
    }
  }
  auto count_class = [&](const std::vector<size_t>& rows, const std::string& dx) {
    return std::count_if(rows.begin(), rows.end(), [&](size_t r) { return table.diagnosis[r] == dx; });
  };
  for (const char* dx : {"AD", "CN"})
    check(count_class(cls.train, dx) > 0, op,
          src + ": the train split has no " + dx + " scan (the " + classifier + " needs both classes to train)");
  tasks.test_rows = table.rows_of_split("test");
  check(!tasks.test_rows.empty(), op, src + ": the test split is empty (nothing to evaluate)");
  for (const char* dx : {"AD", "CN"})
    check(count_class(cls.test, dx) > 0, op,
          src + ": the test split has no " + dx + " scan (AD-vs-CN metrics need both classes)");
  check(age.train.size() >= 2, op,
        src + ": the " + regressor + " needs at least 2 train scans with an age, got " + std::to_string(age.train.size()));
  double age_min = std::numeric_limits<double>::infinity(), age_max = -age_min;
  for (size_t r : age.train) {
    age_min = std::min(age_min, table.age[r]);
    age_max = std::max(age_max, table.age[r]);
  }
  check(age_max > age_min, op, src + ": every train scan has the same age (" + std::to_string(age_min) +
                                   "): the min-max normalisation needs a range");
  check(!age.test.empty(), op, src + ": no test scan has an age (nothing to evaluate the " + regressor + " on)");
  const double age_range = age_max - age_min;
  for (size_t r : age.train) age.y_train.push_back((table.age[r] - age_min) / age_range);
  for (size_t r : age.val) age.y_val.push_back((table.age[r] - age_min) / age_range);
  tasks.age_min = age_min;
  tasks.age_max = age_max;
  tasks.val_has_both_classes = count_class(cls.val, "AD") > 0 && count_class(cls.val, "CN") > 0;
  tasks.test_ad = count_class(cls.test, "AD");
  tasks.test_cn = count_class(cls.test, "CN");
  auto test_rows_of = [&](const std::string& dx) {
    std::vector<size_t> rows;
    for (size_t r : cls.test)
      if (table.diagnosis[r] == dx) rows.push_back(r);
    return rows;
  };
  tasks.test_ad_subjects = count_subjects(table, test_rows_of("AD"));
  tasks.test_cn_subjects = count_subjects(table, test_rows_of("CN"));
  return tasks;
}

json mean_age_floor(const FeatureTable& table, const ProbeOptions& o) {
  const std::string op = "probe";
  check_options(o);
  validate_features(table, op);
  const ProbeTasks tasks = split_probe_tasks(table, op, "AD-vs-CN probe", "age floor");
  double mean = 0;
  for (size_t r : tasks.age.train) mean += table.age[r];
  mean /= static_cast<double>(tasks.age.train.size());
  std::vector<double> pred(tasks.age.test.size(), mean), truth;
  std::vector<std::string> subjects;
  for (size_t r : tasks.age.test) {
    truth.push_back(table.age[r]);
    subjects.push_back(table.subject[r]);
  }
  const RegressionMetrics m = regression_metrics(pred, truth);
  json out = {{"mae", m.mae}, {"rmse", m.rmse}};
  if (o.bootstrap > 0) {
    const std::vector<Interval> in =
        regression_intervals(subjects, pred, truth, o.bootstrap, o.seed, kAgeBootstrap, o.level);
    out["mae_ci"] = {in[0].low, in[0].high};
    out["rmse_ci"] = {in[1].low, in[1].high};
  }
  out["test_scans"] = tasks.age.test.size();
  out["train_mean_age"] = mean;
  return out;
}

ProbeOutcome run_probes(const FeatureTable& table, const ProbeOptions& o) {
  const std::string op = "probe";
  check_options(o);
  validate_features(table, op);

  // ---- Refusals, all before training ----------------------------------------------------
  ProbeTasks tasks = split_probe_tasks(table, op, "AD-vs-CN probe", "age probe");
  TaskData& cls = tasks.classification;
  TaskData& age = tasks.age;
  const std::vector<size_t>& test_rows = tasks.test_rows;
  const double age_min = tasks.age_min, age_max = tasks.age_max, age_range = age_max - age_min;

  const bool cls_select = tasks.val_has_both_classes;
  const bool age_select = !age.val.empty();
  if (o.progress && !cls_select)
    std::fprintf(stderr, "probe: warning: the val split lacks AD or CN scans; the AD-vs-CN probe keeps its last epoch\n");
  if (o.progress && !age_select)
    std::fprintf(stderr, "probe: warning: no val scan has an age; the age probe keeps its last epoch\n");

  // ---- Training ---------------------------------------------------------------------------
  const FitResult fc = fit(table, cls, true, cls_select, 1.0, o, "AD vs CN");
  const FitResult fa = fit(table, age, false, age_select, age_range, o, "age");

  ProbeOutcome out;
  out.classifier = fc.model;
  out.age_regressor = fa.model;
  out.age_min = age_min;
  out.age_max = age_max;

  // ---- Test predictions (every test scan) -------------------------------------------------
  const std::vector<double> logits = outputs(*fc.model, gather(table, test_rows));
  const std::vector<double> ages = outputs(*fa.model, gather(table, test_rows));
  for (size_t i = 0; i < test_rows.size(); ++i)
    out.predictions.push_back({test_rows[i], sigmoid(logits[i]), age_min + ages[i] * age_range});

  // ---- Test metrics, with bootstrap intervals over test subjects -----------------------------
  const TestScores scores = score_test_predictions(
      table, tasks, out.predictions, {o.threshold, o.bootstrap, o.seed, o.level, kClassifierBootstrap, kAgeBootstrap});
  out.roc = roc_curve(scores.ad_probability, scores.is_ad);
  out.auc = scores.classification.auc;
  if (!scores.classification_intervals.empty()) out.auc_interval = scores.classification_intervals[0];

  // ---- The report --------------------------------------------------------------------------------
  json& rep = out.report;
  rep["stage"] = "probe";
  rep["features"] = json{{"source", table.source}, {"dimension", table.dim()}, {"scans", table.rows()}};
  rep["settings"] = json{
      {"seed", o.seed},
      {"epochs", o.epochs},
      {"batch_size", o.batch_size},
      {"threshold", o.threshold},
      {"bootstrap_resamples", o.bootstrap},
      {"interval_level", o.level},
      {"interval", "percentile bootstrap over test subjects (all scans of a drawn subject)"},
      {"normalisation", "z-score with the mean and population std of each probe's train rows"},
      {"classifier",
       json{{"positive_class", "AD"},
            {"loss", "BCE with logits"},
            {"optimizer", "Adam"},
            {"lr", o.lr_classifier},
            {"selection", "highest validation MCC, ties to the lower validation BCE"}}},
      {"age",
       json{{"loss", "MSE on min-max normalised age (train split's min and max)"},
            {"optimizer", "SGD"},
            {"lr", o.lr_age},
            {"selection", "lowest validation RMSE in years (first epoch on ties)"}}},
      {"changes_from_published",
       json::array({"positive class AD (published: CN, so its recall was CN recall)",
                    "validation = the val split by subject (published: image-level random 70/30 of train)",
                    "age min/max from the train split only (published: train + val + test)",
                    "scans without an age are left out of the age probe only (published: of both probes)",
                    "bootstrap 95% intervals over test subjects (published: none)",
                    "equal validation MCCs ranked by the validation BCE (published: the first such epoch; on a "
                    "small validation split the MCC can be flat, and the first epoch is then an untrained probe)",
                    "the probes start as constants: zero weights, the classifier's bias 0, the age regressor's the "
                    "mean normalised training age (published: PyTorch's random Linear initialisation, which a few "
                    "hundred steps on a small training split do not undo)"})}};
  rep["counts"] = json{{"train", split_counts(table, "train")},
                       {"val", split_counts(table, "val")},
                       {"test", split_counts(table, "test")}};
  json c;
  c["selected_epoch"] = fc.epoch;
  c["selected_by"] = fc.by_validation ? "validation MCC" : "last epoch (the val split lacks AD or CN scans)";
  c["validation_mcc"] = fc.value;
  add_classification_scores(c, table, tasks, scores);
  c["validation_mcc_per_epoch"] = fc.val_per_epoch;
  c["validation_bce_per_epoch"] = fc.val_bce_per_epoch;
  c["train_loss_per_epoch"] = fc.train_loss_per_epoch;
  rep["classification"] = c;
  json a;
  a["selected_epoch"] = fa.epoch;
  a["selected_by"] = fa.by_validation ? "validation RMSE" : "last epoch (no val scan has an age)";
  a["validation_rmse"] = fa.value;
  a["age_min"] = age_min;
  a["age_max"] = age_max;
  add_age_scores(a, table, tasks, scores);
  a["validation_rmse_per_epoch"] = fa.val_per_epoch;
  a["train_loss_per_epoch"] = fa.train_loss_per_epoch;
  rep["age"] = a;
  return out;
}

void write_probe_outputs(const std::string& dir, const FeatureTable& table, const ProbeOutcome& outcome) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  check(!ec && fs::is_directory(dir), "probe", dir + ": cannot create the output folder (" + ec.message() + ")");
  const double threshold = outcome.report["settings"]["threshold"].get<double>();
  {
    const std::string path = (fs::path(dir) / "predictions.csv").string();
    std::ofstream f(path, std::ios::binary);
    check(f.good(), "probe", path + ": cannot write the file");
    f << "subject,session,diagnosis,age,ad_probability,predicted,age_predicted\n";
    char buf[128];
    for (const Prediction& p : outcome.predictions) {
      const size_t r = p.row;
      std::string age_text;
      if (std::isfinite(table.age[r])) {
        std::snprintf(buf, sizeof buf, "%.10g", table.age[r]);
        age_text = buf;
      }
      std::snprintf(buf, sizeof buf, "%.9g,%s,%.6f", p.ad_probability, p.ad_probability > threshold ? "AD" : "CN",
                    p.age_predicted);
      auto q = [](const std::string& s) {
        if (s.find_first_of(",\"") == std::string::npos) return s;
        std::string o = "\"";
        for (char ch : s) o += ch == '"' ? std::string("\"\"") : std::string(1, ch);
        return o + "\"";
      };
      f << q(table.subject[r]) << ',' << q(table.session[r]) << ',' << table.diagnosis[r] << ',' << age_text << ','
        << buf << "\n";
    }
    check(f.good(), "probe", path + ": write failed");
  }
  {
    char title[160];
    if (outcome.auc_interval.valid > 0)
      std::snprintf(title, sizeof title, "AD vs CN (test): AUC %.3f [%.3f, %.3f]", outcome.auc, outcome.auc_interval.low,
                    outcome.auc_interval.high);
    else
      std::snprintf(title, sizeof title, "AD vs CN (test): AUC %.3f", outcome.auc);
    data::write_png((fs::path(dir) / "roc.png").string(),
                    roc_figure(outcome.roc, title, "false positive rate (CN called AD)", "true positive rate (AD recall)"));
  }
  {
    std::map<std::string, Tensor> tensors;
    for (const auto& [k, v] : outcome.classifier->state_dict()) tensors["classifier." + k] = v.detach();
    for (const auto& [k, v] : outcome.age_regressor->state_dict()) tensors["age." + k] = v.detach();
    char lo[40], hi[40];
    std::snprintf(lo, sizeof lo, "%.17g", outcome.age_min);
    std::snprintf(hi, sizeof hi, "%.17g", outcome.age_max);
    write_safetensors((fs::path(dir) / "probes.safetensors").string(), tensors,
                      {{"positive_class", "AD"}, {"age_min", lo}, {"age_max", hi},
                       {"age", "years = age_min + output * (age_max - age_min)"}});
  }
  run::write_json_atomic((fs::path(dir) / "probe.json").string(), outcome.report);
}

std::shared_ptr<nets::LinearProbe> load_classifier(const std::string& op, const std::string& path) {
  SafetensorsFile f;
  try {
    f = read_safetensors(path);
  } catch (const Error& e) {
    fail(op, e.what());
  }
  const auto positive = f.metadata.find("positive_class");
  check(positive == f.metadata.end() || positive->second == "AD", op,
        path + ": the probe's positive class is " + (positive == f.metadata.end() ? "" : positive->second) +
            ", not AD");
  std::map<std::string, Tensor> state;
  const std::string prefix = "classifier.";
  for (const auto& [name, t] : f.tensors)
    if (name.rfind(prefix, 0) == 0) state[name.substr(prefix.size())] = t;
  const auto weight = state.find("linear.weight");
  check(weight != state.end() && weight->second.dim() == 2 && weight->second.size(0) == 1, op,
        path + ": no AD-vs-CN probe in it (a 'classifier.linear.weight' of shape (1, features), as "
               "`ldae probe` and `ldae evaluate` write)");
  Generator unused(0);  // the initial weights are overwritten below
  auto probe = std::make_shared<nets::LinearProbe>(weight->second.size(1), unused);
  try {
    probe->load_state_dict(state);
  } catch (const Error& e) {
    fail(op, path + ": " + e.what());
  }
  return probe;
}

}  // namespace ldae::probe

namespace ldae::stages {

ProbeResult probe(const ProbeRequest& r) {
  const std::string op = "probe";
  const bool oracle = !r.oracle_column.empty();
  check(!r.out.empty(), op, "no output folder given");
  check(oracle != !r.features.empty(), op,
        oracle ? "give either features or an oracle column, not both" : "give a features file (or an oracle column)");
  check(!oracle || !r.manifest.empty(), op, "the oracle column " + r.oracle_column + " needs a manifest");
  check(r.pca_components >= 0, op, "pca_components must be >= 0");
  probe::FeatureTable table;
  nlohmann::ordered_json input;
  if (oracle) {
    data::ManifestOptions mo;
    mo.check_files = false;  // the oracle needs no images
    const data::Manifest m = data::read_manifest(r.manifest, mo);
    const bool has_split = m.column_index("split") >= 0;
    table = probe::oracle_features(m, r.oracle_column, probe::manifest_splits(m, r.val_fraction, r.test_fraction, r.split_seed));
    input["oracle"] = {{"manifest", r.manifest}, {"column", r.oracle_column}};
    if (has_split)
      input["oracle"]["split"] = "the manifest's split column";
    else
      input["oracle"]["split"] = {{"rule", "split_by_subject"}, {"val_fraction", r.val_fraction},
                                  {"test_fraction", r.test_fraction}, {"split_seed", r.split_seed}};
  } else {
    table = probe::read_features(r.features);
    input["features"] = r.features;
  }
  if (r.pca_components > 0) {
    table = probe::with_pca(table, r.pca_components);
    input["pca_components"] = r.pca_components;
  }
  probe::ProbeOptions o = r.options;
  o.progress = r.progress;
  probe::ProbeOutcome outcome = probe::run_probes(table, o);
  nlohmann::ordered_json rep;
  rep["stage"] = "probe";
  rep["input"] = input;
  for (auto it = outcome.report.begin(); it != outcome.report.end(); ++it)
    if (it.key() != "stage") rep[it.key()] = it.value();
  outcome.report = rep;
  probe::write_probe_outputs(r.out, table, outcome);
  return {outcome.report};
}

}  // namespace ldae::stages
