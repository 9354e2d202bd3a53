#include "ldae/evaluate.h"

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <map>
#include <optional>
#include <thread>

#include "data/figures.h"
#include "data/manifest.h"
#include "ldae/autoencoding.h"
#include "ldae/code_content.h"
#include "ldae/feature_table.h"
#include "ldae/inference_stages.h"
#include "ldae/latent_cache.h"
#include "ldae/manipulation_eval.h"
#include "ldae/metrics.h"
#include "ldae/pca.h"
#include "ldae/presets.h"
#include "ldae/probe.h"
#include "ldae/report.h"
#include "ldae/speed_eval.h"
#include "ldae/supervised_baseline.h"
#include "ldae/run/run_folder.h"
#include "ldae/train_repr.h"
#include "nn/progress.h"
#include "tensor/error.h"
#include "tensor/ops.h"

namespace ldae::stages {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr const char* kOp = "evaluate";
// The PCA baseline keeps the fewest components that explain this much of the training
// latents' variance.
constexpr double kPcaVarianceFraction = 0.95;

// The preset's evaluation budget: DDIM step counts, how many test scans are reconstructed at
// each (three modes), the autoencoder's test scans, and the interpolation and manipulation work.
struct Budget {
  std::vector<int64_t> steps;
  // ShiftUNet calls per step count: a step count S reconstructs max(1, calls / (4 S)) test
  // scans (each scan costs 4 S calls: encode, decode, y_sem only, unconditional; S more for
  // another subject's code where the step count has scans of two subjects), so the cheap step
  // counts are measured on more scans than the expensive ones.
  int64_t reconstruction_calls;
  int64_t autoencoder_scans;       // test scans through the autoencoder alone; -1: all
  int64_t interpolation_steps;     // DDIM steps of the interpolation's encodings and decodings
  int64_t interpolation_subjects;  // test subjects with three or more visits used
  int64_t manipulation_subjects;   // test subjects' baseline scans manipulated (AD and CN)
  int64_t speed_repetitions = 3;   // timed calls of each speed component (the image-space step: once)
  int64_t max_scans = -1;          // at most this many test scans per step count; -1: no cap

  // Test scans reconstructed at `steps` DDIM steps (before the split's size caps it).
  int64_t scans_at(int64_t steps) const {
    int64_t n = std::max<int64_t>(1, reconstruction_calls / (4 * steps));
    return max_scans >= 0 ? std::min(n, max_scans) : n;
  }
};

Budget preset_budget(const std::string& preset) {
  // tiny: 10 scans at 10 steps down to one at 100 (a tiny ShiftUNet call takes milliseconds).
  if (preset == "tiny") return {{10, 20, 50, 100}, 400, -1, 20, 4, 4};
  // course: a course ShiftUNet call (2.05 GMAC) takes about a twentieth of a second on 2 idle
  // cores, so the demo's 20-minute budget allows a few thousand calls: 8 test scans at 10
  // steps, 4 at 20, one at 50 and at 100 (1240 calls, and 160 for another subject's code at
  // 10 and 20 steps), four subjects' interpolation at 20 steps
  // (about 11 s each) and four manipulations at 20 steps (about 7 s each: two AD and two CN
  // subjects); the autoencoder alone on 40 test scans (a decode each, 0.3 s: the latent cache
  // holds the encodings).
  // The speed comparison adds one image-space ShiftUNet call at 64x80x64 (about 100 GMAC) and
  // 3 x the latent components.
  if (preset == "course") return {{10, 20, 50, 100}, 320, 40, 20, 4, 4};
  return {{10, 20, 50, 100}, 20000, -1, 100, 50, 20};
}

// What y_sem carries of the manifest's known quantities (ldae/code_content.h): for each of the
// synthetic cohort's ground-truth columns present (and age), the out-of-fold R^2 of ridge
// regression on y_sem over all scans, five folds by subject, at three penalties. Skipped with
// the reason when the features' rows cannot be matched to the manifest's or there is nothing to
// regress.
ordered_json y_sem_content(const probe::FeatureTable& features, const data::Manifest& manifest) {
  const std::vector<double> penalties = {0.1, 10, 1000};
  std::map<std::pair<std::string, std::string>, size_t> row_of;  // (subject, session) -> manifest row
  for (size_t i = 0; i < manifest.rows.size(); ++i)
    row_of[{manifest.rows[i].subject, std::to_string(manifest.rows[i].session)}] = i;
  std::vector<size_t> rows;
  for (int64_t i = 0; i < features.rows(); ++i) {
    const auto it = row_of.find({features.subject[static_cast<size_t>(i)], features.session[static_cast<size_t>(i)]});
    if (it == row_of.end()) return {{"skipped", "a features.csv row has no manifest row"}};
    rows.push_back(it->second);
  }
  ordered_json r2 = ordered_json::object();
  std::string text;
  for (const char* column : {"hippocampus_ml", "ventricle_ml", "gm_ml", "severity", "age"}) {
    if (manifest.column_index(column) < 0) continue;
    try {  // a column with a value that is not a finite number is skipped with the reason
      const std::vector<double> all = probe::manifest_numbers(manifest, column, "y_sem_content");
      std::vector<double> target;
      for (size_t row : rows) target.push_back(all[row]);
      const std::vector<double> values = probe::out_of_fold_r2(features, target, penalties);
      r2[column] = values;
      char buf[128];
      std::snprintf(buf, sizeof buf, "%s%s %.2f / %.2f / %.2f", text.empty() ? "" : "; ", column, values[0], values[1],
                    values[2]);
      text += buf;
    } catch (const Error& e) {
      r2[column] = {{"skipped", std::string(e.what())}};
    }
  }
  if (text.empty()) return {{"skipped", "no ground-truth column to regress"}};
  return {{"method", "ridge regression on the z-scored y_sem of every scan, 5 folds by subject (sorted subjects, "
                     "the k-th in fold k % 5); out-of-fold R^2"},
          {"penalties", penalties},
          {"r2", r2},
          {"summary", "What y_sem carries (out-of-fold R^2 of ridge regression on y_sem over all " +
                          std::to_string(features.rows()) + " scans, five folds by subject, penalties 0.1 / 10 / 1000; "
                          "1 is perfect, 0 or below nothing a linear read-out can use): " + text + "."}};
}

// The test rows in the order they are reconstructed: every subject's first visit (in manifest
// order), then every subject's second visit, and so on, so that the first n scans come from
// as many different subjects as possible.
std::vector<size_t> test_rows_spread_over_subjects(const LatentCache& cache) {
  std::vector<std::string> order;                           // subjects, first appearance
  std::map<std::string, std::vector<size_t>> by_subject;  // subject -> rows by session
  for (size_t r : rows_of_split(cache, "test")) {
    const std::string& s = cache.manifest.rows[r].subject;
    if (!by_subject.count(s)) order.push_back(s);
    by_subject[s].push_back(r);
  }
  for (auto& [s, rows] : by_subject)
    std::stable_sort(rows.begin(), rows.end(), [&](size_t a, size_t b) {
      return cache.manifest.rows[a].session < cache.manifest.rows[b].session;
    });
  std::vector<size_t> out;
  for (size_t visit = 0;; ++visit) {
    const size_t before = out.size();
    for (const std::string& s : order)
      if (visit < by_subject[s].size()) out.push_back(by_subject[s][visit]);
    if (out.size() == before) return out;
  }
}

// Mean SSIM and MSE over scans.
struct Scores {
  double ssim = 0, mse = 0;
  int64_t n = 0;
  void add(const Tensor& image, const Tensor& reference) {
    ssim += metrics::ssim3d(image, reference).mean;
    mse += metrics::mse(image, reference).mean;
    ++n;
  }
  ordered_json json_value() const {
    return {{"ssim", n ? ssim / n : NAN}, {"mse", n ? mse / n : NAN}, {"scans", n}};
  }
};

// ---- Reconstruction ----------------------------------------------------------------------

// The control for y_sem-only sampling: the scan among the first `n` of `rows` whose code stands
// in for scan i's, the next one after i (cyclically) from another subject; -1 when all n scans
// are i's subject's. Sampling scan i's x_T draw with that code tells how much of the y_sem-only
// reconstruction's likeness is this scan's and how much any brain's.
int64_t other_subject_scan(const LatentCache& cache, const std::vector<size_t>& rows, size_t i, size_t n) {
  for (size_t k = 1; k < n; ++k) {
    const size_t j = (i + k) % n;
    if (cache.manifest.rows[rows[j]].subject != cache.manifest.rows[rows[i]].subject) return static_cast<int64_t>(j);
  }
  return -1;
}

// The scaled latent z0 (1, C, d, h, w) of manifest row `row`, whose scan is `volume`. A cache of
// posterior means already holds it: cache-latents encoded this very scan with this autoencoder
// (the run's checkpoint), so the autoencoder's encoder is not run again; otherwise (a cache of
// posterior samples, image space) it is computed.
Tensor scan_latent(infer::LdaeModel& model, const LatentCache& cache, size_t row, const Tensor& volume) {
  const bool cached_means =
      !model.space().image_space() && !cache.image_space && cache.info.value("mode", "") == "mean";
  if (!cached_means) return infer::scaled_latent(model.space(), volume);
  const Shape& ls = cache.latent_shape;  // (C, d, h, w)
  return read_scaled_latent(cache, row).reshape({1, ls[0], ls[1], ls[2], ls[3]});
}

ordered_json evaluate_reconstruction(infer::LdaeModel& model, const LatentCache& cache, const Budget& budget,
                                     uint64_t seed, const std::string& figure_path, bool progress) {
  const std::vector<size_t> rows = test_rows_spread_over_subjects(cache);
  if (rows.empty()) return {{"skipped", "the test split is empty"}};
  auto capped = [&](int64_t n) { return n < 0 ? rows.size() : std::min(rows.size(), static_cast<size_t>(n)); };
  // The autoencoder alone (encode to the posterior mean, decode) on its own, larger set.
  Scores vae;
  {
    const size_t n = capped(budget.autoencoder_scans);
    nn::Progress bar("evaluate: autoencoder", static_cast<int64_t>(n));
    for (size_t i = 0; i < n; ++i) {
      const Scan scan = read_scan(kOp, model, cache.manifest.rows[rows[i]].full_path);
      vae.add(infer::to_image(model.space(), scan_latent(model, cache, rows[i], scan.tensor)), scan.tensor);
      if (progress) bar.update(static_cast<int64_t>(i + 1));
    }
    if (progress) bar.finish();
  }
  // How many scans each step count reconstructs; the scans are the first of `rows`.
  size_t n_max = 0;
  int64_t calls_total = 0;
  std::map<int64_t, size_t> scans_at;
  for (int64_t s : budget.steps) {
    scans_at[s] = capped(budget.scans_at(s));
    n_max = std::max(n_max, scans_at[s]);
    calls_total += 4 * s * static_cast<int64_t>(scans_at[s]);  // encode + decode, semantic, unconditional
    for (size_t i = 0; i < scans_at[s]; ++i)                      // and another subject's code
      if (other_subject_scan(cache, rows, i, scans_at[s]) >= 0) calls_total += s;
  }
  // y_sem of every scan reconstructed, before the loop: the control needs other scans' codes.
  std::vector<Tensor> codes;  // (1, E) each
  for (size_t i = 0; i < n_max; ++i)
    codes.push_back(infer::semantic_code(*model.encoder, read_scan(kOp, model, cache.manifest.rows[rows[i]].full_path).tensor));
  std::map<int64_t, Scores> encoded, semantic, uncond, other_code;
  // The unconditional latent DDIM: the stage-2 model alone, from the same x_T draws.
  const infer::ConditionalDenoiser plain = infer::unshifted_denoiser(*model.shift_unet);
  nn::Progress bar("evaluate: reconstructions", calls_total);
  int64_t calls = 0;
  for (size_t i = 0; i < n_max; ++i) {
    const Scan scan = read_scan(kOp, model, cache.manifest.rows[rows[i]].full_path);
    const Tensor& x = scan.tensor;  // (1, 1, X, Y, Z)
    // The two encoders once per scan, for every step count and mode (as reconstruct would).
    const Tensor z0 = scan_latent(model, cache, rows[i], x);         // (1, C, d, h, w)
    const Tensor& y_sem = codes[i];                                  // (1, E)
    std::vector<data::Volume> fig;
    std::vector<data::Display> disp;
    for (int64_t steps : budget.steps) {
      if (i >= scans_at[steps]) continue;
      infer::AutoencodingOptions o = infer::AutoencodingOptions::fixed(steps).in_space(model.space());
      o.on_step = [&](const std::string&, int64_t, int64_t) {
        if (progress) bar.update(++calls);
      };
      const infer::Reconstruction enc = infer::reconstruct_from(model, z0, y_sem, infer::Mode::Encoded, o);
      encoded[steps].add(enc.image, x);
      // y_sem only and unconditional from the same x_T draw (one stream per scan).
      Generator gen(seed, (uint64_t{1} << 40) * (i + 1));
      const infer::Reconstruction sem = infer::reconstruct_from(model, z0, y_sem, infer::Mode::Semantic, o, &gen);
      semantic[steps].add(sem.image, x);
      const Tensor unc_latent =
          infer::decode_latent(plain, model.schedule, sem.x_T, sem.y_sem, o.ddim("decode"));
      const Tensor unc = infer::to_image(model.space(), unc_latent);
      uncond[steps].add(unc, x);
      // The same x_T draw with another test subject's y_sem.
      if (const int64_t j = other_subject_scan(cache, rows, i, scans_at[steps]); j >= 0) {
        Generator same_draw(seed, (uint64_t{1} << 40) * (i + 1));
        other_code[steps].add(
            infer::reconstruct_from(model, z0, codes[static_cast<size_t>(j)], infer::Mode::Semantic, o, &same_draw).image,
            x);
      }
      if (i == 0 && steps == budget.steps.back()) {
        const std::string s = std::to_string(steps);
        fig = {scan.volume,
               volume_like(infer::to_image(model.space(), z0), scan.volume),
               volume_like(enc.image, scan.volume),
               volume_like(sem.image, scan.volume),
               volume_like(unc, scan.volume),
               data::difference(scan.volume, volume_like(enc.image, scan.volume))};
        const bool image = model.space().image_space();
        const char* titles_ldae[] = {"input", "autoencoder", "LDAE encoded", "LDAE y_sem only", "unconditional",
                                     "encoded - input"};
        const char* titles_dae[] = {"input", "input (2x-1 and back)", "DAE encoded", "DAE y_sem only",
                                    "image DDIM, unconditional", "encoded - input"};
        const char* const* titles = image ? titles_dae : titles_ldae;
        for (int k = 0; k < 6; ++k) {
          data::Display d;
          d.title = titles[k] + std::string(k >= 2 && k <= 4 ? " (" + s + " steps)" : "");
          if (k < 5) d.vmin = 0, d.vmax = 1;
          else d.map = data::ColorMap::Diverging;
          disp.push_back(d);
        }
      }
    }
    if (!fig.empty()) data::write_png(figure_path, data::figure_grid(fig, disp));
  }
  if (progress) bar.finish();
  ordered_json out;
  out["vae"] = vae.json_value();
  ordered_json ldae;
  const std::vector<std::pair<const char*, const std::map<int64_t, Scores>*>> parts = {
      {"encoded", &encoded}, {"semantic_only", &semantic}, {"unconditional", &uncond},
      {"other_subject_code", &other_code}};
  for (const auto& [name, part] : parts) {
    if (part->empty()) continue;  // no step count had scans of two subjects
    ordered_json p;
    for (const auto& [steps, sc] : *part) p[std::to_string(steps)] = sc.json_value();
    ldae[name] = p;
  }
  out["ldae"] = ldae;
  return out;
}

// ---- The image-space diffusion autoencoder (the paper's DAE baseline) --------------------

// Refuses an image DAE whose cache does not hold the LDAE's scans with the LDAE's split, row
// for row (both caches come from the same stage-1 run: cache-latents --image-space).
void check_same_split(const LatentCache& ldae, const LatentCache& dae, const std::string& dae_run) {
  const std::string why = "the image DAE " + dae_run + " (cache " + dae.folder + ") ";
  if (dae.manifest.rows.size() != ldae.manifest.rows.size())
    fail(kOp, why + "has " + std::to_string(dae.manifest.rows.size()) + " scans, the LDAE's cache " + ldae.folder +
                  " has " + std::to_string(ldae.manifest.rows.size()) +
                  "; make its cache with cache-latents --image-space --ae <the LDAE's stage-1 run>");
  for (size_t i = 0; i < ldae.manifest.rows.size(); ++i) {
    const auto &a = ldae.manifest.rows[i], &b = dae.manifest.rows[i];
    if (a.subject != b.subject || a.session != b.session ||
        ldae.manifest.field(i, "split") != dae.manifest.field(i, "split"))
      fail(kOp, why + "differs from the LDAE's cache at row " + std::to_string(i + 1) + " (" + a.subject + " M" +
                    std::to_string(a.session) + " " + ldae.manifest.field(i, "split") + " vs " + b.subject + " M" +
                    std::to_string(b.session) + " " + dae.manifest.field(i, "split") +
                    "): the baseline needs the same scans and split");
  }
}

// ---- Interpolation of missing visits ------------------------------------------------------

// For every test subject with three or more visits (at most budget.interpolation_subjects)
// and every pair of visits (i, j) with at least one visit k between them (ldae-reference
// 7.4): y_sem LERP and x_T SLERP at alpha = (t_k - t_i) / (t_j - t_i), decoded, scored
// against the real visit k (and against the autoencoder's reconstruction of it, the
// published target), next to two baselines that need no model: the nearer of the two
// visits, and the linear blend (1 - alpha) x_i + alpha x_j of the two scans.
ordered_json evaluate_interpolation(infer::LdaeModel& model, const LatentCache& cache, const Budget& budget,
                                    bool progress) {
  std::map<std::string, std::vector<size_t>> visits;  // subject -> test rows by session
  for (size_t r : rows_of_split(cache, "test")) visits[cache.manifest.rows[r].subject].push_back(r);
  std::vector<std::vector<size_t>> subjects;
  for (auto& [subject, rows] : visits) {
    if (rows.size() < 3) continue;
    std::sort(rows.begin(), rows.end(), [&](size_t a, size_t b) {
      return cache.manifest.rows[a].session < cache.manifest.rows[b].session;
    });
    if (static_cast<int64_t>(subjects.size()) < budget.interpolation_subjects) subjects.push_back(rows);
  }
  if (subjects.empty()) return {{"skipped", "no test subject has three or more visits"}};
  const infer::AutoencodingOptions o =
      infer::AutoencodingOptions::fixed(budget.interpolation_steps).in_space(model.space());
  struct Gap {
    Scores ldae, ldae_vs_ae, nearest, blend;
  };
  std::map<int64_t, Gap> by_gap;  // months between the two known visits
  nn::Progress bar("evaluate: interpolation", static_cast<int64_t>(subjects.size()));
  for (size_t s = 0; s < subjects.size(); ++s) {
    const std::vector<size_t>& rows = subjects[s];
    // Each visit once: the scan, y_sem, x_T and the autoencoder's reconstruction.
    std::vector<Tensor> x, y, xT, ae;
    for (size_t r : rows) {
      const Scan scan = read_scan(kOp, model, cache.manifest.rows[r].full_path);
      x.push_back(scan.tensor);
      y.push_back(infer::semantic_code(*model.encoder, scan.tensor));
      const Tensor z0 = scan_latent(model, cache, r, scan.tensor);
      xT.push_back(infer::encode_xT(*model.shift_unet, model.schedule, z0, y.back(), o.ddim("encode")));
      ae.push_back(infer::to_image(model.space(), z0));
    }
    for (size_t i = 0; i < rows.size(); ++i)
      for (size_t j = i + 2; j < rows.size(); ++j) {
        const int64_t ti = cache.manifest.rows[rows[i]].session, tj = cache.manifest.rows[rows[j]].session;
        for (size_t k = i + 1; k < j; ++k) {
          const double alpha = static_cast<double>(cache.manifest.rows[rows[k]].session - ti) /
                               static_cast<double>(tj - ti);
          const Tensor lat =
              infer::interpolate(*model.shift_unet, model.schedule, y[i], y[j], xT[i], xT[j], {alpha},
                                 o.ddim("decode"))[0];
          const Tensor img = infer::to_image(model.space(), lat);
          Gap& g = by_gap[tj - ti];
          g.ldae.add(img, x[k]);
          g.ldae_vs_ae.add(img, ae[k]);
          g.nearest.add(alpha <= 0.5 ? x[i] : x[j], x[k]);
          g.blend.add(add(mul_scalar(x[i], 1.0 - alpha), mul_scalar(x[j], alpha)), x[k]);
        }
      }
    if (progress) bar.update(static_cast<int64_t>(s + 1));
  }
  if (progress) bar.finish();
  auto f3 = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.3f", v);
    return std::string(b);
  };
  auto f5 = [](double v) {
    char b[32];
    std::snprintf(b, sizeof b, "%.5f", v);
    return std::string(b);
  };
  ordered_json out, gaps = ordered_json::object();
  ordered_json table = ordered_json::array({{"gap (months)", "predictions", "SSIM LDAE", "SSIM nearest visit",
                                             "SSIM linear blend", "MSE LDAE", "MSE nearest visit",
                                             "MSE linear blend", "SSIM LDAE vs AE recon."}});
  for (const auto& [gap, g] : by_gap) {
    gaps[std::to_string(gap)] = {{"ldae", g.ldae.json_value()},
                                 {"ldae_vs_autoencoder", g.ldae_vs_ae.json_value()},
                                 {"nearest_visit", g.nearest.json_value()},
                                 {"linear_blend", g.blend.json_value()}};
    table.push_back({std::to_string(gap), std::to_string(g.ldae.n), f3(g.ldae.ssim / g.ldae.n),
                     f3(g.nearest.ssim / g.nearest.n), f3(g.blend.ssim / g.blend.n), f5(g.ldae.mse / g.ldae.n),
                     f5(g.nearest.mse / g.nearest.n), f5(g.blend.mse / g.blend.n),
                     f3(g.ldae_vs_ae.ssim / g.ldae_vs_ae.n)});
  }
  out["subjects"] = subjects.size();
  out["steps"] = budget.interpolation_steps;
  out["by_gap"] = gaps;
  out["summary"] =
      "Test subjects with three or more visits (" + std::to_string(subjects.size()) + "), every pair of visits "
      "with visits between them: LERP of y_sem and SLERP of x_T (" + std::to_string(budget.interpolation_steps) +
      " DDIM steps) at the true time fraction, scored against the real intermediate scan; the nearest known "
      "visit and the linear blend of the two scans are the baselines. The paper scores against the autoencoder's "
      "reconstruction of the intermediate scan (last column): SSIM 0.969 at 6 months, above 0.93 at 24.";
  out["table"] = table;
  return out;
}

// The test metrics of a probe.json (ldae/probe.h) in results.json's layout:
//   ad_vs_cn {auc, acc, precision, recall, specificity, f1, mcc, <name>_ci [low, high]},
//   age {mae, rmse, <name>_ci}, plus the test counts.
ordered_json probe_summary(const ordered_json& report) {
  ordered_json out;
  const ordered_json& ct = report.at("classification").at("test");
  const ordered_json* ci = report["classification"].contains("intervals") ? &report["classification"]["intervals"]
                                                                           : nullptr;
  ordered_json c;
  const std::pair<const char*, const char*> names[] = {{"auc", "auc"},         {"acc", "accuracy"},
                                                       {"precision", "precision"}, {"recall", "recall"},
                                                       {"specificity", "specificity"}, {"f1", "f1"},
                                                       {"mcc", "mcc"}};
  for (const auto& [ours, theirs] : names) {
    c[ours] = ct.at(theirs);
    if (ci && ci->contains(theirs))
      c[std::string(ours) + "_ci"] = {(*ci)[theirs].at("low"), (*ci)[theirs].at("high")};
  }
  c["test_scans"] = ct.at("scans");
  c["test_subjects"] = ct.at("subjects");
  for (const std::string dx : {"AD", "CN"})  // the AD and CN test subjects (older probe.json files lack them)
    if (ct.contains(dx + "_subjects")) c["test_subjects_" + dx] = ct[dx + "_subjects"];
  c["selected_epoch"] = report["classification"].at("selected_epoch");
  out["ad_vs_cn"] = c;
  const ordered_json& at = report.at("age").at("test");
  ordered_json a;
  for (const char* k : {"mae", "rmse"}) {
    a[k] = at.at(k);
    if (report["age"].contains("intervals"))
      a[std::string(k) + "_ci"] = {report["age"]["intervals"][k].at("low"), report["age"]["intervals"][k].at("high")};
  }
  a["test_scans"] = at.at("scans");
  out["age"] = a;
  return out;
}

}  // namespace

std::string image_pca_too_large(int64_t scans, int64_t voxels) {
  const double values = static_cast<double>(scans) * static_cast<double>(voxels);
  if (values <= kMaxImagePcaValues) return "";
  char why[256];
  std::snprintf(why, sizeof why,
                "%lld training scans of %lld voxels (%.3g values) exceed the %.3g this baseline holds in memory",
                static_cast<long long>(scans), static_cast<long long>(voxels), values, kMaxImagePcaValues);
  return why;
}

EvaluateResult evaluate(const EvaluateRequest& r) {
  const auto t_start = std::chrono::steady_clock::now();
  const fs::path out = r.out, eval_dir = fs::path(r.out) / "evaluation";
  std::error_code ec;
  fs::create_directories(eval_dir, ec);
  if (ec) fail(kOp, "cannot create " + eval_dir.string() + ": " + ec.message());

  // ---- The trained model and its data ----
  const json config3 = run::require_finished_stage(r.repr_run, "train-repr");
  const std::string preset = r.preset.empty() ? config3.value("preset", std::string("tiny")) : r.preset;
  TrainedLdae trained = load_trained_ldae(r.repr_run, "last", /*ema=*/true);
  infer::LdaeModel model = model_from_trained(trained);
  const LatentCache cache = open_latent_cache(config3.at("data").at("latents").get<std::string>());
  // The image-space DAE baseline: checked and loaded before any work (refused when it is not
  // a finished image-space run or its scans or split differ from the LDAE's).
  std::optional<infer::LdaeModel> dae;
  std::optional<LatentCache> dae_cache;
  if (!r.image_dae_run.empty()) {
    const json config_dae = run::require_finished_stage(r.image_dae_run, "train-repr");
    dae_cache = open_latent_cache(config_dae.at("data").at("latents").get<std::string>());
    if (!dae_cache->image_space)
      fail(kOp, "--image-dae " + r.image_dae_run + " is a latent-space run (its cache " + dae_cache->folder +
                    " was not made with cache-latents --image-space)");
    check_same_split(cache, *dae_cache, r.image_dae_run);
    dae = model_from_trained(load_trained_ldae(r.image_dae_run, "last", /*ema=*/true));
  }
  Budget budget = preset_budget(preset);
  if (!r.steps.empty()) budget.steps = r.steps;
  if (r.max_reconstructions >= 0) budget.max_scans = r.max_reconstructions;

  ordered_json results;
  results["preset"] = preset;
  results["seed"] = r.seed;
  results["threads"] = run::thread_count_hint();
  results["machine"] = {{"cpu", cpu_name()}, {"cores", std::thread::hardware_concurrency()}};
  results["program"] = run::program_version();
  results["metrics"] = {{"ssim_kernel", metrics::SsimOptions{}.kernel_size},
                        {"sampler", infer::AutoencodingOptions::fixed(10).name()}};
  {
    std::map<std::string, int64_t> split_counts;
    std::map<std::string, bool> subjects;
    for (size_t i = 0; i < cache.manifest.rows.size(); ++i) {
      ++split_counts[cache.manifest.field(i, "split")];
      subjects[cache.manifest.rows[i].subject] = true;
    }
    results["cohort"] = {{"subjects", subjects.size()},
                         {"scans", cache.manifest.rows.size()},
                         {"split", {{"train", split_counts["train"]}, {"val", split_counts["val"]},
                                    {"test", split_counts["test"]}}}};
  }

  // ---- y_sem of every scan -> features.csv ----
  auto t0 = std::chrono::steady_clock::now();
  EncodeRequest enc;
  enc.manifest = (fs::path(cache.folder) / "manifest.csv").string();
  enc.out = (eval_dir / "codes").string();
  enc.with_xT = false;
  enc.progress = r.progress;
  const EncodeResult codes = encode_scans(model, enc);
  fs::copy_file(codes.features, out / "features.csv", fs::copy_options::overwrite_existing, ec);
  if (ec) fail(kOp, "cannot write " + (out / "features.csv").string() + ": " + ec.message());
  double t_features = nn::seconds_since(t0);

  // ---- Reconstructions ----
  t0 = std::chrono::steady_clock::now();
  const ordered_json rec = evaluate_reconstruction(model, cache, budget, r.seed,
                                                   (eval_dir / "reconstructions.png").string(), r.progress);
  const double t_rec = nn::seconds_since(t0);
  if (rec.contains("skipped")) {
    results["vae"] = rec;
    results["ldae"] = rec;
  } else {
    results["vae"] = rec["vae"];
    results["ldae"] = rec["ldae"];
  }

  // ---- Linear probes on y_sem and the baselines ----
  t0 = std::chrono::steady_clock::now();
  probe::ProbeOptions po;
  po.seed = r.seed;
  if (r.probe_epochs > 0) po.epochs = r.probe_epochs;
  po.progress = r.progress;
  const probe::FeatureTable features = probe::read_features((out / "features.csv").string());
  std::optional<probe::ProbeOutcome> ldae_probe;  // kept for the manipulation
  auto run_probe = [&](const probe::FeatureTable& table, const std::string& name) -> ordered_json {
    try {
      const probe::ProbeOutcome o = probe::run_probes(table, po);
      probe::write_probe_outputs((eval_dir / ("probe_" + name)).string(), table, o);
      if (name == "ldae") ldae_probe = o;
      return probe_summary(o.report);
    } catch (const Error& e) {
      return {{"skipped", std::string(e.what())}};
    }
  };
  results["probe"] = run_probe(features, "ldae");
  {
    // How much y_sem differs between the scans, beside its magnitude (feature_spread).
    const probe::FeatureSpread sp = probe::feature_spread(features);
    const double ratio = sp.ratio();
    char text[512];
    std::snprintf(text, sizeof text,
                  "How much y_sem differs between scans: over the %lld scans of features.csv, each of its %lld "
                  "components has a standard deviation across scans (median over the components %.3g) and a "
                  "mean magnitude |mean| (median %.3g); ratio %.3g. A ratio far below 1 means the encoder gives "
                  "nearly every scan the same code: what tells subjects apart is a small part of it.",
                  static_cast<long long>(sp.scans), static_cast<long long>(features.dim()), sp.median_std,
                  sp.median_abs_mean, ratio);
    results["y_sem_spread"] = {{"scans", sp.scans},
                               {"median_component_std", sp.median_std},
                               {"median_component_abs_mean", sp.median_abs_mean},
                               {"ratio", ratio},
                               {"summary", text}};
  }
  results["y_sem_content"] = y_sem_content(features, cache.manifest);
  ordered_json baselines;
  // PCA of per-scan rows (one per manifest row, float64) + the same probes: the fewest
  // components that explain 95 % of the training rows' variance, at most as many as y_sem has
  // dimensions and the training scans - 1 (the Gram solver's limit: ldae/pca.h).
  // The fit sees the training rows only: `train_x` (M, d) holds the manifest rows train_rows, in
  // that order; `row(i)` reads any other manifest row i as (1, d), so that every row need not be
  // in memory at once. `unit` names a row ("latents"),
  // `what` the whole ("autoencoder latents").
  const std::vector<size_t> train_rows = features.rows_of_split("train");
  auto pca_baseline = [&](const Tensor& train_x, const std::function<Tensor(size_t)>& row, const std::string& name,
                          const std::string& unit, const std::string& what) -> ordered_json {
    const int64_t n_train = train_x.size(0);
    if (n_train < 2)
      return {{"skipped", "PCA needs at least 2 training " + unit + ", got " + std::to_string(n_train)}};
    const int64_t max_k = std::max<int64_t>(1, std::min<int64_t>(features.dim(), n_train - 1));
    const int64_t k = probe::components_for_variance(probe::fit_pca(train_x, max_k).explained_variance_ratio,
                                                     kPcaVarianceFraction);
    const probe::Pca pca = probe::fit_pca(train_x, k);
    // x: (scans, k), each row projected on its own; the training rows from train_x (read once).
    const size_t n = cache.manifest.rows.size();
    std::vector<int64_t> in_train_x(n, -1);  // manifest row -> its row of train_x
    for (size_t j = 0; j < train_rows.size(); ++j) in_train_x[train_rows[j]] = static_cast<int64_t>(j);
    Tensor x = Tensor::empty({static_cast<int64_t>(n), k}, DType::F64);
    double* out_row = x.mutable_data<double>();
    for (size_t i = 0; i < n; ++i, out_row += k) {
      const int64_t j = in_train_x[i];
      const Tensor z = pca.transform(j >= 0 ? train_x.slice(0, j, j + 1).contiguous() : row(i)).contiguous();  // (1, k)
      std::copy(z.data<double>(), z.data<double>() + k, out_row);
    }
    probe::FeatureTable table = features;
    table.x = x;
    table.feature_names.clear();
    for (int64_t j = 0; j < k; ++j) table.feature_names.push_back("pc" + std::to_string(j));
    table.source = what + " (PCA, " + std::to_string(k) + " components fitted on the train split)";
    ordered_json b = run_probe(table, name);
    b["description"] = "PCA (" + std::to_string(k) + " components: 95 % of the training " + unit +
                       "' variance) of the " + what;
    return b;
  };
  // Manifest rows `rows` as one (rows, d) float64 matrix, row(i) giving (1, d), filled row by
  // row (no second full copy, as cat would make).
  auto stack_rows = [](const std::vector<size_t>& rows, const std::function<Tensor(size_t)>& row) {
    if (rows.empty()) return Tensor::empty({0, 0}, DType::F64);
    const Tensor first = row(rows[0]).contiguous();
    const int64_t d = first.numel();
    Tensor x = Tensor::empty({static_cast<int64_t>(rows.size()), d}, DType::F64);
    double* out = x.mutable_data<double>();
    for (size_t j = 0; j < rows.size(); ++j, out += d) {
      const Tensor values = j == 0 ? first : row(rows[j]).contiguous();
      check(values.numel() == d, kOp,
            "manifest row " + std::to_string(rows[j]) + " has " + std::to_string(values.numel()) + " values, row " +
                std::to_string(rows[0]) + " " + std::to_string(d) + ": every scan must have the same shape");
      std::copy(values.data<double>(), values.data<double>() + d, out);
    }
    return x;
  };
  {
    // The autoencoder latents: the cache's latents (times the scale factor), flattened.
    auto latent_row = [&](size_t i) { return read_scaled_latent(cache, i).reshape({1, -1}).to(DType::F64); };
    baselines["pca_latents"] = pca_baseline(stack_rows(train_rows, latent_row), latent_row, "pca_latents",
                                            "latents", "autoencoder latents");
  }
  {
    // The images themselves (each scan in [0, 1] as the networks see it), flattened: what a
    // linear model can find without any network. When it fails too, a failing y_sem probe
    // says more about the cohort than about the encoder. Only the training scans are held in
    // memory; the others are read and projected one at a time.
    auto image_row = [&](size_t i) {
      return read_scan(kOp, model, cache.manifest.rows[i].full_path).tensor.reshape({1, -1}).to(DType::F64);
    };
    const int64_t voxels = read_scan(kOp, model, cache.manifest.rows[0].full_path).tensor.numel();
    if (const std::string why = image_pca_too_large(static_cast<int64_t>(train_rows.size()), voxels); !why.empty())
      baselines["pca_images"] = {{"skipped", why}};
    else
      baselines["pca_images"] =
          pca_baseline(stack_rows(train_rows, image_row), image_row, "pca_images", "images", "images");
  }
  {
    std::vector<std::string> splits;
    for (size_t i = 0; i < cache.manifest.rows.size(); ++i) splits.push_back(cache.manifest.field(i, "split"));
    ordered_json b = run_probe(probe::oracle_features(cache.manifest, "hippocampus_ml", splits), "oracle");
    b["description"] = "oracle: the true hippocampal volume";
    baselines["oracle_hippocampus"] = b;
  }
  try {  // the floor of the age column: no features, the mean training age for every test scan
    baselines["mean_age"] = {{"age", probe::mean_age_floor(features, po)},
                             {"description", "constant: the mean age of the training scans (no AD-vs-CN model)"}};
  } catch (const Error& e) {
    baselines["mean_age"] = {{"skipped", std::string(e.what())}};
  }
  const auto t_sup0 = std::chrono::steady_clock::now();
  {
    // The same 2.5D encoder trained from scratch on the images, one model per task
    // (ldae/supervised_baseline.h); the epoch budget per preset.
    probe::SupervisedOptions so;
    so.seed = r.seed;
    so.epochs = r.supervised_epochs > 0 ? r.supervised_epochs : probe::supervised_epochs(preset);
    so.progress = r.progress;
    ordered_json b;
    try {
      const probe::SupervisedOutcome o = probe::run_supervised(cache.manifest, preset, so);
      probe::write_supervised_outputs((eval_dir / "supervised").string(), cache.manifest, o);
      b = probe_summary(o.report);
    } catch (const Error& e) {
      b = {{"skipped", std::string(e.what())}};
    }
    b["description"] = "supervised: 2.5D encoder + linear head, end to end from scratch (at most " +
                       std::to_string(so.epochs) + (so.epochs == 1 ? " epoch" : " epochs") + " per task)";
    baselines["supervised"] = b;
  }
  const double t_supervised = nn::seconds_since(t_sup0);
  const double t_probe = nn::seconds_since(t0);

  // ---- The image-space DAE: the same probes on its y_sem, its reconstructions ----
  t0 = std::chrono::steady_clock::now();
  if (r.image_dae_run.empty()) {
    baselines["image_dae"] = {
        {"skipped", r.image_dae_skipped.empty()
                        ? std::string("not given (train one with cache-latents --image-space, "
                                      "train-ldm and train-repr, then pass ldae evaluate --image-dae RUN3_IMAGE)")
                        : r.image_dae_skipped}};
  } else {
    EncodeRequest de;
    de.manifest = (fs::path(cache.folder) / "manifest.csv").string();  // the LDAE's rows and splits
    de.out = (eval_dir / "codes_image_dae").string();
    de.with_xT = false;
    de.progress = r.progress;
    const probe::FeatureTable dae_features = probe::read_features(encode_scans(*dae, de).features);
    ordered_json b = run_probe(dae_features, "image_dae");
    b["description"] = "image-space DAE: y_sem of the same encoder trained with the PDAE loss on the images";
    b["run"] = fs::absolute(r.image_dae_run).lexically_normal().string();
    Budget dae_budget = budget;  // the same test scans (the same split), maybe fewer
    if (!r.image_dae_steps.empty()) dae_budget.steps = r.image_dae_steps;
    if (r.image_dae_reconstructions >= 0) dae_budget.max_scans = r.image_dae_reconstructions;
    const ordered_json rec_dae = evaluate_reconstruction(*dae, *dae_cache, dae_budget, r.seed,
                                                         (eval_dir / "reconstructions_image_dae.png").string(),
                                                         r.progress);
    b["reconstruction"] = rec_dae.contains("skipped") ? rec_dae : rec_dae["ldae"];
    baselines["image_dae"] = b;
  }
  results["baselines"] = baselines;
  const double t_image_dae = nn::seconds_since(t0);

  t0 = std::chrono::steady_clock::now();
  ManipulationRequest mr;
  mr.subjects = budget.manipulation_subjects;
  mr.steps = budget.interpolation_steps;
  mr.figure_path = (eval_dir / "manipulation.png").string();
  mr.progress = r.progress;
  results["manipulation"] = evaluate_manipulation(model, cache, ldae_probe ? &*ldae_probe : nullptr, mr);
  const double t_manip = nn::seconds_since(t0);
  t0 = std::chrono::steady_clock::now();
  results["interpolation"] = evaluate_interpolation(model, cache, budget, r.progress);
  const double t_interp = nn::seconds_since(t0);
  // ---- Inference speed: LDAE vs an image-space DAE at the budget's step counts ----
  t0 = std::chrono::steady_clock::now();
  SpeedRequest sr;
  sr.preset = preset;
  sr.steps = budget.steps;
  sr.repetitions = budget.speed_repetitions;
  sr.seed = r.seed;
  sr.model = &model;
  sr.progress = r.progress;
  results["speed"] = measure_speed(sr);
  const double t_speed = nn::seconds_since(t0);

  ordered_json timing = r.timing.is_object() ? ordered_json(r.timing) : ordered_json::object();
  timing["evaluate_features_s"] = t_features;
  timing["evaluate_reconstruction_s"] = t_rec;
  timing["evaluate_probes_s"] = t_probe;
  timing["evaluate_supervised_s"] = t_supervised;  // part of evaluate_probes_s
  timing["evaluate_image_dae_s"] = t_image_dae;
  timing["evaluate_manipulation_s"] = t_manip;
  timing["evaluate_interpolation_s"] = t_interp;
  timing["evaluate_speed_s"] = t_speed;
  timing["evaluate_s"] = nn::seconds_since(t_start);
  results["timing"] = timing;
  results["commands"] = r.commands.empty()
                            ? ordered_json::array({"ldae evaluate --repr " + r.repr_run + " --out " + r.out +
                                                   " --seed " + std::to_string(r.seed)})
                            : ordered_json(r.commands);
  results["figures"] = ordered_json::array(
      {{{"path", "evaluation/reconstructions.png"},
        {"caption", "A test scan: the input, the autoencoder, LDAE with encoded x_T, with y_sem only, the "
                    "unconditional model from the same noise, and the encoded reconstruction's error"}},
       {{"path", "evaluation/probe_ldae/roc.png"}, {"caption", "ROC of the AD-vs-CN probe on y_sem (test)"}}});
  if (results["baselines"]["image_dae"].contains("reconstruction") &&
      !results["baselines"]["image_dae"]["reconstruction"].contains("skipped"))
    results["figures"].push_back(
        {{"path", "evaluation/reconstructions_image_dae.png"},
         {"caption", "The same test scan with the image-space DAE baseline: the input, the input mapped to [-1, 1] "
                     "and back, the DAE with encoded x_T, with y_sem only, the unconditional image model from the "
                     "same noise, and the encoded reconstruction's error"}});
  if (!results["manipulation"].contains("skipped"))
    results["figures"].push_back(
        {{"path", "evaluation/manipulation.png"},
         {"caption", "Manipulation of a test subject's baseline scan along the AD-vs-CN probe's direction: one row "
                     "per alpha (> 0 towards AD), decoded from the subject's own x_T, and the difference alpha +2 "
                     "minus alpha 0"}});

  run::write_json_atomic((out / "results.json").string(), results);
  report::write_report(r.out, results);
  EvaluateResult result;
  result.results = results;
  return result;
}

}  // namespace ldae::stages
