// The speed comparison (ldae/speed_eval.h) at the tiny preset: every documented key is
// there, times are positive (never compared with anything: timings are not pass/fail), the
// multiply-adds are consistent (the image-space step costs more than the latent step, the
// per-volume counts are composed as documented), the report renders it, and bad requests
// are ldae::Error before any network is built.
#include <gtest/gtest.h>

#include <string>

#include "ldae/presets.h"
#include "ldae/report.h"
#include "ldae/speed_eval.h"
#include "tensor/error.h"

namespace {

using nlohmann::ordered_json;
using ldae::stages::measure_speed;
using ldae::stages::SpeedRequest;

SpeedRequest tiny_request() {
  SpeedRequest r;
  r.preset = "tiny";
  r.steps = {10, 20};
  r.repetitions = 1;
  r.end_to_end = true;
  return r;
}

TEST(SpeedEval, TinyHasEveryKeyAndConsistentCounts) {
  const ordered_json s = measure_speed(tiny_request());
  for (const char* key : {"summary", "method", "note", "weights", "machine", "image_shape", "latent_shape",
                          "image_dae_network", "repetitions", "macs", "components_s", "ldae", "image_dae",
                          "ratio_per_step", "per_volume", "end_to_end", "paper_ratio", "table"})
    EXPECT_TRUE(s.contains(key)) << key;
  EXPECT_EQ(s["image_shape"], ordered_json({1, 1, 16, 20, 16}));
  EXPECT_EQ(s["latent_shape"], ordered_json({1, 3, 8, 10, 8}));  // the tiny AE downsamples once
  EXPECT_EQ(s["image_dae_network"]["input_channel"], 1);
  EXPECT_EQ(s["image_dae_network"]["levels"], 2);
  EXPECT_EQ(s["image_dae_network"]["attention_tokens"], 8 * 10 * 8);  // attention at ds 2
  EXPECT_GT(s["ldae"]["per_step_s"].get<double>(), 0);
  EXPECT_GT(s["image_dae"]["per_step_s"].get<double>(), 0);
  for (const char* c : {"semantic_encoder", "ae_encode", "ae_decode"})
    EXPECT_GT(s["components_s"][c].get<double>(), 0) << c;
  const ordered_json& m = s["macs"];
  EXPECT_GT(m["ldae_step"].get<double>(), 0);
  EXPECT_GT(m["image_dae_step"].get<double>(), m["ldae_step"].get<double>());
  EXPECT_DOUBLE_EQ(m["ratio_per_step"].get<double>(),
                   m["image_dae_step"].get<double>() / m["ldae_step"].get<double>());
  for (int steps : {10, 20}) {
    const ordered_json& v = s["per_volume"][std::to_string(steps)];
    for (const char* key : {"ldae_s", "image_dae_s", "ratio", "ldae_macs", "image_dae_macs", "macs_ratio"})
      ASSERT_TRUE(v.contains(key)) << steps << " " << key;
    EXPECT_GT(v["ldae_s"].get<double>(), 0);
    EXPECT_GT(v["image_dae_s"].get<double>(), 0);
    EXPECT_DOUBLE_EQ(v["ldae_macs"].get<double>(),
                     m["semantic_encoder"].get<double>() + m["ae_encode"].get<double>() +
                         2.0 * steps * m["ldae_step"].get<double>() + m["ae_decode"].get<double>());
    EXPECT_DOUBLE_EQ(v["image_dae_macs"].get<double>(),
                     m["semantic_encoder"].get<double>() + 2.0 * steps * m["image_dae_step"].get<double>());
  }
  EXPECT_EQ(s["end_to_end"]["steps"], 10);
  EXPECT_GT(s["end_to_end"]["ldae_s"].get<double>(), 0);
  EXPECT_EQ(s["paper_ratio"].get<double>(), 20.0);
  EXPECT_EQ(s["table"].size(), 4u);  // header, one step, two step counts

  // The report shows the table with the paper's ratio beside ours.
  ordered_json results;
  results["speed"] = s;
  const std::string md = ldae::report::build_report(results).markdown();
  EXPECT_NE(md.find("Inference speed: LDAE vs an image-space diffusion autoencoder"), std::string::npos);
  EXPECT_NE(md.find("| one volume, 10 + 10 |"), std::string::npos) << md;
  EXPECT_NE(md.find("paper ratio"), std::string::npos);
}

TEST(SpeedEval, MultiplyAddsDoNotDependOnTheRun) {
  SpeedRequest r = tiny_request();
  r.end_to_end = false;
  r.steps = {10};
  const ordered_json a = measure_speed(r);
  r.seed = 7;
  const ordered_json b = measure_speed(r);
  EXPECT_EQ(a["macs"], b["macs"]);
}

TEST(SpeedEval, BadRequestsAreErrors) {
  auto expect_error = [](SpeedRequest r, const std::string& part) {
    try {
      measure_speed(r);
      ADD_FAILURE() << "no error for " << part;
    } catch (const ldae::Error& e) {
      const std::string what = e.what();
      EXPECT_NE(what.find("speed"), std::string::npos) << what;
      EXPECT_NE(what.find(part), std::string::npos) << what;
    }
  };
  SpeedRequest r = tiny_request();
  r.preset = "huge";
  expect_error(r, "unknown preset 'huge'");
  r = tiny_request();
  r.steps = {};
  expect_error(r, "empty");
  r.steps = {10, 0};
  expect_error(r, "got 0");
  r.steps = {1001};
  expect_error(r, "got 1001");
  r = tiny_request();
  r.repetitions = 0;
  expect_error(r, "repetitions");
}

TEST(SpeedEval, AModelOfAnotherImageSizeIsAnError) {
  ldae::Generator gen(0);
  ldae::infer::LdaeModel model;
  model.autoencoder = std::make_shared<ldae::nets::AutoencoderKL>(ldae::nets::autoencoder_kl_preset("tiny"), gen);
  model.shift_unet = std::make_shared<ldae::nets::ShiftUNet>(ldae::nets::shift_unet_preset("tiny"), gen);
  model.encoder = std::make_shared<ldae::nets::AttentionSemanticEncoder>(
      ldae::nets::attention_semantic_encoder_preset("tiny"), gen);
  model.image_shape = {64, 80, 64};
  SpeedRequest r = tiny_request();
  r.model = &model;
  EXPECT_THROW(measure_speed(r), ldae::Error);
}

}  // namespace
