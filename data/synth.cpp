#include "data/synth.h"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "data/figures.h"
#include "data/manifest.h"
#include "tensor/error.h"
#include "tensor/philox.h"

namespace fs = std::filesystem;

namespace ldae::data {

namespace {

// Stream layout in the Philox counter space of one seed: subject s owns the block
// starting at (s + 1) * 2^40; inside it, offset 0 holds the subject's own draws and
// (v + 1) * 2^32 the draws of visit v (scanner parameters first, voxel noise from 2^16).
constexpr uint64_t kSubjectBlock = uint64_t(1) << 40;
constexpr uint64_t kVisitBlock = uint64_t(1) << 32;
constexpr uint64_t kNoiseStart = uint64_t(1) << 16;

// Sequential draws from one Philox stream.
struct Stream {
  uint64_t seed, offset, n = 0;
  double uniform() { return philox::uniform(seed, offset, n++, true); }
  double uniform(double lo, double hi) { return lo + (hi - lo) * uniform(); }
  double normal() { return philox::normal(seed, offset, n++); }
};

// Mean tissue intensities (CSF, GM, WM) at age 70, healthy: each subject's own are drawn
// around them, and intensity standardisation (Preprocessing::full) gives them to every subject.
constexpr double kTissueIntensity[3] = {0.12, 0.50, 0.80};

double clamp(double v, double lo, double hi) { return std::min(hi, std::max(lo, v)); }

// The disease and ageing state at a visit.
struct VisitState {
  double age, severity;
  double ventricle_s;    // ventricle enlargement factor (> 0 enlarges)
  double hippocampus_s;  // hippocampal shrink factor (> 0 shrinks)
  double gm_loss;        // fraction of cortical grey matter turned into CSF (where sulcal = 1)
  double contrast;       // multiplies the grey/white intensity difference
};

VisitState visit_state(const SynthSubject& s, int64_t session) {
  VisitState v;
  const double years = static_cast<double>(session) / 12.0;
  v.age = s.age + years;
  v.severity = s.severity + s.rate * years;
  // Ageing terms are per year relative to age 70; disease terms per unit of severity.
  v.hippocampus_s = s.hippocampus_size + 0.004 * (v.age - 70) + 0.10 * v.severity;
  v.ventricle_s = clamp(s.ventricle_size + 0.012 * (v.age - 70) + 0.11 * v.severity, -0.35, 0.6);
  v.gm_loss = clamp(s.gm_loss + 0.004 * (v.age - 55) + 0.08 * v.severity, 0.0, 0.6);
  v.contrast = clamp(1.0 - 0.006 * (v.age - 70) - 0.08 * v.severity, 0.5, 1.3);
  return v;
}

// 3x3 rotation from angles about x, then y, then z.
void rotation_matrix(const double ang[3], double r[3][3]) {
  const double cx = std::cos(ang[0]), sx = std::sin(ang[0]), cy = std::cos(ang[1]), sy = std::sin(ang[1]),
               cz = std::cos(ang[2]), sz = std::sin(ang[2]);
  const double rx[3][3] = {{1, 0, 0}, {0, cx, -sx}, {0, sx, cx}};
  const double ry[3][3] = {{cy, 0, sy}, {0, 1, 0}, {-sy, 0, cy}};
  const double rz[3][3] = {{cz, -sz, 0}, {sz, cz, 0}, {0, 0, 1}};
  double t[3][3] = {};
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j)
      for (int k = 0; k < 3; ++k) t[i][j] += ry[i][k] * rx[k][j];
  for (int i = 0; i < 3; ++i)
    for (int j = 0; j < 3; ++j) {
      r[i][j] = 0;
      for (int k = 0; k < 3; ++k) r[i][j] += rz[i][k] * t[k][j];
    }
}

// exp(-|((p - c) / sigma)|^2 / 2)
// (0 beyond 6 sigma, where it is below 1e-8: saves the exp for most voxels).
inline double gaussian(const Vec3& p, const Vec3& c, const Vec3& sigma) {
  double q = 0;
  for (int a = 0; a < 3; ++a) {
    const double d = (p[a] - c[a]) / sigma[a];
    q += d * d;
  }
  return q > 36 ? 0.0 : std::exp(-0.5 * q);
}

// Ageing and disease at a visit: the template position shown at the subject's own
// template position y (subject_warp) is pulled towards the ventricle centres (they look
// larger) and pushed away from the hippocampi (they look smaller).
inline Vec3 visit_position(const Anatomy& anat, const VisitState& st, const Vec3& y) {
  const Vec3 vent_sigma = {9, 22, 12}, hippo_sigma = {8, 12, 8}, mtl_sigma = {16, 22, 16};
  const double mtl_s = 0.35 * st.hippocampus_s;
  Vec3 p = y;
  for (int side = 0; side < 2; ++side) {
    const Vec3& cv = anat.ventricle_centre[side];
    const Vec3& ch = anat.hippocampus_centre[side];
    const double gv = st.ventricle_s * gaussian(y, cv, vent_sigma);
    const double gh = st.hippocampus_s * gaussian(y, ch, hippo_sigma) + mtl_s * gaussian(y, ch, mtl_sigma);
    for (int a = 0; a < 3; ++a) p[a] += -gv * (y[a] - cv[a]) + gh * (y[a] - ch[a]);
  }
  return p;
}

std::string two_digits(int64_t v) {
  char buf[16];
  std::snprintf(buf, sizeof buf, "%02lld", static_cast<long long>(v));
  return buf;
}

std::string fixed(double v, int digits) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.*f", digits, v);
  return buf;
}

}  // namespace

void check_diagnosis_mix(const DiagnosisMix& mix) {
  const double f[3] = {mix.cn, mix.mci, mix.ad};
  for (double v : f)
    check(v >= 0 && v <= 1, "synth", "each diagnosis fraction (CN, MCI, AD) must be in [0, 1], got " + fixed(v, 4));
  check(std::abs(f[0] + f[1] + f[2] - 1) <= 1e-6, "synth",
        "the diagnosis fractions (CN, MCI, AD) must sum to 1, got " + fixed(f[0] + f[1] + f[2], 6));
}

const char* preprocessing_name(Preprocessing p) {
  switch (p) {
    case Preprocessing::none: return "none";
    case Preprocessing::registered: return "registered";
    case Preprocessing::full: return "full";
  }
  return "?";
}

SynthSubject draw_subject(int64_t index, uint64_t seed, const DiagnosisMix& mix, Preprocessing preprocessing) {
  Stream r{seed, static_cast<uint64_t>(index + 1) * kSubjectBlock};
  SynthSubject s;
  s.index = index;
  char id[32];
  std::snprintf(id, sizeof id, "sub-%04lld", static_cast<long long>(index + 1));
  s.id = id;
  const double u = r.uniform();
  s.diagnosis = u < mix.cn ? "CN" : (u < mix.cn + mix.mci ? "MCI" : "AD");  // default: 0.40, 0.75
  s.age = clamp(73.0 + 6.5 * r.normal(), 55, 92);
  const double u2 = r.uniform();
  if (s.diagnosis == "CN") {
    s.severity = u2 < 0.15 ? r.uniform(0, 0.25) : 0.0;  // some CN are preclinical
    s.rate = s.severity > 0 ? 0.04 : 0.0;
  } else if (s.diagnosis == "MCI") {
    s.severity = r.uniform(0.15, 0.6);
    s.rate = std::max(0.0, 0.06 + 0.03 * r.normal());
  } else {
    s.severity = r.uniform(0.5, 1.1);
    s.rate = std::max(0.0, 0.12 + 0.03 * r.normal());
  }
  s.head_scale = clamp(1.0 + 0.04 * r.normal(), 0.88, 1.12);
  for (double& a : s.rotation) a = clamp(3.0 * r.normal(), -8, 8) * M_PI / 180.0;
  for (double& t : s.translation) t = clamp(2.0 * r.normal(), -6, 6);
  for (int w = 0; w < 6; ++w) {
    // A random direction for the wave vector (wavelength 60-110 mm) and the displacement.
    double k[3], d[3], nk = 0, nd = 0;
    for (int a = 0; a < 3; ++a) {
      k[a] = r.normal();
      d[a] = r.normal();
      nk += k[a] * k[a];
      nd += d[a] * d[a];
    }
    const double wavelength = r.uniform(60, 110), amplitude = 1.2 * std::abs(r.normal());
    for (int a = 0; a < 3; ++a) {
      s.wave_vec[w][a] = k[a] / std::sqrt(nk) * 2 * M_PI / wavelength;
      s.wave_amp[w][a] = d[a] / std::sqrt(nd) * std::min(amplitude, 3.0);
    }
    s.wave_phase[w] = r.uniform(0, 2 * M_PI);
  }
  s.hippocampus_size = 0.03 * r.normal();
  s.ventricle_size = 0.10 * r.normal();
  s.gm_loss = 0.02 * r.normal();
  s.intensity[0] = kTissueIntensity[0] + 0.02 * r.normal();
  s.intensity[1] = kTissueIntensity[1] + 0.03 * r.normal();
  s.intensity[2] = kTissueIntensity[2] + 0.03 * r.normal();
  if (preprocessing != Preprocessing::none) {  // what an exact affine registration to the template removes
    s.head_scale = 1;
    for (int a = 0; a < 3; ++a) s.rotation[a] = s.translation[a] = 0;
  }
  if (preprocessing == Preprocessing::full) {
    s.bias_scale = 0;                                    // bias correction
    for (auto& amp : s.wave_amp)                         // deformable registration: a residual
      for (double& a : amp) a *= 0.3;
    for (int c = 0; c < 3; ++c) s.intensity[c] = kTissueIntensity[c];  // intensity standardisation
  }
  return s;
}

Affine synth_grid(const Anatomy& anatomy, const Shape& shape, double spacing) {
  check(shape.size() == 3 && shape[0] > 1 && shape[1] > 1 && shape[2] > 1, "synth_grid",
        "shape must be 3 sizes > 1, got " + shape_str(shape));
  check(spacing > 0, "synth_grid", "spacing must be positive");
  Vec3 origin;
  for (int a = 0; a < 3; ++a) origin[a] = anatomy.brain_centre[a] - 0.5 * spacing * static_cast<double>(shape[a] - 1);
  return Affine::scaling({spacing, spacing, spacing}, origin);
}

std::vector<float> subject_warp(const Anatomy& anat, const SynthSubject& s, const Affine& grid, const Shape& shape) {
  double rot[3][3];
  rotation_matrix(s.rotation, rot);
  const Vec3 c = anat.brain_centre;
  const int64_t X = shape[0], Y = shape[1], Z = shape[2];
  std::vector<float> warp(static_cast<size_t>(3 * X * Y * Z));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < X; ++i)
    for (int64_t j = 0; j < Y; ++j)
      for (int64_t k = 0; k < Z; ++k) {
        const Vec3 w = grid.apply({double(i), double(j), double(k)});
        // Undo the pose and the head size, then add the smooth random warp.
        const Vec3 q = {w[0] - c[0] - s.translation[0], w[1] - c[1] - s.translation[1], w[2] - c[2] - s.translation[2]};
        Vec3 y;
        for (int a = 0; a < 3; ++a)
          y[a] = c[a] + (rot[0][a] * q[0] + rot[1][a] * q[1] + rot[2][a] * q[2]) / s.head_scale;  // R^T q
        for (int n = 0; n < 6; ++n) {
          const double ph = std::sin(s.wave_vec[n][0] * w[0] + s.wave_vec[n][1] * w[1] + s.wave_vec[n][2] * w[2] + s.wave_phase[n]);
          for (int a = 0; a < 3; ++a) y[a] += s.wave_amp[n][a] * ph;
        }
        float* out = &warp[static_cast<size_t>(3 * ((i * Y + j) * Z + k))];
        for (int a = 0; a < 3; ++a) out[a] = static_cast<float>(y[a]);
      }
  return warp;
}

Volume synthesize_scan(const Anatomy& anat, const SynthSubject& s, int64_t session, int64_t visit, const Affine& grid,
                       const Shape& shape, uint64_t seed, SynthTruth* truth, const std::vector<float>* warp) {
  check(shape.size() == 3, "synthesize_scan", "shape must have 3 sizes");
  std::vector<float> own_warp;
  if (!warp) {
    own_warp = subject_warp(anat, s, grid, shape);
    warp = &own_warp;
  }
  check(warp->size() == static_cast<size_t>(3 * numel(shape)), "synthesize_scan", "warp does not match the shape");
  const VisitState st = visit_state(s, session);
  // Scanner draws. The bias field belongs to the subject (same coil profile at every visit,
  // so that a difference between visits shows atrophy, not intensity drift); it comes from
  // the middle of the subject's own block, far after the subject's parameter draws. The
  // noise level belongs to the visit.
  const uint64_t subject_offset = static_cast<uint64_t>(s.index + 1) * kSubjectBlock;
  Stream scanner{seed, subject_offset + kVisitBlock / 2};
  double bias[9];
  for (double& b : bias) b = s.bias_scale * 0.08 * scanner.normal();
  const uint64_t visit_offset = subject_offset + static_cast<uint64_t>(visit + 1) * kVisitBlock;
  Stream r{seed, visit_offset};
  const double noise_sigma = r.uniform(0.012, 0.03);
  const double ic = s.intensity[0], mean_gw = 0.5 * (s.intensity[1] + s.intensity[2]);
  const double half_gap = 0.5 * (s.intensity[2] - s.intensity[1]) * st.contrast;
  const double ig = mean_gw - half_gap, iw = mean_gw + half_gap;

  const Affine to_anat = anat.affine.inverse();
  const Vec3 c = anat.brain_centre;

  const int64_t X = shape[0], Y = shape[1], Z = shape[2];
  Tensor out = Tensor::empty(shape, DType::F32);
  float* o = out.mutable_data<float>();
  // Per-x-slab sums so that the totals do not depend on the thread count.
  std::vector<double> vent_sum(static_cast<size_t>(X)), hippo_sum(static_cast<size_t>(X)), gm_sum(static_cast<size_t>(X));
#pragma omp parallel for schedule(static)
  for (int64_t i = 0; i < X; ++i) {
    double vs = 0, hs = 0, gs = 0;
    float m[kChannels];
    for (int64_t j = 0; j < Y; ++j)
      for (int64_t k = 0; k < Z; ++k) {
        const int64_t flat = (i * Y + j) * Z + k;
        const Vec3 w = grid.apply({double(i), double(j), double(k)});
        const float* wp = &(*warp)[static_cast<size_t>(3 * flat)];
        const Vec3 y = {wp[0], wp[1], wp[2]};
        anat.sample(visit_position(anat, st, y), to_anat, m);
        // Cortical atrophy: grey matter becomes CSF, most where it borders CSF.
        const double loss = st.gm_loss * (0.25 + 0.75 * m[kSulcal]);
        const double gm = m[kGM] * (1 - loss), csf = m[kCSF] + m[kGM] * loss, wm = m[kWM];
        const double brain = gm + csf + wm;
        vs += csf * m[kVentricle];
        hs += gm * m[kHippocampus];
        gs += gm;
        if (brain <= 0) {  // outside the brain: 0, as in brain-extracted scans
          o[flat] = 0.0f;
          continue;
        }
        // Intensity with a smooth multiplicative bias (quadratic in the position).
        const double bx = (w[0] - c[0]) / 100, by = (w[1] - c[1]) / 100, bz = (w[2] - c[2]) / 100;
        const double b = std::exp(bias[0] * bx + bias[1] * by + bias[2] * bz + bias[3] * bx * bx + bias[4] * by * by +
                                  bias[5] * bz * bz + bias[6] * bx * by + bias[7] * by * bz + bias[8] * bx * bz);
        double v = b * (ic * csf + ig * gm + iw * wm);
        // Rician noise (magnitude of a complex signal with Gaussian noise), inside the brain.
        const uint64_t nidx = kNoiseStart + 2 * static_cast<uint64_t>(flat);
        const double n1 = noise_sigma * philox::normal(seed, visit_offset, nidx);
        const double n2 = noise_sigma * philox::normal(seed, visit_offset, nidx + 1);
        const double noisy = std::sqrt((v + n1) * (v + n1) + n2 * n2);
        v = std::min(brain, 1.0) * noisy + std::max(0.0, 1 - brain) * v;  // partial-volume edge fades to 0
        o[flat] = static_cast<float>(v);
      }
    vent_sum[static_cast<size_t>(i)] = vs;
    hippo_sum[static_cast<size_t>(i)] = hs;
    gm_sum[static_cast<size_t>(i)] = gs;
  }
  if (truth) {
    const Vec3 sp = grid.spacing();
    const double ml = sp[0] * sp[1] * sp[2] / 1000.0;
    double vt = 0, ht = 0, gt = 0;
    for (int64_t i = 0; i < X; ++i) {
      vt += vent_sum[static_cast<size_t>(i)];
      ht += hippo_sum[static_cast<size_t>(i)];
      gt += gm_sum[static_cast<size_t>(i)];
    }
    truth->age = st.age;
    truth->severity = st.severity;
    truth->ventricle_ml = vt * ml;
    truth->hippocampus_ml = ht * ml;
    truth->gm_ml = gt * ml;
  }
  return make_volume(out, grid, 4);  // MNI-152 space code: the grid is in template space
}

SynthRegions synth_regions(const Anatomy& anat, const SynthSubject& s, int64_t session, const Affine& grid,
                           const Shape& shape, const std::vector<float>* warp) {
  check(shape.size() == 3, "synth_regions", "shape must have 3 sizes");
  std::vector<float> own_warp;
  if (!warp) {
    own_warp = subject_warp(anat, s, grid, shape);
    warp = &own_warp;
  }
  check(warp->size() == static_cast<size_t>(3 * numel(shape)), "synth_regions", "warp does not match the shape");
  const VisitState st = visit_state(s, session);
  const Affine to_anat = anat.affine.inverse();
  const size_t n = static_cast<size_t>(numel(shape));
  SynthRegions r;
  r.ventricle.resize(n);
  r.hippocampus.resize(n);
  r.csf.resize(n);
  r.gm.resize(n);
#pragma omp parallel for schedule(static)
  for (int64_t flat = 0; flat < static_cast<int64_t>(n); ++flat) {
    const float* wp = &(*warp)[static_cast<size_t>(3 * flat)];
    float m[kChannels];
    anat.sample(visit_position(anat, st, {wp[0], wp[1], wp[2]}), to_anat, m);
    const double loss = st.gm_loss * (0.25 + 0.75 * m[kSulcal]);
    const size_t f = static_cast<size_t>(flat);
    r.ventricle[f] = m[kVentricle];
    r.hippocampus[f] = m[kHippocampus];
    r.csf[f] = static_cast<float>(m[kCSF] + m[kGM] * loss);
    r.gm[f] = static_cast<float>(m[kGM] * (1 - loss));
  }
  return r;
}

double auc(const std::vector<double>& low, const std::vector<double>& high) {
  check(!low.empty() && !high.empty(), "auc", "needs at least one value in each group");
  double wins = 0;
  for (double a : low)
    for (double b : high) wins += a < b ? 1.0 : (a == b ? 0.5 : 0.0);
  return wins / (static_cast<double>(low.size()) * static_cast<double>(high.size()));
}

TemplateFiles shipped_template() {
  const char* stem = "mni_icbm152_2009a_";
  std::vector<fs::path> dirs;
#ifdef LDAE_TEMPLATE_DIR
  dirs.push_back(LDAE_TEMPLATE_DIR);  // set by data/CMakeLists.txt to <source>/data/template
#endif
  std::error_code ec;
  const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
  if (!ec && exe.has_parent_path()) {
    dirs.push_back(exe.parent_path() / ".." / ".." / "data" / "template");  // <clone>/build/bin/ldae
  }
  std::string tried;
  std::vector<std::string> seen;
  for (const fs::path& d : dirs) {
    const std::string shown_dir = d.lexically_normal().string();
    if (std::find(seen.begin(), seen.end(), shown_dir) != seen.end()) continue;  // same folder twice
    seen.push_back(shown_dir);
    TemplateFiles t{(d / (std::string(stem) + "t1_2mm.nii.gz")).lexically_normal().string(),
                    (d / (std::string(stem) + "gm_2mm.nii.gz")).lexically_normal().string(),
                    (d / (std::string(stem) + "wm_2mm.nii.gz")).lexically_normal().string()};
    if (fs::is_regular_file(t.t1, ec) && fs::is_regular_file(t.gm, ec) && fs::is_regular_file(t.wm, ec)) return t;
    tried += (tried.empty() ? "" : ", ") + shown_dir;
  }
  fail("synth", "the shipped template (" + std::string(stem) + "{t1,gm,wm}_2mm.nii.gz) is in none of: " +
                    (tried.empty() ? std::string("(no folder to look in)") : tried) +
                    "; pass --template T1 --gm GM --wm WM, or --phantom");
}

SynthSummary generate_cohort(const SynthOptions& o) {
  const std::string op = "synth";
  check(!o.out_dir.empty(), op, "no output folder given");
  check(o.subjects > 0 && o.subjects <= 100000, op, "subjects must be in 1..100000");
  check(!o.visits.empty(), op, "at least one visit is needed");
  check_diagnosis_mix(o.mix);
  for (size_t v = 0; v < o.visits.size(); ++v)
    check(o.visits[v] >= 0 && (v == 0 || o.visits[v] > o.visits[v - 1]), op,
          "visits must be increasing months >= 0");
  const bool any_template = !o.t1.empty() || !o.gm.empty() || !o.wm.empty();
  check(!any_template || (!o.t1.empty() && !o.gm.empty() && !o.wm.empty()), op,
        "a template needs all three files: --template T1 --gm GM --wm WM");
  check(o.shape.size() == 3, op, "shape must have 3 sizes");
  const double spacing = o.spacing > 0 ? o.spacing : 192.0 / static_cast<double>(o.shape[0]);

  const auto t0 = std::chrono::steady_clock::now();
  const Anatomy anatomy = any_template ? template_anatomy(o.t1, o.gm, o.wm) : phantom_anatomy(o.phantom_spacing);
  const Affine grid = synth_grid(anatomy, o.shape, spacing);
  fs::create_directories(o.out_dir);

  Manifest m;
  m.source = (fs::path(o.out_dir) / "manifest.csv").string();
  m.folder = o.out_dir;
  m.columns = {"subject", "path", "diagnosis", "session", "age", "ventricle_ml", "hippocampus_ml", "gm_ml", "severity"};
  SynthSummary summary;
  std::vector<double> hip_ad, hip_cn, ven_ad, ven_cn;
  // For the overview: the first subject of each diagnosis, baseline and last visit.
  std::vector<Volume> shown;
  std::vector<Display> shown_display;
  bool shown_dx[3] = {false, false, false};
  for (int64_t si = 0; si < o.subjects; ++si) {
    const SynthSubject s = draw_subject(si, o.seed, o.mix, o.preprocessing);
    const int dx = s.diagnosis == "CN" ? 0 : (s.diagnosis == "MCI" ? 1 : 2);
    ++summary.counts[dx];
    fs::create_directories(fs::path(o.out_dir) / s.id);
    const std::vector<float> warp = subject_warp(anatomy, s, grid, o.shape);
    for (size_t v = 0; v < o.visits.size(); ++v) {
      SynthTruth t;
      const Volume vol = synthesize_scan(anatomy, s, o.visits[v], static_cast<int64_t>(v), grid, o.shape, o.seed, &t, &warp);
      const std::string rel = s.id + "/" + s.id + "_ses-M" + two_digits(o.visits[v]) + "_T1w.nii.gz";
      write_nifti((fs::path(o.out_dir) / rel).string(), vol);
      ManifestRow row;
      row.subject = s.id;
      row.path = rel;
      row.diagnosis = s.diagnosis;
      row.session = o.visits[v];
      row.age = t.age;
      row.fields = {s.id, rel, s.diagnosis, std::to_string(o.visits[v]), fixed(t.age, 2), fixed(t.ventricle_ml, 3),
                    fixed(t.hippocampus_ml, 3), fixed(t.gm_ml, 2), fixed(t.severity, 3)};
      m.rows.push_back(row);
      ++summary.scans;
      if (v == 0) {
        if (dx == 0) hip_cn.push_back(t.hippocampus_ml), ven_cn.push_back(t.ventricle_ml);
        if (dx == 2) hip_ad.push_back(t.hippocampus_ml), ven_ad.push_back(t.ventricle_ml);
      }
      if (o.overview && !shown_dx[dx] && (v == 0 || v + 1 == o.visits.size())) {
        Display d;
        d.vmin = 0;
        d.vmax = 1.0;
        d.title = s.id + " " + s.diagnosis + ", month " + std::to_string(o.visits[v]) + ", age " + fixed(t.age, 1) +
                  ": hippocampi " + fixed(t.hippocampus_ml, 2) + " mL, ventricles " + fixed(t.ventricle_ml, 1) + " mL";
        shown.push_back(vol);
        shown_display.push_back(d);
        if (v + 1 == o.visits.size()) shown_dx[dx] = true;
      }
    }
    if (o.progress)
      std::cerr << s.id << " " << s.diagnosis << " age " << fixed(s.age, 1) << ": " << o.visits.size() << " scans\n"
                << std::flush;
  }
  write_manifest(m.source, m);
  summary.manifest = m.source;
  if (o.overview && !shown.empty()) write_png((fs::path(o.out_dir) / "overview.png").string(), figure_grid(shown, shown_display));
  if (!hip_ad.empty() && !hip_cn.empty()) {
    summary.auc_hippocampus = auc(hip_ad, hip_cn);  // AD has the smaller hippocampi
    summary.auc_ventricles = auc(ven_cn, ven_ad);   // AD has the larger ventricles
  }
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return summary;
}

}  // namespace ldae::data
