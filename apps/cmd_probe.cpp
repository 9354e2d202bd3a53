// ldae probe --features features.csv --out DIR [--seed N] [--epochs E] [--bootstrap B] [--pca K]
// ldae probe --oracle-column NAME --data MANIFEST --out DIR [...]
// The linear probes of the semantic features (ldae/probe.h): AD vs CN (AD positive) and age,
// test metrics with bootstrap intervals over test subjects; DIR/probe.json, predictions.csv,
// roc.png, probes.safetensors.
#include <cstdio>
#include <memory>

#include "apps/command.h"
#include "ldae/probe.h"

namespace {

struct ProbeArgs {
  ldae::stages::ProbeRequest req;
  bool quiet = false;
};

void run_probe(ProbeArgs a) {
  if (a.req.features.empty() && a.req.oracle_column.empty())
    throw CLI::RequiredError("--features (or --oracle-column with --data)");
  if (!a.req.features.empty() && !a.req.oracle_column.empty())
    throw CLI::ValidationError("--oracle-column", "give either --features or --oracle-column, not both");
  if (!a.req.oracle_column.empty() && a.req.manifest.empty())
    throw CLI::ValidationError("--oracle-column", "needs --data MANIFEST");
  if (a.req.oracle_column.empty() && !a.req.manifest.empty())
    throw CLI::ValidationError("--data", "is only for --oracle-column");
  a.req.progress = !a.quiet;
  const ldae::stages::ProbeResult r = ldae::stages::probe(a.req);
  const auto& c = r.report["classification"]["test"];
  const auto& ag = r.report["age"]["test"];
  std::printf("%s: AD vs CN on %d test scans: AUC %.4f, accuracy %.4f, precision %.4f, recall %.4f, F1 %.4f, MCC %.4f "
              "(epoch %d); age on %d test scans: MAE %.3f, RMSE %.3f years (epoch %d)\n",
              a.req.out.c_str(), c["scans"].get<int>(), c["auc"].get<double>(), c["accuracy"].get<double>(),
              c["precision"].get<double>(), c["recall"].get<double>(), c["f1"].get<double>(), c["mcc"].get<double>(),
              r.report["classification"]["selected_epoch"].get<int>(), ag["scans"].get<int>(), ag["mae"].get<double>(),
              ag["rmse"].get<double>(), r.report["age"]["selected_epoch"].get<int>());
}

void add_probe_command(CLI::App& app) {
  auto a = std::make_shared<ProbeArgs>();
  CLI::App* sub = app.add_subcommand(
      "probe",
      "Linear probes of per-scan features (ldae-reference 7.2): AD vs CN (AD = positive class; BCE + Adam) and age "
      "(MSE + SGD), z-scored with train statistics, model selection on the val split (by subject), test metrics "
      "with bootstrap intervals over test subjects. Writes OUT/probe.json, predictions.csv, roc.png, "
      "probes.safetensors");
  sub->add_option("--features", a->req.features,
                  "features.csv: subject,session,diagnosis,age,split,y0,...,y{d-1} (split train|val|test by subject)");
  sub->add_option("--oracle-column", a->req.oracle_column,
                  "Instead of --features: probe one numeric column of the manifest given with --data (the oracle "
                  "baseline, e.g. hippocampus_ml). Split: the manifest's split column, else by subject as train-ae");
  sub->add_option("--data", a->req.manifest, "The manifest for --oracle-column");
  sub->add_option("--out", a->req.out, "Output folder (created)")->required();
  sub->add_option("--seed", a->req.options.seed, "Initialisation, batch order and bootstrap")->capture_default_str();
  sub->add_option("--epochs", a->req.options.epochs, "Epochs of each probe")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--batch-size", a->req.options.batch_size, "Batch size")->check(CLI::PositiveNumber)->capture_default_str();
  sub->add_option("--bootstrap", a->req.options.bootstrap, "Bootstrap resamples of test subjects (0: no intervals)")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  sub->add_option("--pca", a->req.pca_components,
                  "Replace the features by their first K principal components (fitted on the train split) first")
      ->check(CLI::NonNegativeNumber);
  sub->add_option("--split-seed", a->req.split_seed, "--oracle-column without a split column: the split's seed")
      ->capture_default_str();
  sub->add_option("--val-fraction", a->req.val_fraction, "--oracle-column without a split column: validation fraction")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  sub->add_option("--test-fraction", a->req.test_fraction, "--oracle-column without a split column: test fraction")
      ->check(CLI::Range(0.0, 0.99))
      ->capture_default_str();
  sub->add_flag("--quiet", a->quiet, "No progress on stderr");
  sub->callback([a] { run_probe(*a); });
}

const ldae::app::Registration probe_registration("probe", 90, add_probe_command);

}  // namespace
