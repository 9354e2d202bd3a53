#include "ldae/train_ldm.h"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <iostream>
#include <limits>
#include <map>
#include <memory>
#include <sstream>

#include "autograd/engine.h"
#include "autograd/functions.h"
#include "autograd/no_grad.h"
#include "data/figures.h"
#include "data/nifti.h"
#include "diffusion/ddim.h"
#include "diffusion/forward.h"
#include "diffusion/loss.h"
#include "ldae/autoencoding.h"
#include "ldae/latent_cache.h"
#include "ldae/presets.h"
#include "ldae/run/checkpoint_book.h"
#include "ldae/run/checkpoint_values.h"
#include "ldae/train_ae.h"
#include "ldae/train_ldm_settings.h"
#include "nn/adam.h"
#include "nn/checkpoint.h"
#include "nn/clip_grad.h"
#include "nn/csv_log.h"
#include "nn/ema.h"
#include "nn/progress.h"
#include "tensor/ops.h"
#include "tensor/philox.h"

namespace ldae::stages {

namespace fs = std::filesystem;
using nlohmann::ordered_json;

namespace {

const char* kTrainLdmStage = "train-ldm";

// Streams of the seed (offsets far apart, so that no two ever overlap).
constexpr uint64_t kNoiseOffset = uint64_t{1} << 60;    // training t and eps
constexpr uint64_t kDropoutOffset = uint64_t{2} << 60;  // dropout masks
constexpr uint64_t kValOffset = uint64_t{3} << 60;      // validation t and eps (fixed)
constexpr uint64_t kSampleOffset = uint64_t{4} << 60;   // validation samples' x_T (fixed)

using run::exact;

// The rows of `rows` in the order of `epoch` (Fisher-Yates from a Philox stream keyed by
// the seed, one stream per epoch).
std::vector<size_t> epoch_order(size_t n, uint64_t seed, int64_t epoch) {
  std::vector<size_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = i;
  const uint64_t offset = (static_cast<uint64_t>(epoch) + 1) << 32;
  for (size_t i = n; i-- > 1;) {
    const double u = philox::uniform(seed, offset, i, true);  // (0, 1]
    const size_t j = std::min(i, static_cast<size_t>(std::ceil(u * static_cast<double>(i + 1))) - 1);
    std::swap(order[i], order[j]);
  }
  return order;
}

// latents[i] (C, D, H, W) for i in idx -> (len(idx), C, D, H, W).
Tensor stack(const std::vector<Tensor>& latents, const std::vector<size_t>& idx) {
  std::vector<Tensor> parts;
  for (size_t i : idx) parts.push_back(latents[i].unsqueeze(0));
  return cat(parts, 0);
}

// The deterministic validation loss: for every validation latent, `k` timesteps and
// noises drawn from a generator that starts at the same place every time.
double validation_mse(const nets::UNet& net, const diffusion::Schedule& sched, const std::vector<Tensor>& val,
                      int64_t k, uint64_t seed) {
  NoGrad no_grad;
  Generator g(seed, kValOffset);
  double total = 0;
  for (const Tensor& z : val) {
    const Shape s = z.shape();
    const Tensor z0 = z.unsqueeze(0).expand({k, s[0], s[1], s[2], s[3]}).contiguous();  // (k, C, D, H, W)
    const std::vector<int64_t> t = diffusion::sample_timesteps(k, sched.T(), g);
    const Tensor eps = randn(z0.shape(), g, z0.dtype(), 0.0, 1.0, z0.device());
    const Tensor z_t = diffusion::q_sample(sched, z0, t, eps);
    total += diffusion::eps_mse_loss(net.forward(z_t, diffusion::timestep_tensor(t, z0.device())), eps).item();
  }
  return total / static_cast<double>(val.size());
}

}  // namespace

diffusion::Schedule ldm_schedule(const run::Settings& s) {
  return diffusion::Schedule::named(s.get_string("schedule"), s.get_int("timesteps"));
}

diffusion::Schedule trained_ldm_schedule(const std::string& run2) {
  const nlohmann::json config = run::read_json(run::run_paths(run2).config);
  check(config.value("stage", std::string()) == kTrainLdmStage, "trained_ldm_schedule",
        run2 + " is not a train-ldm run folder");
  const auto& s = config.at("settings");
  return diffusion::Schedule::named(s.at("schedule").get<std::string>(), s.at("timesteps").get<int64_t>());
}

std::string trained_unet_path(const std::string& run2, const std::string& which) {
  check(which == "best" || which == "last", "trained_unet_path",
        "which must be \"best\" or \"last\", not \"" + which + "\"");
  const run::RunPaths p = run::run_paths(run2);
  return which == "best" ? p.best : p.last;
}

bool is_image_space_run(const nlohmann::json& config) {
  return config.value("data", nlohmann::json::object()).value("space", std::string("latent")) == "image";
}

nets::UNetOptions trained_unet_options(const std::string& run2, const std::string& preset) {
  const nlohmann::json config = run::read_json(run::run_paths(run2).config);
  const nets::UNetOptions o = nets::unet_options(preset);
  return is_image_space_run(config) ? nets::image_space_unet_options(o) : o;
}

std::shared_ptr<nets::UNet> load_trained_unet(const std::string& run2, const std::string& preset,
                                              const std::string& which, bool ema) {
  const std::string path = trained_unet_path(run2, which);
  nets::check_preset(preset);
  run::require_finished_stage(run2, kTrainLdmStage, {{"preset", preset}});
  Generator init(0);
  auto unet = std::make_shared<nets::UNet>(trained_unet_options(run2, preset), init);
  nn::load_weights(path, *unet, ema ? "ema" : "model");
  unet->eval();
  return unet;
}

const std::vector<std::string>& train_ldm_log_columns() {
  static const std::vector<std::string> c = {"epoch", "loss", "grad_norm", "val_mse", "val_mse_ema"};
  return c;
}

TrainLdmResult train_ldm(const TrainLdmRequest& r) {
  const run::EarlyStopper stopper(r.early_stop);  // its clock starts with the command
  const run::Settings& s = r.settings;
  nets::check_preset(r.preset);
  require_usable_device(kTrainLdmStage, r.device);
  const int64_t batch_size = s.get_int("batch_size"), accumulate = s.get_int("accumulate");
  const int64_t epochs = s.get_int("epochs");
  const uint64_t seed = static_cast<uint64_t>(s.get_int("seed"));
  const int64_t sample_count = s.get_int("sample_count");

  // ---- The latents and their fit to the network ----
  const LatentCache cache = open_latent_cache(r.latents);
  if (cache.preset != r.preset)
    fail(kTrainLdmStage, "the latents of " + r.latents + " were made by an autoencoder of preset \"" + cache.preset +
                     "\", this run's preset is \"" + r.preset + "\" (use --preset " + cache.preset + ")");
  // Image space (the DAE baseline): the preset's UNet on the 1-channel image, isotropic.
  nets::UNetOptions unet_options = cache.image_space ? nets::image_space_unet_options(nets::unet_options(r.preset))
                                                     : nets::unet_options(r.preset);
  unet_options.dropout = s.get_float("dropout");
  const Shape& ls = cache.latent_shape;  // (C, D, H, W)
  if (ls[0] != unet_options.input_channel)
    fail(kTrainLdmStage, "the latents have " + std::to_string(ls[0]) + " channels, the UNet of preset " + r.preset +
                     " takes " + std::to_string(unet_options.input_channel));
  {
    const int64_t factor = int64_t{1} << (unet_options.channel_multiplier.size() - 1);
    const bool iso = unet_options.isotropic_resampling;
    for (int a = iso ? 1 : 2; a < 4; ++a)
      if (ls[a] % factor != 0)
        fail(kTrainLdmStage, "the latents " + shape_str(ls) + " do not fit the UNet of preset " + r.preset + ": axis " +
                         std::to_string(a) + " must be a multiple of " + std::to_string(factor));
  }
  const std::vector<size_t> train_rows = rows_of_split(cache, "train"), val_rows = rows_of_split(cache, "val");
  if (val_rows.empty()) fail(kTrainLdmStage, "the validation split of " + r.latents + " is empty");
  if (static_cast<int64_t>(train_rows.size()) < batch_size)
    fail(kTrainLdmStage, "batch_size " + std::to_string(batch_size) + " is larger than the training split (" +
                     std::to_string(train_rows.size()) + " latents)");
  if (sample_count > 0 && !cache.image_space) {
    try {
      run::require_finished_stage(cache.autoencoder_run, "train-ae", {{"preset", r.preset}});
    } catch (const Error& e) {
      fail(kTrainLdmStage, std::string("the validation samples are decoded by the latents' autoencoder, but: ") + e.what() +
                       " (or --set sample_count=0)");
    }
  }
  const diffusion::Schedule sched = ldm_schedule(s);

  // ---- The run folder and its configuration ----
  const run::RunPaths paths = run::run_paths(r.out);
  run::prepare_run_folder(paths);
  ordered_json config;
  config["stage"] = kTrainLdmStage;
  config["preset"] = r.preset;
  config["settings"] = s.json();
  config["data"] = {{"latents", cache.folder},
                    {"autoencoder_run", cache.autoencoder_run},
                    {"scale_factor", cache.scale_factor},
                    {"latent_shape", ls},
                    {"mode", cache.info.value("mode", std::string())},
                    {"split", {{"train", train_rows.size()}, {"val", val_rows.size()}}}};
  // Only image-space runs record the space: absent means latent, so that run folders made
  // before the field existed still resume (open_run compares the whole configuration).
  if (cache.image_space) config["data"]["space"] = "image";
  config["networks"] = {{"unet", "UNet, preset " + r.preset +
                                     (cache.image_space ? " on the image (1 channel, isotropic resampling)" : "")}};
  config["environment"] = run::environment_json(r.device);
  TrainLdmResult result;
  result.start = run::open_run(paths, config, r.early_stop.continue_stopped);
  if (result.start == run::RunStart::Finished) {
    const nlohmann::json done = run::read_json(paths.done);
    result.steps = done.value("steps", int64_t{0});
    result.epochs = done.value("epochs", int64_t{0});
    result.stopped_early = done.value("stopped_early", std::string());
    result.best_val_mse = done.value("best_val_mse_ema", 0.0);
    result.best_step = done.value("best_step", int64_t{0});
    result.last_val_mse = done.value("val_mse", 0.0);
    result.last_val_mse_ema = done.value("val_mse_ema", 0.0);
    std::cerr << "train-ldm: " << r.out << " is already complete (done.json); nothing to do\n";
    return result;
  }

  // ---- Data in memory, on the training device ----
  std::vector<Tensor> train, val;
  for (size_t row : train_rows) train.push_back(read_scaled_latent(cache, row).to(r.device));
  for (size_t row : val_rows) val.push_back(read_scaled_latent(cache, row).to(r.device));

  // ---- Networks, optimizer, EMA, generators ----
  Generator init(seed, 0);
  Generator noise(seed, kNoiseOffset);
  auto dropout = std::make_shared<Generator>(seed, kDropoutOffset);
  nets::UNet unet(unet_options, init, dropout);
  unet.to(r.device);  // before the optimizer and the EMA, which keep their state beside the weights
  nn::Adam opt(unet.named_parameters(), nn::AdamOptions{s.get_float("lr")});
  nn::EmaOptions eo;
  eo.decay = s.get_float("ema_decay");
  eo.warmup = s.get_bool("ema_warmup");
  nn::Ema ema(unet, eo);
  unet.train();
  // The EMA weights are evaluated in a second instance (eval mode: no dropout drawn).
  Generator init2(seed, 0);
  nets::UNet ema_net(unet_options, init2, std::make_shared<Generator>(seed, kDropoutOffset));
  ema_net.to(r.device);
  ema_net.eval();
  std::shared_ptr<nets::AutoencoderKL> ae;  // null in image space: the samples are images
  if (sample_count > 0 && !cache.image_space)
    ae = load_trained_autoencoder(cache.autoencoder_run, r.preset,
                                  cache.info.value("autoencoder_checkpoint", std::string("best")));

  const int64_t n_train = static_cast<int64_t>(train.size());
  const int64_t batches = (n_train + batch_size - 1) / batch_size;
  const int64_t steps_per_epoch = (batches + accumulate - 1) / accumulate;
  const int64_t total_steps = epochs * steps_per_epoch;

  int64_t step = 0, epoch = 0, first_batch = 0;
  run::CheckpointBook book(run::CheckpointBook::Better::Lower);  // by the EMA weights' validation MSE
  double last_val = 0, last_val_ema = 0;
  if (run::resumes(result.start)) {
    const nn::TrainingState st = nn::load_checkpoint(paths.last, unet, &opt, &ema);
    check(st.metadata.count("stage") && st.metadata.at("stage") == kTrainLdmStage, kTrainLdmStage,
          paths.last + " is not a train-ldm checkpoint");
    check(st.generators.count("noise") == 1 && st.generators.count("dropout") == 1, kTrainLdmStage,
          paths.last + " lacks the noise or dropout generator");
    step = st.step;
    noise = st.generators.at("noise");
    *dropout = st.generators.at("dropout");
    epoch = run::parse_count(st.metadata, "epoch", kTrainLdmStage);
    first_batch = run::parse_count(st.metadata, "batch", kTrainLdmStage);
    last_val = run::parse_exact(st.metadata, "val_mse", kTrainLdmStage);
    last_val_ema = run::parse_exact(st.metadata, "val_mse_ema", kTrainLdmStage);
    check(first_batch <= batches && epoch <= epochs, kTrainLdmStage, paths.last + " holds a position outside this run");
    book.resume(run::parse_exact(st.metadata, "best_val_mse_ema", kTrainLdmStage),
                run::parse_count(st.metadata, "best_step", kTrainLdmStage), step);
    std::cerr << "train-ldm: " << run::resume_word(result.start) << " " << r.out << " from step " << step
              << " (epoch " << epoch + 1 << ", batch " << first_batch << ")\n";
  } else {
    std::cerr << "train-ldm: new run in " << r.out << ": " << train.size() << " training / " << val.size()
              << " validation latents of " << shape_str(ls) << " (scale factor " << cache.scale_factor << "), "
              << unet.parameter_count() << " UNet parameters, " << total_steps << " optimizer steps\n";
  }
  nn::CsvLog log(paths.log, train_ldm_log_columns(), run::resumes(result.start) ? step : -1);

  auto save = [&](const std::string& path, int64_t next_epoch, int64_t next_batch) {
    nn::TrainingState st;
    st.step = step;
    st.generators = {{"noise", noise}, {"dropout", *dropout}};
    st.metadata = {{"stage", kTrainLdmStage},
                   {"preset", r.preset},
                   {"epoch", std::to_string(next_epoch)},
                   {"batch", std::to_string(next_batch)},
                   {"best_val_mse_ema", exact(book.best())},
                   {"best_step", std::to_string(book.best_step())},
                   {"val_mse", exact(last_val)},
                   {"val_mse_ema", exact(last_val_ema)},
                   {"scale_factor", exact(cache.scale_factor)}};
    nn::save_checkpoint(path, unet, &opt, &ema, st);
  };
  auto stop_on = [&](const std::string& what, double value, int64_t ep, int64_t b) {
    fail(kTrainLdmStage, run::non_finite_stop_message(what, value, step, ep, b, batches, book.kept(paths.last)));
  };

  // Validation samples: fixed x_T, DDIM with the EMA weights, decoded, drawn with a
  // decoded validation latent (what a real scan's latent looks like after the autoencoder).
  data::Volume look;  // geometry of the figures: a scan's header, else 1 mm voxels
  if (sample_count > 0) {
    try {
      look = data::read_nifti_header(cache.manifest.rows[val_rows[0]].full_path);
    } catch (const Error&) {
      look = data::Volume();
    }
  }
  auto draw_samples = [&](const std::string& figure) {
    NoGrad no_grad;
    Generator g(seed, kSampleOffset);
    const Tensor x_T = randn({sample_count, ls[0], ls[1], ls[2], ls[3]}, g, DType::F32, 0.0, 1.0, r.device);
    diffusion::DdimOptions o;
    o.steps = std::min<int64_t>(s.get_int("sample_steps"), sched.T() - 1);
    o.clamp = infer::data_range_clamp(cache.image_space);  // image space: [-1, 1]; latents: none
    const Tensor z = diffusion::ddim_sample(
        sched, x_T,
        [&](const Tensor& x, int64_t t) {
          return ema_net.forward(
              x, diffusion::timestep_tensor(std::vector<int64_t>(static_cast<size_t>(x.size(0)), t), r.device));
        },
        o);
    // Decoded and drawn on the CPU (the autoencoder stays there: a few latents per epoch).
    const Tensor real = val[0].unsqueeze(0).to(cpu_device());
    const infer::DiffusionSpace space{ae, cache.scale_factor};  // ae null: image space
    const Tensor images = infer::to_image(space, cat({real, z.to(cpu_device())}, 0));  // (1+n, 1, X, Y, Z)
    std::vector<data::Volume> vols;
    std::vector<data::Display> displays;
    for (int64_t i = 0; i < images.size(0); ++i) {
      data::Volume v = look;
      v.voxels = images.slice(0, i, i + 1).reshape({images.size(2), images.size(3), images.size(4)}).contiguous();
      vols.push_back(v);
      data::Display d;
      d.vmin = 0;
      d.vmax = 1;
      d.title = i == 0 ? (cache.image_space ? "val image" : "val decoded") : "sample " + std::to_string(i);
      displays.push_back(d);
    }
    data::write_png(figure, data::figure_grid(vols, displays));
  };

  const double clip = s.get_float("clip_grad_norm");
  const int64_t nan_at = s.get_int("debug_nan_at_step");
  const int64_t checkpoint_every = s.get_int("checkpoint_every"), log_every = s.get_int("log_every");
  const bool ema_per_batch = s.get_bool("ema_per_batch");
  const int64_t val_k = s.get_int("val_timesteps"), val_every = s.get_int("val_every");
  const double scale = 1.0 / static_cast<double>(accumulate);

  nn::ProgressOptions po;
  std::ostringstream sink;
  if (!r.progress) po.out = &sink;
  nn::Progress progress(kTrainLdmStage, total_steps, step, po);
  const int64_t start_step = step;

  run::EpochsTrained trained{epochs, epochs, ""};
  for (; epoch < epochs; ++epoch, first_batch = 0) {
    const std::vector<size_t> order = epoch_order(train.size(), seed, epoch);
    double loss_sum = 0;
    int64_t in_window = 0;
    for (int64_t b = first_batch; b < batches;) {
      // ---- One micro-batch ----
      const size_t lo = static_cast<size_t>(b * batch_size);
      const size_t hi = std::min(order.size(), lo + static_cast<size_t>(batch_size));
      const Tensor z0 = stack(train, std::vector<size_t>(order.begin() + lo, order.begin() + hi));  // (B, C, D, H, W)
      const int64_t n = z0.size(0);
      const std::vector<int64_t> t = diffusion::sample_timesteps(n, sched.T(), noise);
      const Tensor eps = randn(z0.shape(), noise, z0.dtype(), 0.0, 1.0, z0.device());
      const Tensor z_t = diffusion::q_sample(sched, z0, t, eps);
      Tensor loss = diffusion::eps_mse_loss(unet.forward(z_t, diffusion::timestep_tensor(t, r.device)), eps);
      if (step + 1 == nan_at && in_window == 0) loss = ag::add_scalar(loss, std::numeric_limits<double>::quiet_NaN());
      const double lv = loss.item();
      if (!std::isfinite(lv)) stop_on("the loss", lv, epoch, b);
      ag::backward(ag::mul_scalar(loss, scale));
      loss_sum += lv;
      ++in_window;
      ++b;
      if (ema_per_batch && b % accumulate != 0 && b != batches) ema.update(unet);
      if (b % accumulate != 0 && b != batches) continue;

      // ---- One optimizer step ----
      std::map<std::string, double> row;
      row["loss"] = loss_sum / static_cast<double>(in_window);
      const double gn = nn::clip_grad_norm(unet.parameters(), clip);
      if (!std::isfinite(gn)) stop_on("the gradient norm", gn, epoch, b - 1);
      row["grad_norm"] = gn;
      opt.step();
      unet.zero_grad();
      ema.update(unet);
      ++step;
      loss_sum = 0;
      in_window = 0;
      row["epoch"] = static_cast<double>(epoch + 1);
      if (step % log_every == 0 || b == batches) log.log(step, row);
      progress.update(step, {{"loss", row["loss"]}});

      if (b == batches) {
        // ---- End of the epoch: validation, samples and best (every val_every epochs and at
        // the last), last ----
        if ((epoch + 1) % val_every == 0 || epoch + 1 == epochs) {
          ema.copy_to(ema_net);
          unet.eval();
          last_val = validation_mse(unet, sched, val, val_k, seed);
          unet.train();
          last_val_ema = validation_mse(ema_net, sched, val, val_k, seed);
          log.log(step,
                  {{"epoch", static_cast<double>(epoch + 1)}, {"val_mse", last_val}, {"val_mse_ema", last_val_ema}});
          if (sample_count > 0) {
            draw_samples((fs::path(paths.figures) / run::epoch_figure_name(epoch + 1)).string());
          }
          if (book.improves(last_val_ema, step)) save(paths.best, epoch + 1, 0);
        }
        save(paths.last, epoch + 1, 0);
        book.wrote(step);
      } else if (step % checkpoint_every == 0) {
        save(paths.last, epoch, b);
        book.wrote(step);
      }
    }
    if (stopper.stop_after(epoch + 1, epochs, trained)) break;  // at a whole epoch's end
  }
  progress.finish();

  const ordered_json last = {{"val_mse", last_val}, {"val_mse_ema", last_val_ema}, {"scale_factor", cache.scale_factor}};
  run::write_done(paths, kTrainLdmStage, run::finished_summary(step, trained, "val_mse_ema", book, last));

  result.steps = step;
  result.steps_run = step - start_step;
  result.epochs = trained.done;
  result.stopped_early = trained.stopped_early;
  result.best_val_mse = book.best();
  result.best_step = book.best_step();
  result.last_val_mse = last_val;
  result.last_val_mse_ema = last_val_ema;
  return result;
}

}  // namespace ldae::stages
