#include "ldae/supervised_baseline.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <numeric>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "data/nifti.h"
#include "data/preprocess.h"
#include "ldae/attention_semantic_encoder.h"
#include "ldae/presets.h"
#include "ldae/probe_common.h"
#include "ldae/run/run_folder.h"
#include "nn/adam.h"
#include "nn/clip_grad.h"
#include "nn/linear.h"
#include "nn/module.h"
#include "nn/progress.h"
#include "tensor/error.h"
#include "tensor/ops.h"
#include "tensor/random.h"

namespace ldae::probe {

namespace {

using json = nlohmann::ordered_json;
constexpr const char* kOp = "supervised";

// Philox offsets of the independent random streams (2^40 apart), distinct from the probe's.
constexpr uint64_t kClsInit = 16, kClsDrop = 17, kClsShuffle = 18, kAgeInit = 19, kAgeDrop = 20, kAgeShuffle = 21;
constexpr uint64_t kClsBootstrap = 22, kAgeBootstrap = 23;

// The encoder and its head: x (B, 1, X, Y, Z) -> one output per scan (B,).
class SupervisedNet : public nn::Module {
 public:
  SupervisedNet(const std::string& preset, Generator& init, std::shared_ptr<Generator> drop) {
    encoder_ = register_module("encoder", std::make_shared<nets::AttentionSemanticEncoder>(
                                              nets::attention_semantic_encoder_preset(preset), init, drop));
    head_ = register_module("head", std::make_shared<nn::Linear>(encoder_->options().emb_chans, 1, init));
  }
  // Head weight 0 and bias `value`: the model starts as the constant predictor `value`.
  void start_constant(double value) {
    const int64_t e = encoder_->options().emb_chans;
    const nn::LoadReport rep =
        load_state_dict({{"head.weight", Tensor::zeros({1, e})}, {"head.bias", Tensor::full({1}, value)}}, false);
    check(rep.unexpected.empty() && rep.mismatched.empty(), kOp, "the head's state: " + rep.str());
  }
  Tensor forward(const Tensor& x) const {
    const Tensor y = encoder_->forward(nets::axial_slices(x));  // (B, E)
    return ag::reshape(head_->forward(y), {x.size(0)});         // (B,)
  }

 private:
  std::shared_ptr<nets::AttentionSemanticEncoder> encoder_;
  std::shared_ptr<nn::Linear> head_;
};

// The images of `rows` stacked: (b, 1, X, Y, Z).
Tensor stack(const std::vector<Tensor>& images, const std::vector<size_t>& rows) {
  std::vector<Tensor> parts;
  for (size_t r : rows) parts.push_back(images[r]);
  return parts.size() == 1 ? parts[0] : cat(parts, 0);
}

// The model's outputs on `rows`, in eval mode, one scan at a time (memory).
std::vector<double> outputs(SupervisedNet& net, const std::vector<Tensor>& images, const std::vector<size_t>& rows) {
  NoGrad no_grad;
  net.eval();
  std::vector<double> out;
  for (size_t r : rows) out.push_back(net.forward(images[r]).to_vector()[0]);
  return out;
}

using Task = TaskRows;

struct Fit {
  std::shared_ptr<SupervisedNet> net;
  int64_t epoch = 0, epochs_run = 0;
  bool by_validation = false, stopped_early = false;
  double value = std::nan("");
  std::vector<double> val_per_epoch, train_loss_per_epoch;
  std::vector<double> val_bce_per_epoch;  // classification only: the selection's tie-break
  double seconds = 0;
};

// Trains one model on task.train. classification: BCE + highest validation MCC; else MSE +
// lowest validation MAE in years (outputs * age_scale). can_select false: the last epoch.
Fit fit(const std::vector<Tensor>& images, const Task& task, bool classification, bool can_select,
        double age_scale, const std::string& preset, const SupervisedOptions& o) {
  const auto t0 = std::chrono::steady_clock::now();
  Generator init = stream(o.seed, classification ? kClsInit : kAgeInit);
  auto drop = std::make_shared<Generator>(stream(o.seed, classification ? kClsDrop : kAgeDrop));
  Generator shuffle = stream(o.seed, classification ? kClsShuffle : kAgeShuffle);
  Fit r;
  r.net = std::make_shared<SupervisedNet>(preset, init, drop);
  SupervisedNet& net = *r.net;
  // The age model starts at the mean train age (normalised): a random head on the unit-scale
  // code would start about 0.5 (a range's half, e.g. 15 years) off, more than a few epochs
  // from scratch undo (course, 1 epoch: test MAE 17.5 years with the default head).
  if (!classification)
    net.start_constant(std::accumulate(task.y_train.begin(), task.y_train.end(), 0.0) /
                       static_cast<double>(task.y_train.size()));
  nn::AdamOptions a;
  a.lr = classification ? o.lr_classifier : o.lr_age;
  a.eps = o.eps;
  a.weight_decay = classification ? 0.0 : o.weight_decay_age;
  nn::Adam opt(net.named_parameters(), a);
  const std::vector<Tensor> params = net.parameters();
  const std::string name = classification ? "AD vs CN" : "age";
  const int64_t patience = classification ? o.patience_classifier : o.patience_age;
  const size_t m = task.train.size(), bs = static_cast<size_t>(o.batch_size);
  const size_t batches = (m + bs - 1) / bs;
  std::map<std::string, Tensor> best;
  EpochSelector selector(classification, o.threshold, age_scale, EpochSelector::AgeError::Mae);
  int64_t since_best = 0;
  for (int64_t epoch = 1; epoch <= o.epochs; ++epoch) {
    const auto te = std::chrono::steady_clock::now();
    net.train();
    const std::vector<size_t> order = permutation(m, shuffle);
    double loss_sum = 0;
    net.zero_grad();
    for (size_t b = 0; b < batches; ++b) {
      std::vector<size_t> rows;
      std::vector<double> y;
      for (size_t i = b * bs; i < std::min(m, (b + 1) * bs); ++i) {
        rows.push_back(task.train[order[i]]);
        y.push_back(task.y_train[order[i]]);
      }
      const Tensor x = stack(images, rows);  // (b, 1, X, Y, Z)
      const Tensor target = Tensor::from_vector(y, {static_cast<int64_t>(y.size())}, DType::F32);
      const Tensor out = net.forward(x);     // (b,)
      const Tensor loss = classification ? ag::binary_cross_entropy_with_logits(out, target) : ag::mse_loss(out, target);
      const double lv = loss.item();
      check(std::isfinite(lv), kOp, name + ": the training loss is not finite at epoch " + std::to_string(epoch));
      loss_sum += lv * static_cast<double>(rows.size());
      ag::backward(ag::mul_scalar(loss, 1.0 / static_cast<double>(o.accumulation)));
      if ((b + 1) % static_cast<size_t>(o.accumulation) == 0 || b + 1 == batches) {
        const double gn = nn::clip_grad_norm(params, o.clip);
        check(std::isfinite(gn), kOp, name + ": the gradient norm is not finite at epoch " + std::to_string(epoch));
        opt.step();
        net.zero_grad();
      }
    }
    r.train_loss_per_epoch.push_back(loss_sum / static_cast<double>(m));
    r.epochs_run = epoch;
    std::string val_text;
    if (can_select) {
      const bool better = selector.improves(outputs(net, images, task.val), task.y_val);
      const double value = selector.last_value();
      if (classification) r.val_bce_per_epoch.push_back(selector.last_bce());
      r.val_per_epoch.push_back(value);
      if (better) {
        best = copy_state(net);
        r.epoch = epoch;
        r.value = value;
        since_best = 0;
      } else {
        ++since_best;
      }
      char buf[160];
      std::snprintf(buf, sizeof buf, ", validation %s %.4g (best %.4g at epoch %lld)", classification ? "MCC" : "MAE",
                    value, selector.best_value(), static_cast<long long>(r.epoch));
      val_text = buf;
    }
    if (o.progress)
      std::fprintf(stderr, "supervised %s: epoch %lld/%lld, train loss %.5g%s, %.1f s\n", name.c_str(),
                   static_cast<long long>(epoch), static_cast<long long>(o.epochs), r.train_loss_per_epoch.back(),
                   val_text.c_str(), nn::seconds_since(te));
    if (can_select && since_best >= patience && epoch < o.epochs) {
      r.stopped_early = true;
      break;
    }
  }
  if (can_select) {
    net.load_state_dict(best);
    r.by_validation = true;
  } else {
    r.epoch = r.epochs_run;
  }
  r.seconds = nn::seconds_since(t0);
  return r;
}

void check_options(const SupervisedOptions& o) {
  check(o.epochs >= 1, kOp, "epochs must be >= 1, got " + std::to_string(o.epochs));
  check(o.patience_classifier >= 1 && o.patience_age >= 1, kOp, "patience must be >= 1");
  check(o.batch_size >= 1, kOp, "batch_size must be >= 1, got " + std::to_string(o.batch_size));
  check(o.accumulation >= 1, kOp, "accumulation must be >= 1, got " + std::to_string(o.accumulation));
  check(o.clip > 0, kOp, "clip must be positive");
  check(o.eps > 0, kOp, "eps must be positive");
  check(o.lr_classifier > 0 && o.lr_age > 0, kOp, "learning rates must be positive");
  check(o.weight_decay_age >= 0, kOp, "weight_decay_age must be >= 0");
  check(o.threshold > 0 && o.threshold < 1, kOp, "threshold must be in (0, 1)");
  check(o.bootstrap >= 0, kOp, "bootstrap must be >= 0, got " + std::to_string(o.bootstrap));
  check(o.level > 0 && o.level < 1, kOp, "level must be in (0, 1)");
}

}  // namespace

int64_t supervised_epochs(const std::string& preset) {
  nets::check_preset(preset);
  if (preset == "tiny") return 4;
  if (preset == "course") return 1;
  return 50;
}

SupervisedOutcome run_supervised(const FeatureTable& t, const std::vector<Tensor>& images_in,
                                 const std::string& preset, const SupervisedOptions& o) {
  check_options(o);
  nets::check_preset(preset);
  validate_features(t, kOp);
  const std::string& src = t.source;
  const size_t n = static_cast<size_t>(t.rows());
  check(images_in.size() == n, kOp,
        src + ": " + std::to_string(images_in.size()) + " images for " + std::to_string(n) + " rows (one per row)");
  const Shape want = nets::preset_image_shape(preset);  // (1, 1, X, Y, Z)
  std::vector<Tensor> images;
  images.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    const Tensor& im = images_in[i];
    check(im.defined(), kOp, src + ": row " + std::to_string(i) + " has no image");
    const bool ok = im.dim() == 3 ? (im.size(0) == want[2] && im.size(1) == want[3] && im.size(2) == want[4])
                                  : im.shape() == want;
    check(ok, kOp, src + ": row " + std::to_string(i) + "'s image is " + shape_str(im.shape()) + ", the " + preset +
                       " encoder reads " + shape_str(want));
    images.push_back(im.detach().to(DType::F32).reshape(want).contiguous());
  }

  // ---- Refusals, all before training ----
  ProbeTasks tasks = split_probe_tasks(t, kOp, "AD-vs-CN classifier", "age regressor");
  Task& cls = tasks.classification;
  Task& age = tasks.age;
  const std::vector<size_t>& test_rows = tasks.test_rows;
  const double age_min = tasks.age_min, age_max = tasks.age_max, age_range = age_max - age_min;
  const bool cls_select = tasks.val_has_both_classes;
  const bool age_select = !age.val.empty();
  if (o.progress && !cls_select)
    std::fprintf(stderr, "supervised: warning: the val split lacks AD or CN scans; the classifier keeps its last epoch\n");

  // ---- Training ----
  const Fit fc = fit(images, cls, true, cls_select, 1.0, preset, o);
  const Fit fa = fit(images, age, false, age_select, age_range, preset, o);

  SupervisedOutcome out;
  const std::vector<double> logits = outputs(*fc.net, images, test_rows);
  const std::vector<double> ages = outputs(*fa.net, images, test_rows);
  for (size_t i = 0; i < test_rows.size(); ++i)
    out.predictions.push_back({test_rows[i], sigmoid(logits[i]), age_min + ages[i] * age_range});

  // ---- Test metrics, as the probes compute them ----
  const TestScores scores = score_test_predictions(
      t, tasks, out.predictions, {o.threshold, o.bootstrap, o.seed, o.level, kClsBootstrap, kAgeBootstrap});

  // ---- The report (the probe report's layout) ----
  json& rep = out.report;
  rep["stage"] = "supervised";
  rep["preset"] = preset;
  rep["settings"] = json{
      {"seed", o.seed},
      {"max_epochs", o.epochs},
      {"batch_size", o.batch_size},
      {"accumulation", o.accumulation},
      {"clip_grad_norm", o.clip},
      {"adam_eps", o.eps},
      {"threshold", o.threshold},
      {"bootstrap_resamples", o.bootstrap},
      {"interval_level", o.level},
      {"model", "AttentionSemanticEncoder (" + preset + " preset, from scratch) + Linear(E -> 1), end to end"},
      {"classifier",
       json{{"positive_class", "AD"}, {"loss", "BCE with logits"}, {"optimizer", "Adam"}, {"lr", o.lr_classifier},
            {"selection", "highest validation MCC, ties to the lower validation BCE; early stop after " +
                              std::to_string(o.patience_classifier) + " epochs without a better one"}}},
      {"age",
       json{{"loss", "MSE on min-max normalised age (train split's min and max)"},
            {"optimizer", "Adam"},
            {"lr", o.lr_age},
            {"weight_decay", o.weight_decay_age},
            {"selection", "lowest validation MAE in years, early stop after " + std::to_string(o.patience_age) +
                              " epochs without a lower one"}}},
      {"changes_from_published",
       json::array({"encoder from scratch (published: ImageNet ConvNeXt-S), so our own learning rates "
                    "(published: classifier 1e-6, regressor 5e-5)",
                    "epoch budget per preset (published: 50 epochs)",
                    "positive class AD, one logit + BCE (published: CN positive, 2 logits + CE)",
                    "validation = the val split by subject (published: a random 30 %)",
                    "age min/max from the train split (published: (age - 50.4) / 97.3)",
                    "the age head starts at the mean train age (published: PyTorch's Linear init)",
                    "full float32 (published: 16-mixed)",
                    "bootstrap 95% intervals over test subjects (published: none)",
                    "equal validation MCCs ranked by the validation BCE (published: the first such epoch)"})}};
  json c;
  c["selected_epoch"] = fc.epoch;
  c["selected_by"] = fc.by_validation ? "validation MCC" : "last epoch (the val split lacks AD or CN scans)";
  c["validation_mcc"] = fc.value;
  c["epochs_run"] = fc.epochs_run;
  c["stopped_early"] = fc.stopped_early;
  c["seconds"] = fc.seconds;
  add_classification_scores(c, t, tasks, scores);
  c["validation_mcc_per_epoch"] = fc.val_per_epoch;
  c["validation_bce_per_epoch"] = fc.val_bce_per_epoch;
  c["train_loss_per_epoch"] = fc.train_loss_per_epoch;
  rep["classification"] = c;
  json a;
  a["selected_epoch"] = fa.epoch;
  a["selected_by"] = fa.by_validation ? "validation MAE" : "last epoch (no val scan has an age)";
  a["validation_mae"] = fa.value;
  a["epochs_run"] = fa.epochs_run;
  a["stopped_early"] = fa.stopped_early;
  a["seconds"] = fa.seconds;
  a["age_min"] = age_min;
  a["age_max"] = age_max;
  add_age_scores(a, t, tasks, scores);
  a["validation_mae_per_epoch"] = fa.val_per_epoch;
  a["train_loss_per_epoch"] = fa.train_loss_per_epoch;
  rep["age"] = a;
  return out;
}

SupervisedOutcome run_supervised(const data::Manifest& manifest, const std::string& preset,
                                 const SupervisedOptions& o) {
  nets::check_preset(preset);
  check(manifest.column_index("split") >= 0, kOp, manifest.source + ": no split column (give a latent cache's manifest.csv)");
  const size_t n = manifest.rows.size();
  check(n > 0, kOp, manifest.source + ": no rows");
  std::vector<std::string> splits;
  for (size_t i = 0; i < n; ++i) splits.push_back(manifest.field(i, "split"));
  FeatureTable table = features_from_manifest(manifest, splits, Tensor::zeros({static_cast<int64_t>(n), 1}, DType::F64));
  table.source = manifest.source;
  const Shape want = nets::preset_image_shape(preset);
  std::vector<Tensor> images;
  data::ReadOptions quiet;
  quiet.quiet = true;
  for (size_t i = 0; i < n; ++i) {
    const std::string& path = manifest.rows[i].full_path;
    data::Volume v;
    try {
      v = data::read_nifti(path, quiet);
    } catch (const Error& e) {
      fail(kOp, e.what());
    }
    const Shape s = v.voxels.shape();
    check(s == Shape{want[2], want[3], want[4]}, kOp,
          path + ": the scan is " + shape_str(s) + " (X, Y, Z), the " + preset + " encoder reads " +
              shape_str({want[2], want[3], want[4]}));
    images.push_back(data::normalize_intensity(v).voxels.reshape(want).to(DType::F32).contiguous());  // [0, 1]
  }
  return run_supervised(table, images, preset, o);
}

void write_supervised_outputs(const std::string& dir, const data::Manifest& manifest, const SupervisedOutcome& outcome) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::create_directories(dir, ec);
  check(!ec && fs::is_directory(dir), kOp, dir + ": cannot create the output folder (" + ec.message() + ")");
  const double threshold = outcome.report["settings"]["threshold"].get<double>();
  const std::string path = (fs::path(dir) / "predictions.csv").string();
  std::ofstream f(path, std::ios::binary);
  check(f.good(), kOp, path + ": cannot write the file");
  f << "subject,session,diagnosis,age,ad_probability,predicted,age_predicted\n";
  char buf[160];
  for (const Prediction& p : outcome.predictions) {
    check(p.row < manifest.rows.size(), kOp, "a prediction's row is outside the manifest");
    const data::ManifestRow& r = manifest.rows[p.row];
    std::string age_text;
    if (std::isfinite(r.age)) {
      std::snprintf(buf, sizeof buf, "%.10g", r.age);
      age_text = buf;
    }
    std::snprintf(buf, sizeof buf, "%.9g,%s,%.6f", p.ad_probability, p.ad_probability > threshold ? "AD" : "CN",
                  p.age_predicted);
    f << r.subject << ',' << r.session << ',' << r.diagnosis << ',' << age_text << ',' << buf << "\n";
  }
  check(f.good(), kOp, path + ": write failed");
  run::write_json_atomic((fs::path(dir) / "supervised.json").string(), outcome.report);
}

}  // namespace ldae::probe
