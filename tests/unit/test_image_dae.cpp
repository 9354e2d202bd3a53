// The image-space diffusion autoencoder baseline (the paper's "DAE") through the existing
// stages, on a tiny phantom cohort after stage 1:
//   - cache-latents --image-space writes (1, X, Y, Z) "latents" equal to 2x - 1 with stage 1's
//     split, scale factor 1, "space": "image"; the same request again does nothing; --sample
//     and --scale are refused;
//   - train-ldm and train-repr run on it (the UNet on the 1-channel image, isotropic), record
//     the space, and load_trained_ldae gives a model without autoencoder whose reconstruct
//     works and whose validation reference was the image itself.
//   - evaluate refuses, before any work, an --image-dae run that is a latent-space run or
//     whose scans or split differ from the LDAE's.
// The evaluation with --image-dae itself is checked by tests/cli/test_demo.sh (the tiny demo
// trains the baseline).
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>

#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "common/tiny_cohort.h"
#include "data/nifti.h"
#include "data/preprocess.h"
#include "ldae/autoencoding.h"
#include "ldae/evaluate.h"
#include "ldae/inference_stages.h"
#include "ldae/latent_cache.h"
#include "ldae/metrics.h"
#include "ldae/presets.h"
#include "ldae/run/run_folder.h"
#include "ldae/train_ae.h"
#include "ldae/train_ae_settings.h"
#include "ldae/train_ldm.h"
#include "ldae/train_ldm_settings.h"
#include "ldae/train_repr.h"
#include "ldae/train_repr_settings.h"
#include "tensor/ops.h"

using namespace ldae;
using ldae::testing::expect_error;
namespace fs = std::filesystem;

namespace {

// One tiny cohort and stage-1 run for every test of this file (built once).
class ImageDae : public ::testing::Test {
 protected:
  static fs::path dir;
  static void SetUpTestSuite() {
    dir = fs::temp_directory_path() / ("ldae_image_dae_" + std::to_string(::getpid()));
    ldae::testing::make_tiny_cohort(dir);
    stages::TrainAeRequest ae;
    ae.manifest = (dir / "cohort" / "manifest.csv").string();
    ae.out = (dir / "run1").string();
    ae.preset = "tiny";
    ae.settings = run::resolve_settings(stages::train_ae_settings(), "tiny", "", {"epochs=1", "val_fraction=0.2"});
    ae.progress = false;
    stages::train_ae(ae);
  }
  static void TearDownTestSuite() { fs::remove_all(dir); }
  static std::string run1() { return (dir / "run1").string(); }
};
fs::path ImageDae::dir;

// Stages 2 and 3 on `lat`, one epoch each, into out/run2, out/run3; returns run3.
std::string train_stages_2_and_3(const std::string& lat, const fs::path& out) {
  stages::TrainLdmRequest ldm;
  ldm.latents = lat;
  ldm.out = (out / "run2").string();
  ldm.preset = "tiny";
  ldm.settings = run::resolve_settings(stages::train_ldm_settings(), "tiny", "", {"epochs=1", "sample_count=0"});
  ldm.progress = false;
  stages::train_ldm(ldm);
  stages::TrainReprRequest req;
  req.ldm_run = ldm.out;
  req.out = (out / "run3").string();
  req.preset = "tiny";
  req.settings = run::resolve_settings(stages::train_repr_settings(), "tiny", "", {"epochs=1"});
  req.progress = false;
  stages::train_repr(req);
  return req.out;
}

stages::CacheLatentsRequest image_request(const std::string& run1, const std::string& out) {
  stages::CacheLatentsRequest q;
  q.ae_run = run1;
  q.out = out;
  q.image_space = true;
  q.progress = false;
  return q;
}

}  // namespace

TEST_F(ImageDae, LatentCacheImageSpaceHoldsTheImagesWithStageOnesSplit) {
  const std::string lat = (dir / "lat-image").string();
  const stages::CacheLatentsResult r = stages::cache_latents(image_request(run1(), lat));
  EXPECT_FALSE(r.already_complete);
  EXPECT_EQ(r.latent_shape, Shape({1, 16, 20, 16}));
  EXPECT_EQ(r.scale_factor, 1.0);
  EXPECT_EQ(r.count, 6);
  const stages::LatentCache c = stages::open_latent_cache(lat);
  EXPECT_TRUE(c.image_space);
  EXPECT_EQ(c.info.at("mode"), "image");
  EXPECT_EQ(c.info.at("space"), "image");
  EXPECT_EQ(c.info.at("scale_source"), "image space: fixed 1");
  EXPECT_EQ(c.preset, "tiny");
  for (size_t row = 0; row < c.manifest.rows.size(); ++row) {
    const data::Volume v = data::normalize_intensity(data::read_nifti(c.manifest.rows[row].full_path));
    const Tensor want = add_scalar(mul_scalar(v.voxels.reshape({1, 16, 20, 16}), 2.0), -1.0);
    EXPECT_EQ(stages::read_scaled_latent(c, row).to_vector(), want.to_vector()) << "row " << row;
  }

  // The split is the latent cache's (stage 1's), row for row.
  stages::CacheLatentsRequest latent;
  latent.ae_run = run1();
  latent.out = (dir / "lat").string();
  latent.progress = false;
  stages::cache_latents(latent);
  const stages::LatentCache l = stages::open_latent_cache(latent.out);
  EXPECT_FALSE(l.image_space);
  EXPECT_EQ(l.info.at("space"), "latent");
  ASSERT_EQ(l.manifest.rows.size(), c.manifest.rows.size());
  for (const char* split : {"train", "val", "test"})
    EXPECT_EQ(stages::rows_of_split(l, split), stages::rows_of_split(c, split)) << split;
  EXPECT_FALSE(stages::rows_of_split(c, "val").empty());

  // The same request again: nothing to do. A latent request into it: refused.
  EXPECT_TRUE(stages::cache_latents(image_request(run1(), lat)).already_complete);
  stages::CacheLatentsRequest other = latent;
  other.out = lat;
  expect_error([&] { stages::cache_latents(other); }, {"made with other arguments"});

  stages::CacheLatentsRequest bad = image_request(run1(), (dir / "lat-bad").string());
  bad.sample = true;
  expect_error([&] { stages::cache_latents(bad); }, {"--sample", "--image-space"});
  bad.sample = false;
  bad.scale = 0.5;
  expect_error([&] { stages::cache_latents(bad); }, {"--scale", "--image-space"});
  EXPECT_FALSE(fs::exists(dir / "lat-bad"));
}

TEST_F(ImageDae, TrainLdmTrainReprOnTheImagesAndReconstruct) {
  const std::string lat = (dir / "lat-image-2").string();
  stages::cache_latents(image_request(run1(), lat));
  stages::TrainLdmRequest ldm;
  ldm.latents = lat;
  ldm.out = (dir / "run2-image").string();
  ldm.preset = "tiny";
  ldm.settings = run::resolve_settings(stages::train_ldm_settings(), "tiny", "", {"epochs=1"});
  ldm.progress = false;
  const stages::TrainLdmResult r2 = stages::train_ldm(ldm);
  EXPECT_GT(r2.steps, 0);
  EXPECT_TRUE(std::isfinite(r2.last_val_mse_ema));
  const nlohmann::json config2 = run::read_json(run::run_paths(ldm.out).config);
  EXPECT_EQ(config2.at("data").at("space"), "image");
  EXPECT_TRUE(stages::is_image_space_run(config2));
  EXPECT_TRUE(fs::exists(fs::path(ldm.out) / "figures" / "epoch_001.png"));  // samples without an autoencoder
  const auto unet = stages::load_trained_unet(ldm.out, "tiny");
  EXPECT_EQ(unet->options().input_channel, 1);
  EXPECT_TRUE(unet->options().isotropic_resampling);

  stages::TrainReprRequest req;
  req.ldm_run = ldm.out;
  req.out = (dir / "run3-image").string();
  req.preset = "tiny";
  req.settings = run::resolve_settings(stages::train_repr_settings(), "tiny", "", {"epochs=1"});
  req.progress = false;
  const stages::TrainReprResult r3 = stages::train_repr(req);
  EXPECT_EQ(r3.steps, 2);  // 4 training scans, accumulate 2 (as the latent run)
  EXPECT_GT(r3.last_val_ssim, -1.0);
  EXPECT_GT(r3.last_val_mse, 0.0);
  const nlohmann::json config3 = run::read_json(run::run_paths(req.out).config);
  EXPECT_EQ(config3.at("data").at("space"), "image");

  const stages::TrainedLdae t = stages::load_trained_ldae(req.out);
  EXPECT_EQ(t.autoencoder, nullptr);
  EXPECT_EQ(t.scale_factor, 1.0);
  EXPECT_EQ(t.shift_unet->options().unet.input_channel, 1);
  infer::LdaeModel m = stages::model_from_trained(t);
  EXPECT_TRUE(m.space().image_space());

  // The validation again, by hand: y_sem-only from the fixed x_T against the image itself.
  const stages::LatentCache cache = stages::open_latent_cache(lat);
  const std::vector<size_t> val = stages::rows_of_split(cache, "val");
  ASSERT_EQ(val.size(), 1u);
  NoGrad no_grad;
  const data::Volume v = data::normalize_intensity(data::read_nifti(cache.manifest.rows[val[0]].full_path));
  const Tensor x = v.voxels.reshape({1, 1, 16, 20, 16});
  const Tensor y = t.encoder->forward(nets::axial_slices(x));
  Generator val_noise(42, uint64_t{4} << 60);
  const Tensor x_T = randn(x.shape(), val_noise);
  diffusion::DdimOptions o;
  o.steps = 5;  // the tiny preset's val_ddim_steps, training coefficient
  o.shift_coefficient = diffusion::ShiftCoefficient::Training;
  o.clamp = diffusion::X0Clamp::at(1.0);  // val_x0_clamp "off": in image space the data range [-1, 1]
  const Tensor z = infer::decode_latent(*t.shift_unet, t.schedule, x_T, y, o);
  EXPECT_EQ(metrics::ssim3d(infer::to_image(m.space(), z), x).mean, r3.last_val_ssim);

  // The whole pipeline on a scan, in image space.
  const infer::Reconstruction rec =
      infer::reconstruct(m, x, infer::Mode::Encoded, infer::AutoencodingOptions::fixed(4));
  EXPECT_EQ(rec.image.shape(), x.shape());
  EXPECT_EQ(rec.latent.shape(), x.shape());
  for (double value : rec.image.to_vector()) ASSERT_TRUE(std::isfinite(value));

  // With the image cache gone, loading names it.
  fs::remove_all(dir / "lat-image-2");
  expect_error([&] { stages::load_trained_ldae(req.out); }, {"latent cache"});
}

TEST_F(ImageDae, EvaluateRefusesALatentRunOrAnotherSplitAsTheImageDae) {
  stages::CacheLatentsRequest latent;
  latent.ae_run = run1();
  latent.out = (dir / "eval-lat").string();
  latent.progress = false;
  stages::cache_latents(latent);
  const std::string ldae3 = train_stages_2_and_3(latent.out, dir / "eval-ldae");
  const std::string lat_image = (dir / "eval-lat-image").string();
  stages::cache_latents(image_request(run1(), lat_image));
  const std::string dae3 = train_stages_2_and_3(lat_image, dir / "eval-dae");

  stages::EvaluateRequest q;
  q.repr_run = ldae3;
  q.out = (dir / "eval-out").string();
  q.progress = false;
  q.image_dae_run = ldae3;  // a latent-space run
  expect_error([&] { stages::evaluate(q); }, {"--image-dae", "is a latent-space run", "--image-space"});
  q.image_dae_run = dae3;
  {  // The image cache's split no longer the LDAE's: one scan moved to another split.
    const fs::path m = fs::path(lat_image) / "manifest.csv";
    data::ManifestOptions mo;
    mo.check_files = false;
    data::Manifest man = data::read_manifest(m.string(), mo);
    std::vector<std::string> split;
    for (size_t i = 0; i < man.rows.size(); ++i) split.push_back(man.field(i, "split"));
    split[0] = split[0] == "train" ? "test" : "train";
    man.set_column("split", split);
    data::write_manifest(m.string(), man);
  }
  expect_error([&] { stages::evaluate(q); }, {"differs from the LDAE's cache at row 1", "same scans and split"});
  EXPECT_FALSE(fs::exists(fs::path(q.out) / "results.json"));
}
