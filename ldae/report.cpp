#include "ldae/report.h"

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>

#include "ldae/report_claims.h"
#include "ldae/report_values.h"
#include "tensor/error.h"

namespace ldae::report {

using json = nlohmann::ordered_json;  // keeps the keys in the order results.json has them

const json& paper_numbers() {
  // ldae-reference 7.7 (the README of the published code, 128x160x128 ADNI scans).
  // Probe precision/recall/F1 there take CN as the positive class (ldae-reference 7.2).
  static const json paper = {
      {"vae", {{"ssim", 0.962}, {"mse", 0.001}}},
      {"ldae",
       {{"encoded", {{"10", {{"ssim", 0.953}}}, {"20", {{"ssim", 0.960}}}, {"50", {{"ssim", 0.962}}},
                     {"100", {{"ssim", 0.962}, {"mse", 0.001}}}}},
        {"semantic_only", {{"10", {{"ssim", 0.872}}}, {"20", {{"ssim", 0.871}}}, {"50", {{"ssim", 0.870}}},
                           {"100", {{"ssim", 0.869}, {"mse", 0.005}}}}}}},
      {"probe",
       {{"ad_vs_cn", {{"acc", 0.8365}, {"precision", 0.8469}, {"recall", 0.9102}, {"f1", 0.8774}, {"auc", 0.8948}}},
        {"age", {{"mae", 4.16}, {"rmse", 5.23}}}}},
      {"baselines",
       {{"image_dae",
         {{"ad_vs_cn", {{"acc", 0.7468}, {"precision", 0.7768}, {"recall", 0.8504}, {"f1", 0.8119}, {"auc", 0.7800}}},
          {"age", {{"mae", 4.93}, {"rmse", 6.11}}}}},
        {"supervised",
         {{"ad_vs_cn", {{"acc", 0.8464}, {"precision", 0.8690}, {"recall", 0.8743}, {"f1", 0.8716}, {"auc", 0.9067}}},
          {"age", {{"mae", 4.34}, {"rmse", 4.63}}}}}}},
      {"interpolation", {{"6_months", {{"ssim", 0.969}, {"mse", 0.0019}}}, {"24_months", {{"ssim", 0.93}, {"mse", 0.004}}}}},
      {"speed", {{"ratio", 20.0}}},
  };
  return paper;
}

namespace {

// A part that was not measured: {"skipped": "why"}. Returns the reason or "".
std::string skip_reason(const json& root, const std::string& part) {
  return report::skipped(root, part, "not measured in this run");
}

std::string text_or(const json& root, const std::string& path, const std::string& fallback) {
  const json* v = at_path(root, path);
  if (v && v->is_string()) return v->get<std::string>();
  if (v && v->is_number_integer()) return std::to_string(v->get<long long>());
  if (v && v->is_number()) return number(root, path, 3);
  return fallback;
}

void reconstruction_section(Document& doc, const json& r, const json& paper) {
  doc.heading("Reconstruction (test split)");
  if (const std::string why = skip_reason(r, "vae"); !why.empty()) {
    doc.paragraph("Not available: " + why + ".");
    return;
  }
  doc.paragraph(
      "SSIM: 3D, Gaussian window " + text_or(r, "metrics.ssim_kernel", "?") + ", sigma 1.5, data range 1 (" +
      "ldae-reference 7.6); MSE on [0, 1] intensities; every number is the mean over the test scans counted in "
      "its row (one per test subject first: their earliest visits, then their second, ...; the cheaper step "
      "counts on more scans). "
      "`encoded`: x_T from shifted DDIM inversion of the scan's latent with its own y_sem, then DDIM sampling "
      "with y_sem. `y_sem only`: x_T drawn from N(0, I), sampled with the scan's y_sem. `unconditional`: the "
      "stage-2 model alone from the same x_T draws (no semantic code), the floor that y_sem-only must beat. "
      "`another subject's y_sem`: the same x_T draws sampled with the code of the next scan in the row's list "
      "that belongs to another test subject: what y_sem-only keeps of this scan rather than of any brain is "
      "its lead over this row.");
  std::vector<std::vector<std::string>> rows = {
      {"model", "steps", "test scans", "SSIM (ours)", "MSE (ours)", "SSIM (paper)"}};
  rows.push_back({"autoencoder (decode of the posterior mean)", "–", text_or(r, "vae.scans", "?"),
                  number(r, "vae.ssim"), number(r, "vae.mse", 5), number(paper, "vae.ssim")});
  const std::map<std::string, std::string> ldae_labels = {{"encoded", "LDAE, encoded x_T"},
                                                          {"semantic_only", "LDAE, y_sem only"},
                                                          {"other_subject_code", "LDAE, another subject's y_sem"},
                                                          {"unconditional", "latent DDIM, unconditional"}};
  const std::map<std::string, std::string> dae_labels = {
      {"encoded", "image-space DAE, encoded x_T"},
      {"semantic_only", "image-space DAE, y_sem only"},
      {"other_subject_code", "image-space DAE, another subject's y_sem"},
      {"unconditional", "image DDIM, unconditional"}};
  const char* const modes[] = {"encoded", "semantic_only", "other_subject_code", "unconditional"};
  for (const char* mode : modes) {
    const json* m = at_path(r, std::string("ldae.") + mode);
    if (!m || !m->is_object()) continue;
    const std::string& label = ldae_labels.at(mode);
    for (const auto& [steps, _] : m->items()) {
      const std::string p = std::string("ldae.") + mode + "." + steps;
      rows.push_back({label, steps, text_or(r, p + ".scans", "?"), number(r, p + ".ssim"), number(r, p + ".mse", 5),
                      number(paper, p + ".ssim")});
    }
  }
  // The image-space DAE baseline's reconstructions of the same test scans (when evaluated).
  for (const char* mode : modes) {
    const std::string base = std::string("baselines.image_dae.reconstruction.") + mode;
    const json* m = at_path(r, base);
    if (!m || !m->is_object()) continue;
    const std::string& label = dae_labels.at(mode);
    for (const auto& [steps, _] : m->items())
      rows.push_back({label, steps, text_or(r, base + "." + steps + ".scans", "?"),
                      number(r, base + "." + steps + ".ssim"), number(r, base + "." + steps + ".mse", 5), "–"});
  }
  doc.table(rows);
}

// Reads each AD-vs-CN row's AUC against chance (0.5) by its bootstrap interval: above chance
// (the whole interval above 0.5), below it, or not told apart from it (0.5 inside). Only rows
// with an AUC and a 2-number interval count. Empty when there are none. The test split decides
// how wide the intervals are: with a few AD subjects even a strong measure may not clear 0.5.
std::string chance_reading(const json& r) {
  if (const std::string few = too_few_subjects(r, "probe."); !few.empty())
    return "AD vs CN against chance (AUC 0.5): the intervals are not read: " + few + ".";
  std::vector<std::string> above, below, inside;
  auto classify = [&](const std::string& label, const std::string& base) {
    double lo = 0, hi = 0;
    const json* auc = at_path(r, base + "ad_vs_cn.auc");
    if (!auc || !auc->is_number() || !interval_at(r, base + "ad_vs_cn.auc", &lo, &hi)) return;
    const std::string row = label + " " + with_interval(r, base + "ad_vs_cn.auc");
    (lo > 0.5 ? above : hi < 0.5 ? below : inside).push_back(row);
  };
  classify("LDAE y_sem", "probe.");
  if (const json* b = at_path(r, "baselines"); b && b->is_object())
    for (const auto& [name, value] : b->items())
      if (value.is_object() && !value.contains("skipped"))
        classify(text_or(value, "description", name), "baselines." + name + ".");
  if (above.empty() && below.empty() && inside.empty()) return "";
  auto list = [](const std::vector<std::string>& rows) {  // "a; b; c", or "none"
    return rows.empty() ? std::string("none") : join(rows, "; ");
  };
  std::string text = "AD vs CN against chance (AUC 0.5), by each row's 95% interval. ";
  text += "Above chance (the whole interval above 0.5): " + list(above) + ". ";
  if (!below.empty()) text += "Below chance (the whole interval below 0.5): " + list(below) + ". ";
  text += "Not told apart from chance (0.5 inside the interval): " + list(inside) +
          ". A row of the last kind may still be better than another; its interval says the test split is "
          "too small to tell it from guessing.";
  return text;
}

void probe_section(Document& doc, const json& r, const json& paper) {
  doc.heading("Linear probes (test subjects)");
  if (const std::string why = skip_reason(r, "probe"); !why.empty()) {
    doc.paragraph("Not available: " + why + ".");
    return;
  }
  doc.paragraph(
      "AD vs CN with **AD as the positive class** (precision, recall and F1 of AD; the published numbers take CN "
      "as positive, ldae-reference 7.2, so their precision/recall/F1 are not directly comparable). Brackets: "
      "bootstrap 95% intervals over test subjects. Age: all diagnoses, in years.");
  std::vector<std::vector<std::string>> rows = {
      {"features", "AUC", "accuracy", "precision", "recall", "F1", "MCC", "age MAE", "age RMSE"}};
  auto add = [&](const std::string& label, const json& root, const std::string& base) {
    const std::string c = base + "ad_vs_cn.", a = base + "age.";
    rows.push_back({label, with_interval(root, c + "auc"), with_interval(root, c + "acc"),
                    with_interval(root, c + "precision"), with_interval(root, c + "recall"),
                    with_interval(root, c + "f1"), with_interval(root, c + "mcc"), with_interval(root, a + "mae", 2),
                    with_interval(root, a + "rmse", 2)});
  };
  // Each of our rows with the paper's row of the same model right below it.
  const std::map<std::string, std::string> paper_rows = {{"image_dae", "image-space DAE (paper)"},
                                                         {"supervised", "supervised encoder (paper)"}};
  add("LDAE y_sem (ours)", r, "probe.");
  add("LDAE (paper, CN positive)", paper, "probe.");
  const json* b = at_path(r, "baselines");
  if (b && b->is_object())
    for (const auto& [name, value] : b->items()) {
      if (value.is_object() && value.contains("skipped")) {
        rows.push_back({name + " (ours): " + text_or(value, "skipped", "skipped"), "–", "–", "–", "–", "–", "–", "–",
                        "–"});
      } else {
        add(text_or(value, "description", name) + " (ours)", r, "baselines." + name + ".");
      }
      if (paper_rows.count(name)) add(paper_rows.at(name), paper, "baselines." + name + ".");
    }
  for (const auto& [name, label] : paper_rows)  // the paper's rows of models we did not list
    if (!b || !b->is_object() || !b->contains(name)) add(label, paper, "baselines." + name + ".");
  doc.table(rows);
  if (const std::string reading = chance_reading(r); !reading.empty()) doc.paragraph(reading);
  if (const json* spread = at_path(r, "y_sem_spread.summary"); spread && spread->is_string())
    doc.paragraph(spread->get<std::string>());
  if (const json* content = at_path(r, "y_sem_content.summary"); content && content->is_string())
    doc.paragraph(content->get<std::string>());
}

void generic_section(Document& doc, const json& r, const std::string& part, const std::string& title) {
  doc.heading(title);
  if (const std::string why = skip_reason(r, part); !why.empty()) {
    doc.paragraph("Not available: " + why + ".");
    return;
  }
  const json* p = at_path(r, part);
  if (p->contains("summary") && (*p)["summary"].is_string()) doc.paragraph((*p)["summary"]);
  if (p->contains("table") && (*p)["table"].is_array()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& row : (*p)["table"]) {
      std::vector<std::string> cells;
      for (const auto& cell : row) cells.push_back(cell.is_string() ? cell.get<std::string>() : cell.dump());
      rows.push_back(cells);
    }
    doc.table(rows);
  }
}

// The speed comparison (ldae/speed_eval.h): the summary, the table (per step and per volume,
// measured ratio beside the multiply-add ratio and the paper's 20x), then how it was measured.
void speed_section(Document& doc, const json& r) {
  doc.heading("Inference speed: LDAE vs an image-space diffusion autoencoder");
  if (const std::string why = skip_reason(r, "speed"); !why.empty()) {
    doc.paragraph("Not available: " + why + ".");
    return;
  }
  const json& p = *at_path(r, "speed");
  if (p.contains("summary") && p["summary"].is_string()) doc.paragraph(p["summary"]);
  if (p.contains("table") && p["table"].is_array()) {
    std::vector<std::vector<std::string>> rows;
    for (const auto& row : p["table"]) {
      std::vector<std::string> cells;
      for (const auto& cell : row) cells.push_back(cell.is_string() ? cell.get<std::string>() : cell.dump());
      rows.push_back(cells);
    }
    doc.table(rows);
  }
  std::string how;
  for (const char* key : {"method", "note", "weights"})
    if (p.contains(key) && p[key].is_string()) how += p[key].get<std::string>() + " ";
  how += "Components (medians): semantic encoder " + number(r, "speed.components_s.semantic_encoder", 3) +
         " s, AE encode " + number(r, "speed.components_s.ae_encode", 3) + " s, AE decode " +
         number(r, "speed.components_s.ae_decode", 3) + " s.";
  if (at_path(r, "speed.end_to_end"))
    how += " One whole LDAE reconstruction at " + text_or(r, "speed.end_to_end.steps", "?") + " steps took " +
           number(r, "speed.end_to_end.ldae_s", 2) + " s (composed estimate " +
           number(r, "speed.end_to_end.ldae_composed_s", 2) + " s).";
  doc.paragraph(how);
}

// results.json's figures as (path, caption): the entries that name a path (a string); a
// caption that is not a string is left empty.
std::vector<std::pair<std::string, std::string>> figure_list(const json& r) {
  std::vector<std::pair<std::string, std::string>> out;
  if (const json* figs = at_path(r, "figures"); figs && figs->is_array())
    for (const json& f : *figs)
      if (f.is_object() && f.contains("path") && f["path"].is_string())
        out.emplace_back(f["path"].get<std::string>(),
                         f.contains("caption") && f["caption"].is_string() ? f["caption"].get<std::string>() : "");
  return out;
}

// The wall times in the order the pipeline runs them (the evaluation's parts after the
// stages, under evaluate_s, which holds them), any other key after those, then the total:
// the stages plus evaluate_s.
std::vector<std::vector<std::string>> timing_rows(const json& r, const json& timing) {
  const std::vector<std::string> order = {"synth_s",
                                          "train_ae_s",
                                          "cache_latents_s",
                                          "train_ldm_s",
                                          "train_repr_s",
                                          "image_dae_cache_s",
                                          "image_dae_train_ldm_s",
                                          "image_dae_train_repr_s",
                                          "evaluate_s",
                                          "evaluate_features_s",
                                          "evaluate_reconstruction_s",
                                          "evaluate_probes_s",
                                          "evaluate_supervised_s",
                                          "evaluate_image_dae_s",
                                          "evaluate_manipulation_s",
                                          "evaluate_interpolation_s",
                                          "evaluate_speed_s"};
  std::vector<std::string> keys;
  for (const std::string& k : order)
    if (timing.contains(k)) keys.push_back(k);
  for (const auto& [k, v] : timing.items())
    if (std::find(order.begin(), order.end(), k) == order.end()) keys.push_back(k);
  std::vector<std::vector<std::string>> rows = {{"stage", "seconds"}};
  double total = 0;
  for (const std::string& k : keys) {
    const bool part = k.rfind("evaluate_", 0) == 0 && k != "evaluate_s";  // a part of evaluate_s
    rows.push_back({part ? "  of which " + k : k, number(r, "timing." + k, 1)});
    if (!part && timing[k].is_number()) total += timing[k].get<double>();
  }
  rows.push_back({"total (stages and evaluation)", fixed(total, 1)});
  return rows;
}

}  // namespace

Document build_report(const json& r) {
  const json& paper = paper_numbers();
  Document doc;
  doc.heading("LDAE on the synthetic cohort: evaluation report", 1);
  doc.paragraph("Preset `" + text_or(r, "preset", "?") + "`, seed " + text_or(r, "seed", "?") + ", " +
                text_or(r, "threads", "?") + " threads, " + text_or(r, "machine.cpu", "unknown CPU") + "; program " +
                text_or(r, "program", "?") + ". Cohort: " + text_or(r, "cohort.subjects", "?") + " subjects, " +
                text_or(r, "cohort.scans", "?") + " scans (split by subject: " + text_or(r, "cohort.split.train", "?") +
                " train / " + text_or(r, "cohort.split.val", "?") + " val / " + text_or(r, "cohort.split.test", "?") +
                " test scans). Every number below is read from `results.json`, written by the program in this run.");
  const std::vector<std::pair<std::string, std::string>> figures = figure_list(r);
  if (!figures.empty()) doc.figure(figures[0].first, figures[0].second);
  doc.heading("The paper's relations on this run");
  doc.paragraph(
      "Each row is a relation the published LDAE reports (ldae-reference 7.7, 8), read on this run's numbers by the "
      "rule beside it (ldae/report_claims.h). `not resolved`: the bootstrap intervals leave it open, the test split "
      "is too small to tell; `not measured`: the part was skipped. The sections below hold the details.");
  doc.table(claims_table(r), /*numeric=*/false);
  reconstruction_section(doc, r, paper);
  probe_section(doc, r, paper);
  generic_section(doc, r, "manipulation", "Manipulation along the AD direction");
  generic_section(doc, r, "interpolation", "Interpolation of missing visits");
  speed_section(doc, r);

  doc.heading("Wall time per stage");
  if (const json* t = at_path(r, "timing"); t && t->is_object() && !t->empty()) {
    doc.table(timing_rows(r, *t));
  } else {
    doc.paragraph("Not recorded.");
  }
  if (figures.size() > 1) {
    doc.heading("Figures");
    for (size_t i = 1; i < figures.size(); ++i) doc.figure(figures[i].first, figures[i].second);
  }
  doc.heading("How to reproduce");
  if (const json* c = at_path(r, "commands"); c && c->is_array()) {
    std::string text;
    for (const auto& line : *c)
      if (line.is_string()) text += line.get<std::string>() + "\n";
    doc.code(text);
  }
  return doc;
}

namespace {

void write_text_atomic(const std::string& path, const std::string& text) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    out << text;
    out.flush();
    if (!out) fail("report", "cannot write " + tmp);
  }
  std::error_code ec;
  std::filesystem::rename(tmp, path, ec);
  if (ec) fail("report", "cannot rename " + tmp + " to " + path + ": " + ec.message());
}

}  // namespace

void write_report(const std::string& dir, const json& results) {
  const Document doc = build_report(results);
  write_text_atomic(dir + "/report.md", doc.markdown());
  write_text_atomic(dir + "/report.html", doc.html("LDAE evaluation report", dir));
}

}  // namespace ldae::report
