#include "ldae/manipulation_eval.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <map>

#include "autograd/no_grad.h"
#include "data/figures.h"
#include "ldae/inference_stages.h"
#include "ldae/run/run_folder.h"
#include "nn/progress.h"
#include "tensor/error.h"
#include "tensor/ops.h"

namespace ldae::stages {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

namespace {

constexpr const char* kOp = "evaluate (manipulation)";
const std::vector<double> kAlphas = {-2, -1, 0, 1, 2};

std::string fmt(double v, int digits) {
  if (v == 0) return digits == 0 ? "0" : "0." + std::string(static_cast<size_t>(digits), '0');
  char b[48];
  std::snprintf(b, sizeof b, "%+.*f", digits, v);
  return b;
}

std::string plain(double v, int digits) {
  char b[48];
  std::snprintf(b, sizeof b, "%.*f", digits, v);
  return b;
}

// The cohort folder: the folder of stage 1's manifest (RUN1/config.json data.manifest), else
// the folder two levels above the first image (COHORT/sub-XXXX/scan.nii.gz).
std::string cohort_folder(const LatentCache& cache) {
  std::error_code ec;
  const fs::path config = fs::path(cache.autoencoder_run) / "config.json";
  if (!cache.autoencoder_run.empty() && fs::is_regular_file(config, ec)) {
    const json c = run::read_json(config.string());
    if (c.contains("data") && c["data"].contains("manifest") && c["data"]["manifest"].is_string())
      return fs::path(c["data"]["manifest"].get<std::string>()).parent_path().string();
  }
  if (!cache.manifest.rows.empty())
    return fs::path(cache.manifest.rows[0].full_path).parent_path().parent_path().string();
  return "";
}

// Region measures of one image: label-weighted mean intensity in the two regions.
struct Measure {
  double ventricle = 0, hippocampus = 0;
};
Measure measure(const Tensor& image, const RegionMaps& r) {
  return {region_mean(image, r.ventricle), region_mean(image, r.hippocampus)};
}

// Mean over a list of values (NaN when empty).
double mean_of(const std::vector<double>& v) {
  if (v.empty()) return NAN;
  double s = 0;
  for (double x : v) s += x;
  return s / static_cast<double>(v.size());
}

}  // namespace

int64_t synth_subject_index(const std::string& id) {
  const bool ok = id.size() > 4 && id.rfind("sub-", 0) == 0 &&
                  std::all_of(id.begin() + 4, id.end(), [](char c) { return c >= '0' && c <= '9'; });
  check(ok && id.size() < 14, kOp, "'" + id + "' is not a synthetic subject id (sub-NNNN)");
  const int64_t n = std::stoll(id.substr(4));
  check(n >= 1, kOp, "'" + id + "' is not a synthetic subject id (numbers start at sub-0001)");
  return n - 1;
}

RegionMaps subject_regions(const data::Anatomy& anatomy, const SynthCohort& cohort, const std::string& subject_id,
                           int64_t session) {
  const data::SynthSubject s = data::draw_subject(synth_subject_index(subject_id), cohort.seed, cohort.mix, cohort.preprocessing);
  const data::Affine grid = data::synth_grid(anatomy, cohort.shape, cohort.spacing);
  const data::SynthRegions r = data::synth_regions(anatomy, s, session, grid, cohort.shape);
  auto as_tensor = [&](const std::vector<float>& v) {
    Tensor t = Tensor::empty(cohort.shape, DType::F32);
    std::copy(v.begin(), v.end(), t.mutable_data<float>());
    return t;
  };
  return {as_tensor(r.ventricle), as_tensor(r.hippocampus)};
}

double region_mean(const Tensor& image, const Tensor& label) {
  check(image.numel() == label.numel(), "region_mean",
        "the image has " + std::to_string(image.numel()) + " voxels, the label " + std::to_string(label.numel()));
  const Tensor a = image.to(DType::F64).contiguous(), b = label.to(DType::F64).contiguous();
  const double* x = a.data<double>();
  const double* w = b.data<double>();
  double sw = 0, sxw = 0;
  for (int64_t i = 0; i < a.numel(); ++i) sw += w[i], sxw += w[i] * x[i];
  check(sw > 0, "region_mean", "the label is empty");
  return sxw / sw;
}

ordered_json evaluate_manipulation(infer::LdaeModel& model, const LatentCache& cache, const probe::ProbeOutcome* probe,
                                   const ManipulationRequest& r) {
  NoGrad no_grad;
  if (!probe || !probe->classifier) return {{"skipped", "the AD-vs-CN probe on y_sem was not trained"}};
  SynthCohort cohort;
  std::string why;
  if (!find_synthetic_cohort(cohort_folder(cache), &cohort, &why)) return {{"skipped", why}};
  if (!model.image_shape.empty() && cohort.shape != model.image_shape)
    return {{"skipped", "the cohort's shape " + shape_str(cohort.shape) + " is not the networks' " +
                            shape_str(model.image_shape)}};
  data::Anatomy anatomy;
  try {
    anatomy = synth_cohort_anatomy(cohort);
  } catch (const Error& e) {
    return {{"skipped", std::string("the generator's anatomy is not available: ") + e.what()}};
  }
  const data::Affine grid = data::synth_grid(anatomy, cohort.shape, cohort.spacing);

  // Test subjects: their scans by session, AD and CN only.
  std::map<std::string, std::vector<size_t>> visits;
  for (size_t row : rows_of_split(cache, "test")) {
    const std::string& dx = cache.manifest.rows[row].diagnosis;
    if (dx == "AD" || dx == "CN") visits[cache.manifest.rows[row].subject].push_back(row);
  }
  for (auto& [s, rows] : visits)
    std::sort(rows.begin(), rows.end(),
              [&](size_t a, size_t b) { return cache.manifest.rows[a].session < cache.manifest.rows[b].session; });
  if (visits.empty()) return {{"skipped", "the test split has no AD or CN subject"}};
  try {
    for (const auto& [s, rows] : visits) synth_subject_index(s);
  } catch (const Error& e) {
    return {{"skipped", e.what()}};
  }

  // The scans are on the generator's grid (else the labels would not line up).
  {
    const Scan first = read_scan(kOp, model, cache.manifest.rows[visits.begin()->second.front()].full_path);
    const data::Vec3 a = first.volume.affine.apply({0, 0, 0}), b = grid.apply({0, 0, 0});
    const data::Vec3 sa = first.volume.affine.spacing();
    for (int k = 0; k < 3; ++k)
      if (std::abs(a[k] - b[k]) > 0.5 || std::abs(sa[k] - cohort.spacing) > 1e-3)
        return {{"skipped", "the scans are not on the synthetic generator's grid (another preprocessing?)"}};
  }

  // ---- The manipulated subjects: AD and CN alternated, in id order ----
  std::vector<std::string> ad, cn, chosen;
  for (const auto& [s, rows] : visits) (cache.manifest.rows[rows.front()].diagnosis == "AD" ? ad : cn).push_back(s);
  for (size_t i = 0; static_cast<int64_t>(chosen.size()) < r.subjects && (i < ad.size() || i < cn.size()); ++i) {
    if (i < ad.size()) chosen.push_back(ad[i]);
    if (i < cn.size() && static_cast<int64_t>(chosen.size()) < r.subjects) chosen.push_back(cn[i]);
  }

  // ---- Calibration on the real test scans: baseline regions of each subject ----
  std::map<std::string, RegionMaps> regions;  // baseline regions of the chosen subjects
  std::map<std::string, Measure> baseline;
  std::vector<double> ad_v, ad_h, cn_v, cn_h;
  std::map<std::string, std::vector<double>> change_v, change_h;  // by diagnosis
  for (const auto& [s, rows] : visits) {
    const data::ManifestRow& b = cache.manifest.rows[rows.front()];
    const RegionMaps m = subject_regions(anatomy, cohort, s, b.session);
    if (std::find(chosen.begin(), chosen.end(), s) != chosen.end()) regions[s] = m;
    const Measure m0 = measure(read_scan(kOp, model, b.full_path).tensor, m);
    baseline[s] = m0;
    (b.diagnosis == "AD" ? ad_v : cn_v).push_back(m0.ventricle);
    (b.diagnosis == "AD" ? ad_h : cn_h).push_back(m0.hippocampus);
    if (rows.size() > 1) {
      const Measure m1 = measure(read_scan(kOp, model, cache.manifest.rows[rows.back()].full_path).tensor, m);
      change_v[b.diagnosis].push_back(m1.ventricle - m0.ventricle);
      change_h[b.diagnosis].push_back(m1.hippocampus - m0.hippocampus);
    }
  }
  ordered_json calibration;
  calibration["description"] =
      "the same measures on the real test scans (each subject's baseline regions): AD minus CN at baseline, and "
      "each subject's change from its first to its last visit, mean by diagnosis";
  calibration["ad_minus_cn_baseline"] = {{"ventricle", mean_of(ad_v) - mean_of(cn_v)},
                                         {"hippocampus", mean_of(ad_h) - mean_of(cn_h)},
                                         {"ad_subjects", ad_v.size()},
                                         {"cn_subjects", cn_v.size()}};
  for (const char* dx : {"AD", "CN"})
    calibration[std::string("change_to_last_visit_") + dx] = {{"ventricle", mean_of(change_v[dx])},
                                                             {"hippocampus", mean_of(change_h[dx])},
                                                             {"subjects", change_v[dx].size()}};

  const nets::LinearProbe& clf = *probe->classifier;
  const Tensor w = clf.direction();  // (E), on z-scored codes
  const infer::AutoencodingOptions o = infer::AutoencodingOptions::fixed(r.steps).in_space(model.space());
  const int64_t na = static_cast<int64_t>(kAlphas.size());
  std::vector<std::vector<double>> dv(kAlphas.size()), dh(kAlphas.size()), dv_ae(kAlphas.size()),
      dh_ae(kAlphas.size()), p_ad(kAlphas.size());
  std::vector<double> p_ad_scan;
  ordered_json per_subject = ordered_json::array();
  nn::Progress bar("evaluate: manipulation", static_cast<int64_t>(chosen.size()));
  for (size_t si = 0; si < chosen.size(); ++si) {
    const std::string& s = chosen[si];
    const data::ManifestRow& row = cache.manifest.rows[visits[s].front()];
    const Scan scan = read_scan(kOp, model, row.full_path);
    const RegionMaps& reg = regions[s];
    const Tensor y = infer::semantic_code(*model.encoder, scan.tensor);  // (1, E)
    p_ad_scan.push_back(clf.probabilities(y)[0]);
    const Tensor z0 = infer::scaled_latent(model.space(), scan.tensor);
    const Tensor ae = infer::to_image(model.space(), z0);
    const Tensor xT = infer::encode_xT(*model.shift_unet, model.schedule, z0, y, o.ddim("encode"));
    // All alphas in one batch: the codes (A, E), x_T repeated (A, C, d, h, w).
    std::vector<Tensor> codes, xts;
    for (double a : kAlphas) {
      codes.push_back(infer::manipulate_code(y, w, a, clf.mean, clf.std));
      xts.push_back(xT);
    }
    const Tensor lat = infer::decode_latent(*model.shift_unet, model.schedule, cat(xts, 0), cat(codes, 0),
                                            o.ddim("decode"));
    const Tensor imgs = infer::to_image(model.space(), lat);  // (A, 1, X, Y, Z)
    const std::vector<double> p = clf.probabilities(infer::semantic_code(*model.encoder, imgs));
    const Measure m_ae = measure(ae, reg);
    std::vector<Measure> m(kAlphas.size());
    std::vector<Tensor> img(kAlphas.size());
    for (int64_t k = 0; k < na; ++k) {
      img[k] = imgs.slice(0, k, k + 1).contiguous();
      m[k] = measure(img[k], reg);
    }
    const size_t zero = 2;  // alpha = 0
    ordered_json subj = {{"subject", s},
                         {"diagnosis", row.diagnosis},
                         {"session", row.session},
                         {"p_ad_scan", p_ad_scan.back()},
                         {"scan", {{"ventricle", baseline[s].ventricle}, {"hippocampus", baseline[s].hippocampus}}},
                         {"autoencoder", {{"ventricle", m_ae.ventricle}, {"hippocampus", m_ae.hippocampus}}}};
    ordered_json per = ordered_json::array();
    for (size_t k = 0; k < kAlphas.size(); ++k) {
      dv[k].push_back(m[k].ventricle - m[zero].ventricle);
      dh[k].push_back(m[k].hippocampus - m[zero].hippocampus);
      dv_ae[k].push_back(m[k].ventricle - m_ae.ventricle);
      dh_ae[k].push_back(m[k].hippocampus - m_ae.hippocampus);
      p_ad[k].push_back(p[k]);
      per.push_back({{"alpha", kAlphas[k]},
                     {"ventricle", m[k].ventricle},
                     {"hippocampus", m[k].hippocampus},
                     {"p_ad", p[k]}});
    }
    subj["alphas"] = per;
    per_subject.push_back(subj);
    if (si == 0 && !r.figure_path.empty()) {
      std::vector<data::Volume> vols;
      std::vector<data::Display> disp;
      for (size_t k = 0; k < kAlphas.size(); ++k) {
        data::Volume v = scan.volume;
        v.voxels = img[k].reshape(scan.volume.voxels.shape()).contiguous();
        vols.push_back(v);
        data::Display d;
        d.vmin = 0, d.vmax = 1;
        d.title = s + " " + row.diagnosis + ", alpha " + fmt(kAlphas[k], 0) +
                  (kAlphas[k] > 0 ? " (to AD)" : kAlphas[k] < 0 ? " (to CN)" : "") + ", P(AD) " + plain(p[k], 2);
        disp.push_back(d);
      }
      vols.push_back(data::difference(vols[zero], vols.back()));
      data::Display d;
      d.map = data::ColorMap::Diverging;
      d.title = "alpha +2 minus alpha 0";
      disp.push_back(d);
      data::write_png(r.figure_path, data::figure_grid(vols, disp));
    }
    if (r.progress) bar.update(static_cast<int64_t>(si + 1));
  }
  if (r.progress) bar.finish();

  // ---- Per alpha, the checks, the summary and the table ----
  ordered_json per_alpha = ordered_json::array();
  ordered_json table = ordered_json::array({{"alpha", "ventricle-region change vs alpha 0",
                                             "hippocampal-region change vs alpha 0", "ventricle vs AE recon.",
                                             "hippocampal vs AE recon.", "P(AD) re-encoded"}});
  std::vector<double> mv, mh;
  for (size_t k = 0; k < kAlphas.size(); ++k) {
    mv.push_back(mean_of(dv[k]));
    mh.push_back(mean_of(dh[k]));
    per_alpha.push_back({{"alpha", kAlphas[k]},
                         {"ventricle_change", mv.back()},
                         {"hippocampus_change", mh.back()},
                         {"ventricle_vs_autoencoder", mean_of(dv_ae[k])},
                         {"hippocampus_vs_autoencoder", mean_of(dh_ae[k])},
                         {"p_ad", mean_of(p_ad[k])}});
    table.push_back({fmt(kAlphas[k], 0), fmt(mv.back(), 4), fmt(mh.back(), 4), fmt(mean_of(dv_ae[k]), 4),
                     fmt(mean_of(dh_ae[k]), 4), plain(mean_of(p_ad[k]), 3)});
  }
  // Disease direction: towards AD (alpha > 0) both intensities fall, so the change at
  // alpha +2 should be negative and the one at -2 positive. "Grows with |alpha|": the five
  // mean changes are strictly monotone in alpha (either way; the direction is the other check).
  auto monotone = [](const std::vector<double>& v) {
    bool up = true, down = true;
    for (size_t i = 1; i < v.size(); ++i) {
      up = up && v[i] > v[i - 1];
      down = down && v[i] < v[i - 1];
    }
    return up || down;
  };
  const size_t last = kAlphas.size() - 1;
  // The real disease effect beside (table rows without a P(AD)).
  const ordered_json& cal = calibration["ad_minus_cn_baseline"];
  const ordered_json& own = calibration["change_to_last_visit_AD"];
  // A change counts as measurable only when it reaches 1 % of the real AD - CN difference of
  // the region (at least 1e-4 on [0, 1] intensities): float noise must not read as an effect,
  // and an untrained shift branch moves nothing at all.
  auto threshold = [&](const char* region) {
    const double real = cal.contains(region) && cal[region].is_number() ? std::fabs(cal[region].get<double>()) : 0.0;
    return std::max(1e-4, 0.01 * real);
  };
  const double v_min = threshold("ventricle"), h_min = threshold("hippocampus");
  const bool v_meas = std::max(std::fabs(mv[0]), std::fabs(mv[last])) >= v_min;
  const bool h_meas = std::max(std::fabs(mh[0]), std::fabs(mh[last])) >= h_min;
  const bool v_dir = v_meas && mv[last] < 0 && mv[0] > 0, h_dir = h_meas && mh[last] < 0 && mh[0] > 0;
  const bool v_mono = v_meas && monotone(mv), h_mono = h_meas && monotone(mh);
  std::vector<double> pm;
  for (size_t k = 0; k < kAlphas.size(); ++k) pm.push_back(mean_of(p_ad[k]));
  const bool p_up = monotone(pm) && pm[last] - pm[0] >= 0.01;  // at least one percentage point
  ordered_json checks = {{"ventricle_measurable", v_meas},
                         {"ventricle_disease_direction", v_dir},
                         {"ventricle_monotone_in_alpha", v_mono},
                         {"hippocampus_measurable", h_meas},
                         {"hippocampus_disease_direction", h_dir},
                         {"hippocampus_monotone_in_alpha", h_mono},
                         {"p_ad_increases_with_alpha", p_up},
                         {"measurable_threshold", {{"ventricle", v_min}, {"hippocampus", h_min}}}};
  auto num = [&](const ordered_json& j, const char* k) {
    return j[k].is_number() ? fmt(j[k].get<double>(), 4) : std::string("n/a");
  };
  table.push_back({"real scans: AD - CN (baseline)", num(cal, "ventricle"), num(cal, "hippocampus"), "", "", ""});
  table.push_back({"real scans: AD, first to last visit", num(own, "ventricle"), num(own, "hippocampus"), "", "", ""});
  auto says = [&](const std::string& region, bool measurable, bool dir, bool mono, double at2, double min) {
    if (!measurable)
      return region + ": no measurable change (below " + fmt(min, 4) +
             ", 1 % of the real AD - CN difference, at alpha -2 and +2; alpha +2 vs 0: " + fmt(at2, 4);
    return region + ": " + (dir ? "moves in the disease direction (darker towards AD)"
                                : "does NOT move in the disease direction") +
           ", " + (mono ? "its size grows with |alpha|, monotone in alpha" : "not monotone in alpha") + " (alpha +2 vs 0: " +
           fmt(at2, 4);
  };
  const std::string summary =
      "Manipulation along the AD-vs-CN probe's direction (" + std::to_string(chosen.size()) +
      " test subjects' baseline scans, alpha > 0 towards AD, " + std::to_string(r.steps) +
      " DDIM steps from each subject's own x_T), measured as the label-weighted mean intensity in the subject's "
      "true ventricle and hippocampus regions (the generator's labels). " +
      says("Ventricle region", v_meas, v_dir, v_mono, mv[last], v_min) + "; real scans: AD minus CN " + num(cal, "ventricle") +
      ", AD subjects' own change to the last visit " + num(own, "ventricle") + "). " +
      says("Hippocampal region", h_meas, h_dir, h_mono, mh[last], h_min) + "; real AD minus CN " + num(cal, "hippocampus") +
      ", AD own change " + num(own, "hippocampus") + "). The probe's P(AD) of the re-encoded image " +
      (p_up ? "rises steadily with alpha" : "does not rise steadily with alpha (by at least 0.01)") + " (" + plain(pm[0], 3) +
      " at -2, " + plain(pm[last], 3) + " at +2).";

  ordered_json out;
  out["alphas"] = kAlphas;
  out["steps"] = r.steps;
  out["subjects"] = per_subject;
  out["per_alpha"] = per_alpha;
  out["calibration"] = calibration;
  out["checks"] = checks;
  out["cohort"] = {{"folder", cohort.folder}, {"seed", cohort.seed}, {"shape", cohort.shape}};
  out["summary"] = summary;
  out["table"] = table;
  return out;
}

}  // namespace ldae::stages
