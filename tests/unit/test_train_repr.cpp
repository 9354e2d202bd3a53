// Stage 3 in process (ldae/train_repr.h) on a tiny phantom cohort, after stages 1 and 2:
// one epoch runs, the same request again finds it finished, and load_trained_ldae gives
// networks that reproduce the run's validation SSIM exactly (EMA weights), differ from the
// raw weights, and are refused when RUN2's checkpoint changed. The kill -9 resume, the NaN
// stop and the refusals are in tests/cli/test_train_repr.sh.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>

#include "autograd/no_grad.h"
#include "common/test_helpers.h"
#include "common/tiny_cohort.h"
#include "data/nifti.h"
#include "data/preprocess.h"
#include "diffusion/ddim.h"
#include "ldae/latent_cache.h"
#include "ldae/metrics.h"
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

TEST(TrainRepr, OneEpochThenLoadTrainedLdaeReproducesTheValidation) {
  const fs::path dir =
      fs::temp_directory_path() / ("ldae_train_repr_" + std::to_string(::getpid()));
  ldae::testing::make_tiny_cohort(dir);

  stages::TrainAeRequest ae;
  ae.manifest = (dir / "cohort" / "manifest.csv").string();
  ae.out = (dir / "run1").string();
  ae.preset = "tiny";
  ae.settings = run::resolve_settings(stages::train_ae_settings(), "tiny", "",
                                      {"epochs=1", "val_fraction=0.2"});
  ae.progress = false;
  stages::train_ae(ae);
  stages::CacheLatentsRequest cl;
  cl.ae_run = ae.out;
  cl.out = (dir / "lat").string();
  cl.progress = false;
  stages::cache_latents(cl);
  stages::TrainLdmRequest ldm;
  ldm.latents = cl.out;
  ldm.out = (dir / "run2").string();
  ldm.preset = "tiny";
  ldm.settings = run::resolve_settings(stages::train_ldm_settings(), "tiny", "", {"epochs=1"});
  ldm.progress = false;
  stages::train_ldm(ldm);

  stages::TrainReprRequest req;
  req.ldm_run = ldm.out;
  req.out = (dir / "run3").string();
  req.preset = "tiny";
  req.settings = run::resolve_settings(stages::train_repr_settings(), "tiny", "", {"epochs=1"});
  req.progress = false;
  const stages::TrainReprResult r = stages::train_repr(req);
  EXPECT_EQ(r.start, run::RunStart::Fresh);
  EXPECT_EQ(r.steps, 2);  // 4 training scans, accumulate 2
  EXPECT_EQ(r.best_step, 2);
  EXPECT_GT(r.last_val_mse, 0);
  const stages::TrainReprResult again = stages::train_repr(req);
  EXPECT_EQ(again.start, run::RunStart::Finished);
  EXPECT_EQ(again.last_val_ssim, r.last_val_ssim);

  // encoder_lr 0 freezes the encoder: its weights stay the initial ones, and it takes no
  // gradient, so the gradient-norm clip sees only the branch's. Hence with the branch's
  // gradient below the clip, clipping at 1 or not at all trains the same branch (a fresh
  // encoder's own gradients, 1e9 on the empty slices, would otherwise be clipped with it;
  // three epochs, 6 steps, as the encoder's first gradient comes at step 3).
  auto frozen_run = [&](const std::string& name, const std::string& clip) {
    stages::TrainReprRequest f = req;
    f.out = (dir / name).string();
    f.settings = run::resolve_settings(stages::train_repr_settings(), "tiny", "",
                                       {"epochs=3", "encoder_lr=0", "clip_grad_norm=" + clip});
    stages::train_repr(f);
    return stages::load_trained_ldae(f.out, "last", false);
  };
  const stages::TrainedLdae clipped = frozen_run("frozen_clip1", "1"),
                            unclipped = frozen_run("frozen_noclip", "1e12");

  // The validation again, with the loaded EMA networks: the same SSIM bit for bit.
  const stages::TrainedLdae t = stages::load_trained_ldae(req.out, "last", true);
  EXPECT_EQ(t.preset, "tiny");
  const stages::LatentCache cache = stages::open_latent_cache(cl.out);
  EXPECT_EQ(t.scale_factor, cache.scale_factor);
  EXPECT_EQ(t.schedule.T(), 1000);
  const std::vector<size_t> val = stages::rows_of_split(cache, "val");
  ASSERT_EQ(val.size(), 1u);
  {  // code_norm=batch: the statistics count every training code once (4 scans, one epoch),
     // live in the checkpoint (the EMA's copy equals the model's) and come back with the run.
    EXPECT_EQ(t.shift_unet->state_dict().count("code_norm.num_codes"), 0u);  // off: no module
    stages::TrainReprRequest c = req;
    c.out = (dir / "code_norm").string();
    c.settings = run::resolve_settings(stages::train_repr_settings(), "tiny", "",
                                       {"epochs=1", "batch_size=2", "code_norm=batch"});
    stages::train_repr(c);
    // config.json records code_norm only when it is not off, so that run folders from before
    // the setting (none recorded, off) still reopen: the off run above did, as Finished.
    EXPECT_FALSE(run::read_json((dir / "run3" / "config.json").string())["settings"].contains("code_norm"));
    EXPECT_EQ(run::read_json((dir / "code_norm" / "config.json").string())["settings"]["code_norm"], "batch");
    const auto ema = stages::load_trained_ldae(c.out, "last", true).shift_unet->state_dict();
    const auto raw = stages::load_trained_ldae(c.out, "last", false).shift_unet->state_dict();
    EXPECT_EQ(ema.at("code_norm.num_codes").item(), 4.0);
    EXPECT_EQ(amax(abs(sub(ema.at("code_norm.running_mean"), raw.at("code_norm.running_mean")))).item(), 0.0);
    EXPECT_GT(amax(abs(ema.at("code_norm.running_mean"))).item(), 0.0);
    c.out = (dir / "code_norm_single").string();
    c.settings = run::resolve_settings(stages::train_repr_settings(), "tiny", "", {"code_norm=batch"});
    expect_error([&] { stages::train_repr(c); }, {"code_norm=batch", "needs batch_size 2 or more"});
  }

  NoGrad no_grad;
  const data::Volume v =
      data::normalize_intensity(data::read_nifti(cache.manifest.rows[val[0]].full_path));
  const Tensor x = v.voxels.reshape({1, 1, 16, 20, 16});
  const Tensor y = t.encoder->forward(nets::axial_slices(x));
  const Shape& ls = cache.latent_shape;
  const Tensor z0 =
      stages::read_scaled_latent(cache, val[0]).reshape({1, ls[0], ls[1], ls[2], ls[3]});
  Generator val_noise(42, uint64_t{4} << 60);
  const Tensor x_T = randn(z0.shape(), val_noise);
  diffusion::DdimOptions o;
  o.steps = 5;  // the tiny preset's val_ddim_steps, training coefficient, no clamp
  o.shift_coefficient = diffusion::ShiftCoefficient::Training;
  auto fn = [&](const Tensor& z, int64_t step_t) {
    const auto [eps, shift] = t.shift_unet->forward(z, Tensor::full({1}, double(step_t)), y);
    return diffusion::EpsAndShift{eps, shift};
  };
  const Tensor z_hat = diffusion::ddim_sample_shifted(t.schedule, x_T, fn, o);
  const Tensor gen = t.autoencoder->decode(mul_scalar(z_hat, 1.0 / t.scale_factor));
  const Tensor ref = t.autoencoder->decode(mul_scalar(z0, 1.0 / t.scale_factor));
  EXPECT_EQ(metrics::ssim3d(gen, ref).mean, r.last_val_ssim);

  // The raw weights are not the EMA's. (After 2 steps only the shift branch has moved: the
  // encoder's first gradient comes at step 3, once the zero-initialised layers have left 0.)
  const stages::TrainedLdae raw = stages::load_trained_ldae(req.out, "last", false);
  const Tensor t9 = Tensor::full({1}, 9.0);
  const Tensor g_ema = t.shift_unet->forward(z0, t9, y).second,
               g_raw = raw.shift_unet->forward(z0, t9, y).second;
  EXPECT_GT(amax(abs(sub(g_raw, g_ema))).item(), 0.0);
  EXPECT_EQ(amax(abs(sub(t.shift_unet->forward(z0, t9, y).first,
                         raw.shift_unet->forward(z0, t9, y).first)))
                .item(),
            0.0);  // the same frozen UNet

  // The frozen part is RUN2's EMA UNet: the same eps, bit for bit.
  const auto unet = stages::load_trained_unet(ldm.out, "tiny", "last", true);
  EXPECT_EQ(amax(abs(sub(unet->forward(z0, t9), t.shift_unet->forward(z0, t9, y).first))).item(), 0.0);

  {  // the frozen-encoder runs above
    const Tensor y_c = clipped.encoder->forward(nets::axial_slices(x)),
                 y_u = unclipped.encoder->forward(nets::axial_slices(x));
    EXPECT_EQ(amax(abs(sub(y_c, y_u))).item(), 0.0);
    const Tensor g_c = clipped.shift_unet->forward(z0, t9, y_c).second,
                 g_u = unclipped.shift_unet->forward(z0, t9, y_u).second;
    EXPECT_GT(amax(abs(g_u)).item(), 0.0);  // the branch did train
    EXPECT_EQ(amax(abs(sub(g_c, g_u))).item(), 0.0);
  }

  expect_error([&] { stages::load_trained_ldae(req.out, "first"); },
               {"which must be \"best\" or \"last\""});
  {  // RUN2's checkpoint changed after stage 3 was trained.
    std::ofstream f(stages::trained_unet_path(ldm.out, "last"), std::ios::app | std::ios::binary);
    f << ' ';
  }
  expect_error([&] { stages::load_trained_ldae(req.out); },
               {"has changed since this run was trained"});
  fs::remove(dir / "run3" / "done.json");
  expect_error([&] { stages::load_trained_ldae(req.out); }, {"was not finished (no done.json)"});
  fs::remove_all(dir);
}
