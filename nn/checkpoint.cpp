#include "nn/checkpoint.h"

#include <filesystem>
#include <limits>
#include <vector>

#include "autograd/no_grad.h"
#include "tensor/safetensors.h"

namespace ldae::nn {

namespace {

const char* kFormat = "ldae-checkpoint-1";

bool starts_with(const std::string& s, const std::string& prefix) {
  return s.compare(0, prefix.size(), prefix) == 0;
}

// Parses a non-negative decimal integer that fits `max`; false otherwise.
bool parse_count(const std::string& text, uint64_t max, uint64_t* value) {
  if (text.empty() || text.size() > 20) return false;
  uint64_t v = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return false;
    const uint64_t digit = static_cast<uint64_t>(c - '0');
    if (v > (max - digit) / 10) return false;
    v = v * 10 + digit;
  }
  *value = v;
  return true;
}

// The tensors of `all` whose name starts with "<section>.", with the prefix removed.
std::map<std::string, Tensor> section_of(const std::map<std::string, Tensor>& all, const std::string& section) {
  std::map<std::string, Tensor> out;
  const std::string prefix = section.empty() ? "" : section + ".";
  for (const auto& [name, t] : all)
    if (starts_with(name, prefix)) out[name.substr(prefix.size())] = t;
  return out;
}

// Missing / unexpected / mis-shaped keys of `state` against the module's own tensors.
std::vector<std::string> compare_with_module(const Module& model, const std::map<std::string, Tensor>& state) {
  std::vector<std::string> problems;
  const std::map<std::string, Tensor> own = model.state_dict();
  for (const auto& [name, t] : own) {
    auto it = state.find(name);
    if (it == state.end())
      problems.push_back("missing key: " + name);
    else if (it->second.shape() != t.shape())
      problems.push_back("shape mismatch: " + name + ": module " + shape_str(t.shape()) + " vs file " +
                         shape_str(it->second.shape()));
  }
  for (const auto& [name, _] : state)
    if (!own.count(name)) problems.push_back("unexpected key: " + name);
  return problems;
}

}  // namespace

void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const Ema* ema, const TrainingState& state) {
  check(state.step >= 0, "save_checkpoint", "negative step " + std::to_string(state.step));
  std::map<std::string, Tensor> tensors;
  std::map<std::string, std::string> meta;
  for (const auto& [key, value] : state.metadata) {
    check(!starts_with(key, "ldae."), "save_checkpoint",
          "metadata key \"" + key + "\" is reserved (keys starting with \"ldae.\" belong to the checkpoint)");
    meta[key] = value;
  }
  meta["ldae.format"] = kFormat;
  meta["ldae.step"] = std::to_string(state.step);
  for (const auto& [name, gen] : state.generators) {
    check(!name.empty() && name.find('.') == std::string::npos, "save_checkpoint",
          "invalid generator name \"" + name + "\" (empty or containing '.')");
    meta["ldae.rng." + name + ".seed"] = std::to_string(gen.seed);
    meta["ldae.rng." + name + ".offset"] = std::to_string(gen.offset);
  }
  for (const auto& [name, t] : model.state_dict()) tensors["model." + name] = t.detach();
  if (optimizer) {
    meta["ldae.optimizer"] = optimizer->name();
    for (const auto& [k, v] : optimizer->hyperparameters()) meta["ldae.optim." + k] = v;
    for (const auto& [name, t] : optimizer->state_dict()) tensors["optim." + name] = t;
  }
  if (ema) {
    meta["ldae.ema.updates"] = std::to_string(ema->num_updates());
    meta["ldae.ema.decay"] = format_number(ema->options().decay);
    meta["ldae.ema.warmup"] = ema->options().warmup ? "true" : "false";
    for (const auto& [name, t] : ema->state_dict()) tensors["ema." + name] = t;
  }
  NoGrad no_grad;
  write_safetensors(path, tensors, meta);
}

TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer, Ema* ema) {
  const std::string op = "load_checkpoint: " + path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec))
    fail(op, "no such file (a missing checkpoint is an error: check the path, or start without resuming)");
  const SafetensorsFile file = read_safetensors(path);  // validates the file itself
  const auto& meta = file.metadata;
  auto format = meta.find("ldae.format");
  if (format == meta.end())
    fail(op, "not an ldae checkpoint (no \"ldae.format\" in its metadata); for a file of plain "
             "weights use load_weights");
  check(format->second == kFormat, op,
        "unsupported checkpoint format \"" + format->second + "\" (expected \"" + kFormat + "\")");

  // ---- Check everything before changing anything ----
  std::vector<std::string> problems;
  TrainingState state;
  uint64_t value = 0;
  std::map<std::string, int> generator_fields;  // name -> how many of seed/offset were seen
  auto step_it = meta.find("ldae.step");
  if (step_it == meta.end() ||
      !parse_count(step_it->second, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), &value))
    problems.push_back("metadata: \"ldae.step\" is missing or not a non-negative integer");
  else
    state.step = static_cast<int64_t>(value);
  for (const auto& [key, text] : meta) {
    if (!starts_with(key, "ldae.")) {
      state.metadata[key] = text;
      continue;
    }
    if (!starts_with(key, "ldae.rng.")) continue;
    const std::string rest = key.substr(9);  // "<name>.seed" or "<name>.offset"
    const size_t dot = rest.rfind('.');
    const std::string name = dot == std::string::npos ? "" : rest.substr(0, dot);
    const std::string field = dot == std::string::npos ? rest : rest.substr(dot + 1);
    if (name.empty() || (field != "seed" && field != "offset") ||
        !parse_count(text, std::numeric_limits<uint64_t>::max(), &value)) {
      problems.push_back("metadata: bad generator entry \"" + key + "\" = \"" + text + "\"");
      continue;
    }
    (field == "seed" ? state.generators[name].seed : state.generators[name].offset) = value;
    generator_fields[name] += 1;
  }
  for (const auto& [name, count] : generator_fields)
    if (count != 2) problems.push_back("metadata: generator \"" + name + "\" lacks its seed or offset");

  const auto model_part = section_of(file.tensors, "model");
  const auto optim_part = section_of(file.tensors, "optim");
  const auto ema_part = section_of(file.tensors, "ema");
  for (const auto& [name, _] : file.tensors)
    if (!starts_with(name, "model.") && !starts_with(name, "optim.") && !starts_with(name, "ema."))
      problems.push_back("unexpected key: " + name + " (not under model., optim. or ema.)");
  for (const auto& p : compare_with_module(model, model_part)) problems.push_back("model: " + p);

  if (optimizer) {
    auto it = meta.find("ldae.optimizer");
    if (it == meta.end())
      problems.push_back("optimizer: the checkpoint holds no optimizer state");
    else if (it->second != optimizer->name())
      problems.push_back("optimizer: the checkpoint holds " + it->second + " state, not " + optimizer->name());
    else
      for (const auto& p : optimizer->check_state_dict(optim_part)) problems.push_back("optim: " + p);
  }
  uint64_t ema_updates = 0;
  if (ema) {
    auto it = meta.find("ldae.ema.updates");
    if (it == meta.end())
      problems.push_back("ema: the checkpoint holds no EMA");
    else if (!parse_count(it->second, static_cast<uint64_t>(std::numeric_limits<int64_t>::max()), &ema_updates))
      problems.push_back("ema: \"ldae.ema.updates\" is not a non-negative integer");
    else
      for (const auto& p : ema->check_state_dict(ema_part)) problems.push_back("ema: " + p);
  }
  if (!problems.empty()) {
    std::string msg = "does not match the objects to restore:";
    for (const auto& p : problems) msg += "\n  " + p;
    fail(op, msg);
  }

  // ---- Load ----
  model.load_state_dict(model_part, /*strict=*/true);
  if (optimizer) optimizer->load_state_dict(optim_part);
  if (ema) ema->load_state_dict(ema_part, static_cast<int64_t>(ema_updates));
  return state;
}

LoadReport load_weights(const std::string& path, Module& model, const std::string& section, bool strict) {
  const std::string op = "load_weights: " + path;
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) fail(op, "no such file");
  const SafetensorsFile file = read_safetensors(path);
  const auto part = section_of(file.tensors, section);
  if (!section.empty() && part.empty())
    fail(op, "the file has no tensors under \"" + section + ".\"");
  if (strict) {
    const std::vector<std::string> problems = compare_with_module(model, part);
    if (!problems.empty()) {
      std::string msg = "the " + (section.empty() ? std::string("file") : "\"" + section + "\" section") +
                        " does not match the module:";
      for (const auto& p : problems) msg += "\n  " + p;
      fail(op, msg);
    }
  }
  return model.load_state_dict(part, strict);
}

}  // namespace ldae::nn
