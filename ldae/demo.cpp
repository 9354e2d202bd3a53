#include "ldae/demo.h"

#include <chrono>
#include <filesystem>
#include <functional>
#include <iostream>
#include <vector>

#include "ldae/evaluate.h"
#include "ldae/latent_cache.h"
#include "ldae/run/run_folder.h"
#include "ldae/run/settings.h"
#include "ldae/synth_cohort.h"
#include "ldae/train_ae.h"
#include "ldae/train_ae_settings.h"
#include "ldae/train_ldm.h"
#include "ldae/train_ldm_settings.h"
#include "ldae/train_repr.h"
#include "ldae/train_repr_settings.h"
#include "nn/progress.h"
#include "tensor/error.h"

namespace ldae::stages {

namespace fs = std::filesystem;
using nlohmann::json;
using nlohmann::ordered_json;

data::SynthOptions demo_cohort_options(const std::string& preset, uint64_t seed, const std::string& out_dir) {
  data::SynthOptions o;
  o.out_dir = out_dir;
  o.seed = seed;
  o.visits = {0, 6, 12, 24};  // four visits: interpolation needs three or more
  o.overview = true;
  if (preset == "tiny") {
    o.subjects = 16;
    o.shape = {16, 20, 16};  // the tiny preset's image (12 mm voxels: a thumbnail of a brain)
  } else if (preset == "course") {
    // 120 subjects, two thirds of them held out for testing (demo_split), the stages training
    // on 28 as with the earlier 80-subject cohort (half for testing), whose test split held
    // 10 AD and 17 CN subjects: too few for any AD-vs-CN reading, as even the true hippocampal
    // volume's AUC interval held 0.5 ([0.480, 0.958]). Test subjects cost only inference (about
    // 0.4 s a scan here), so the cohort grows there. Fewer MCI subjects than ADNI's mix (20 %
    // instead of the default 35 %; the AD-vs-CN probes do not use them): 58 CN, 24 MCI and 38
    // AD at seed 0, of whom 26 AD and 39 CN test subjects. The demo took 16:06 on a fresh clone
    // on the project's 2-core machine (20:48 while it ran about 1.3x slower); 160 subjects of the
    // default mix (30 AD and 47 CN test subjects) took 19:52 on that slow stretch.
    o.subjects = 120;
    o.mix = {0.45, 0.20, 0.35};
    o.shape = {64, 80, 64};  // 3 mm voxels
  } else if (preset == "paper") {
    o.subjects = 100;
    o.shape = {128, 160, 128};  // the published 1.5 mm grid
  } else {
    fail("demo", "unknown preset '" + preset + "' (valid: tiny, course, paper)");
  }
  return o;
}

namespace {

// The cohort step is complete when OUT/cohort/cohort.json exists and names the same
// options; another cohort in the folder is refused (the stages after it would mix data).
bool cohort_done(const data::SynthOptions& o, const std::string& marker, const ordered_json& want) {
  if (!fs::exists(marker)) return false;
  const json have = run::read_json(marker);
  if (have != json(want))
    fail("demo", o.out_dir + " holds another cohort (" + have.dump() + ", this run wants " + json(want).dump() +
                     "): use another --out or remove the folder");
  return true;
}

// One step of the demo: its name (for the progress lines and timing.json) and work, which
// returns true when it did work and false when it found the step already complete.
struct Step {
  std::string name, what;
  std::function<bool()> work;
};

// The preset's settings with the demo's seed, plus `extra` key=value assignments.
run::Settings stage_settings(const run::SettingsTable& table, const std::string& preset, uint64_t seed,
                             std::vector<std::string> extra = {}) {
  extra.insert(extra.begin(), "seed=" + std::to_string(seed));
  return run::resolve_settings(table, preset, "", extra);
}

// The demo's split (stage 1 fixes it for every later stage): stratified by diagnosis, so
// that even the small demo cohorts have AD and CN subjects in the test split, which the
// probes need. At tiny 20 % of each diagnosis's subjects for testing, 15 % of the rest for
// validation. At course two thirds (0.67) for testing and a quarter of the rest for
// validation: with 120 subjects the stages and probes train on 28 (112 scans), model
// selection sees 10 and the probes' bootstrap intervals rest on 82 test subjects (26 AD,
// 39 CN at seed 0).
std::vector<std::string> demo_split(const std::string& preset) {
  if (preset == "course") return {"split_stratify=true", "test_fraction=0.67", "val_fraction=0.25"};
  return {"split_stratify=true", "test_fraction=0.2", "val_fraction=0.15"};
}

// What the demo changes in a stage's preset settings: only the split of stage 1 (demo_split).
// The course stages keep their presets (one, 12 and five epochs over the 112 training scans;
// stage 1 with a cosine learning-rate decay) and the whole course demo fits in 20 minutes on a
// 2-core CPU (measured: docs/results.md). On the earlier 40-subject cohort (52 training scans,
// seed 0) stage 1 ran three passes: at a constant rate the autoencoder's validation SSIM was
// 0.245, 0.439, 0.393 after each, with the cosine decay 0.387, 0.703, 0.730; on the 80-subject one
// cosine pass gives 0.697 (two: 0.724 in nearly twice the time).
// The image-space DAE's stages ("image-train-ldm", "image-train-repr") take the latent
// stages' overrides, and at tiny less work, so that the baseline adds well under a minute to
// the CI demo (a tiny image-space step costs several times a latent one: with the tiny
// presets' 4 + 2 epochs its two stages took about 60 s on a loaded 2-core machine): stage 2
// two epochs instead of four, stage 3 validated on 4 of the 12 validation scans.
std::vector<std::string> demo_overrides(const std::string& stage, const std::string& preset) {
  if (stage.rfind("image-", 0) == 0) {
    std::vector<std::string> extra = demo_overrides(stage.substr(6), preset);
    if (preset == "tiny") extra.push_back(stage == "image-train-ldm" ? "epochs=2" : "val_scans=4");
    return extra;
  }
  std::vector<std::string> extra;
  if (stage == "train-ae") extra = demo_split(preset);
  return extra;
}

// " --diagnosis-mix 0.40,0.20,0.40" when the cohort's mix is not the default (none of the presets
// sets one), for the synth command the report prints; else "".
std::string mix_flag(const data::DiagnosisMix& mix) {
  const data::DiagnosisMix d;
  if (mix.cn == d.cn && mix.mci == d.mci && mix.ad == d.ad) return "";
  char buf[64];
  std::snprintf(buf, sizeof buf, " --diagnosis-mix %.2f,%.2f,%.2f", mix.cn, mix.mci, mix.ad);
  return buf;
}

// "0,6,12,24"
std::string comma_list(const std::vector<int64_t>& values) {
  std::string out;
  for (size_t i = 0; i < values.size(); ++i) out += (i ? "," : "") + std::to_string(values[i]);
  return out;
}

// " --set a=1 --set b=2" for the commands the report prints.
std::string set_flags(const std::vector<std::string>& assignments) {
  std::string out;
  for (const auto& a : assignments) out += " --set " + a;
  return out;
}

// The work of the steps that stages 2 and 3 and their cache make, shared by the LDAE and the
// image-space DAE baseline (each with its own folders and demo_overrides key). Each returns
// whether it did any work (false: the run was already finished).
std::function<bool()> cache_step(const DemoRequest& r, const std::string& ae_run, const std::string& out,
                                 bool image_space) {
  return [&r, ae_run, out, image_space] {
    CacheLatentsRequest q;
    q.ae_run = ae_run;
    q.out = out;
    q.image_space = image_space;
    q.progress = r.progress;
    return !cache_latents(q).already_complete;
  };
}

std::function<bool()> train_ldm_step(const DemoRequest& r, const std::string& latents, const std::string& out,
                                     const std::string& overrides_key) {
  return [&r, latents, out, overrides_key] {
    TrainLdmRequest q;
    q.latents = latents;
    q.out = out;
    q.preset = r.preset;
    q.settings = stage_settings(train_ldm_settings(), r.preset, r.seed, demo_overrides(overrides_key, r.preset));
    q.progress = r.progress;
    q.device = r.device;
    return train_ldm(q).start != run::RunStart::Finished;
  };
}

std::function<bool()> train_repr_step(const DemoRequest& r, const std::string& ldm_run, const std::string& out,
                                      const std::string& overrides_key) {
  return [&r, ldm_run, out, overrides_key] {
    TrainReprRequest q;
    q.ldm_run = ldm_run;
    q.out = out;
    q.preset = r.preset;
    q.settings = stage_settings(train_repr_settings(), r.preset, r.seed, demo_overrides(overrides_key, r.preset));
    q.progress = r.progress;
    q.device = r.device;
    return train_repr(q).start != run::RunStart::Finished;
  };
}

}  // namespace

DemoResult run_demo(const DemoRequest& r) {
  const auto t_start = std::chrono::steady_clock::now();
  require_usable_device("demo", r.device);
  const fs::path out = r.out;
  std::error_code ec;
  fs::create_directories(out, ec);
  if (ec) fail("demo", "cannot create " + r.out + ": " + ec.message());

  data::SynthOptions cohort = demo_cohort_options(r.preset, r.seed, (out / "cohort").string());
  cohort.preprocessing = r.preprocessing;
  const std::string preprocessing_flag = r.preprocessing == data::Preprocessing::registered ? " --registered"
                                         : r.preprocessing == data::Preprocessing::full     ? " --preprocessed"
                                                                                            : "";
  const std::string manifest = (out / "cohort" / "manifest.csv").string();
  const std::string run1 = (out / "runs" / "1-autoencoder").string(), latents = (out / "latents").string(),
                    run2 = (out / "runs" / "2-ldm").string(), run3 = (out / "runs" / "3-repr").string();
  const std::string seed = std::to_string(r.seed);
  const std::string device = r.device.is_cpu() ? "" : " --device " + r.device.str();  // the stages' flag
  // The image-space DAE baseline: the same stages 2 and 3 on the images (same stage-1 split).
  const bool image_dae = r.image_dae < 0 ? r.preset == "tiny" : r.image_dae > 0;
  const std::string latents_image = (out / "latents-image").string(),
                    run2_image = (out / "runs" / "2-image-ldm").string(),
                    run3_image = (out / "runs" / "3-image-repr").string();

  // The commands that reproduce each step one by one (printed in the report).
  std::vector<std::string> commands = {
      "ldae demo --preset " + r.preset + " --seed " + seed + " --out " + r.out + preprocessing_flag + device +
          "   # all of the below",
      "ldae synth --out " + cohort.out_dir + " --subjects " + std::to_string(cohort.subjects) + " --seed " + seed +
          " --shape " + std::to_string(cohort.shape[0]) + "," + std::to_string(cohort.shape[1]) + "," +
          std::to_string(cohort.shape[2]) + " --visits " + comma_list(cohort.visits) + mix_flag(cohort.mix) +
          preprocessing_flag,
      "ldae train-ae --data " + manifest + " --out " + run1 + " --preset " + r.preset + " --set seed=" + seed +
          set_flags(demo_overrides("train-ae", r.preset)) + device,
      "ldae cache-latents --ae " + run1 + " --out " + latents,
      "ldae train-ldm --latents " + latents + " --out " + run2 + " --preset " + r.preset + " --set seed=" + seed +
          set_flags(demo_overrides("train-ldm", r.preset)) + device,
      "ldae train-repr --ldm " + run2 + " --out " + run3 + " --preset " + r.preset + " --set seed=" + seed +
          set_flags(demo_overrides("train-repr", r.preset)) + device,
  };
  if (image_dae) {
    commands.push_back("ldae cache-latents --image-space --ae " + run1 + " --out " + latents_image);
    commands.push_back("ldae train-ldm --latents " + latents_image + " --out " + run2_image + " --preset " +
                       r.preset + " --set seed=" + seed + set_flags(demo_overrides("image-train-ldm", r.preset)) + device);
    commands.push_back("ldae train-repr --ldm " + run2_image + " --out " + run3_image + " --preset " + r.preset +
                       " --set seed=" + seed + set_flags(demo_overrides("image-train-repr", r.preset)) + device);
  }
  commands.push_back("ldae evaluate --repr " + run3 + " --out " + r.out + " --seed " + seed +
                     (image_dae ? " --image-dae " + run3_image +
                                      (r.preset == "tiny" ? " --image-dae-steps 20 --image-dae-reconstructions 1" : "")
                                : std::string()));

  ordered_json results;  // what the evaluation step wrote to results.json
  const std::string timing_path = (out / "timing.json").string();
  json timing = fs::exists(timing_path) ? run::read_json(timing_path) : json::object();

  std::vector<Step> steps;
  steps.push_back({"synth", "the synthetic cohort", [&] {
                     data::SynthOptions o = cohort;
                     const data::TemplateFiles t = data::shipped_template();
                     o.t1 = t.t1, o.gm = t.gm, o.wm = t.wm;
                     o.progress = r.progress;
                     // The record `ldae synth` writes (ldae/synth_cohort.h), with the preset first.
                     ordered_json want = {{"preset", r.preset}};
                     const ordered_json record = synth_cohort_record(o);
                     for (const auto& [key, value] : record.items()) want[key] = value;
                     const std::string marker = (out / "cohort" / "cohort.json").string();
                     if (cohort_done(cohort, marker, want)) return false;
                     data::generate_cohort(o);
                     run::write_json_atomic(marker, want);
                     return true;
                   }});
  steps.push_back({"train_ae", "stage 1, the autoencoder", [&] {
                     TrainAeRequest q;
                     q.manifest = manifest;
                     q.out = run1;
                     q.preset = r.preset;
                     q.settings = stage_settings(train_ae_settings(), r.preset, r.seed, demo_overrides("train-ae", r.preset));
                     q.progress = r.progress;
                     q.device = r.device;
                     return train_ae(q).start != run::RunStart::Finished;
                   }});
  steps.push_back({"cache_latents", "the latent cache", cache_step(r, run1, latents, /*image_space=*/false)});
  steps.push_back({"train_ldm", "stage 2, the latent diffusion model", train_ldm_step(r, latents, run2, "train-ldm")});
  steps.push_back({"train_repr", "stage 3, the semantic encoder and gradient estimator",
                   train_repr_step(r, run2, run3, "train-repr")});
  if (image_dae) {
    steps.push_back({"image_dae_cache", "the image-space DAE baseline: the images in [-1, 1], stage 1's split",
                     cache_step(r, run1, latents_image, /*image_space=*/true)});
    steps.push_back({"image_dae_train_ldm", "the image-space DAE baseline: stage 2 on the images",
                     train_ldm_step(r, latents_image, run2_image, "image-train-ldm")});
    steps.push_back({"image_dae_train_repr", "the image-space DAE baseline: stage 3 on the images",
                     train_repr_step(r, run2_image, run3_image, "image-train-repr")});
  }
  steps.push_back({"evaluate", "evaluation and report", [&] {
                     EvaluateRequest q;
                     q.repr_run = run3;
                     q.out = r.out;
                     q.seed = r.seed;
                     q.preset = r.preset;
                     q.commands = commands;
                     q.timing = timing;  // the stages' times so far; evaluate adds its own
                     q.progress = r.progress;
                     if (image_dae) {
                       q.image_dae_run = run3_image;
                       // Its reconstructions at tiny: one test scan at 20 steps (the full budget,
                       // 2 scans x 10/20/50/100 steps x 4 passes, took 100 s of image-space calls).
                       if (r.preset == "tiny") {
                         q.image_dae_steps = {20};
                         q.image_dae_reconstructions = 1;
                       }
                     } else {
                       q.image_dae_skipped =
                           r.image_dae == 0
                               ? std::string("turned off for this demo (DemoRequest::image_dae = 0)")
                               : "not trained by this demo: at preset " + r.preset +
                                     " an image-space step costs ~20-50x a latent step (hours on a CPU); run ldae "
                                     "demo --image-dae to include it";
                     }
                     results = evaluate(q).results;
                     return true;  // always re-evaluated: cheap next to training, and the report shows the timings
                   }});

  for (size_t i = 0; i < steps.size(); ++i) {
    const Step& s = steps[i];
    const std::string tag = "demo [" + std::to_string(i + 1) + "/" + std::to_string(steps.size()) + "] ";
    if (r.progress) std::cerr << tag << s.name << ": " << s.what << "\n";
    const auto t0 = std::chrono::steady_clock::now();
    bool worked = false;
    try {
      worked = s.work();
    } catch (const std::exception& e) {
      fail("demo", "step " + s.name + " failed: " + e.what() + " (what was done is kept in " + r.out +
                       "; run the same command again to continue)");
    }
    const double dt = nn::seconds_since(t0);
    if (worked && s.name != "evaluate") {
      timing[s.name + "_s"] = dt;
      run::write_json_atomic(timing_path, ordered_json(timing));
    }
    if (r.progress)
      std::cerr << tag << s.name << ": " << (worked ? "done in " + nn::Progress::format_duration(dt)
                                                    : std::string("already complete"))
                << " (demo so far " << nn::Progress::format_duration(nn::seconds_since(t_start)) << ")\n";
  }

  DemoResult result;
  result.report_md = (out / "report.md").string();
  result.report_html = (out / "report.html").string();
  result.results_json = (out / "results.json").string();
  result.features_csv = (out / "features.csv").string();
  result.results = results;
  result.seconds = nn::seconds_since(t_start);
  return result;
}

}  // namespace ldae::stages
