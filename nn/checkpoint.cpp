#include "nn/checkpoint.h"

#include <cctype>
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

// A valid optimizer name of the multi-optimizer format.
bool valid_optimizer_name(const std::string& name) {
  if (name.empty()) return false;
  for (char c : name)
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '_')) return false;
  return true;
}

// The shared writer: `single` (the "optim." format) or `named` (the "optim.<name>." format).
void save_impl(const std::string& path, const Module& model, const Optimizer* optimizer,
               const NamedOptimizers* named, const Ema* ema, const TrainingState& state) {
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
  if (named) {
    for (const auto& [oname, opt] : *named) {
      check(valid_optimizer_name(oname), "save_checkpoint",
            "invalid optimizer name \"" + oname + "\" (letters, digits and '_' only)");
      check(opt != nullptr, "save_checkpoint", "optimizer \"" + oname + "\" is null");
      meta["ldae.optimizer." + oname] = opt->name();
      for (const auto& [k, v] : opt->hyperparameters()) meta["ldae.optim." + oname + "." + k] = v;
      for (const auto& [name, t] : opt->state_dict()) tensors["optim." + oname + "." + name] = t;
    }
  }
  if (ema) {
    meta["ldae.ema.updates"] = std::to_string(ema->num_updates());
    meta["ldae.ema.decay"] = format_number(ema->options().decay);
    meta["ldae.ema.warmup"] = ema->options().warmup ? "true" : "false";
    for (const auto& [name, t] : ema->state_dict()) tensors["ema." + name] = t;
  }
  NoGrad no_grad;
  // A model trained on a GPU is saved from host copies: the file is the same on any device.
  for (auto& [name, t] : tensors)
    if (!t.device().is_cpu()) t = t.to(cpu_device());
  write_safetensors(path, tensors, meta);
}

TrainingState load_impl(const std::string& path, Module& model, Optimizer* optimizer,
                        const NamedMutableOptimizers* named, Ema* ema) {
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
  std::map<std::string, std::map<std::string, Tensor>> named_parts;
  if (named) {
    for (const auto& [key, value] : meta)
      if (starts_with(key, "ldae.optimizer.") && !named->count(key.substr(15)))
        problems.push_back("optimizer: the checkpoint holds state of an optimizer \"" + key.substr(15) +
                           "\" that this run does not have");
    for (const auto& [oname, opt] : *named) {
      auto it = meta.find("ldae.optimizer." + oname);
      if (it == meta.end()) {
        problems.push_back("optimizer " + oname + ": the checkpoint holds no state for it");
        continue;
      }
      if (it->second != opt->name()) {
        problems.push_back("optimizer " + oname + ": the checkpoint holds " + it->second + " state, not " +
                           opt->name());
        continue;
      }
      named_parts[oname] = section_of(optim_part, oname);
      for (const auto& p : opt->check_state_dict(named_parts[oname]))
        problems.push_back("optim." + oname + ": " + p);
    }
    for (const auto& [key, _] : optim_part) {
      const size_t dot = key.find('.');
      if (dot == std::string::npos || !named->count(key.substr(0, dot)))
        problems.push_back("unexpected key: optim." + key + " (no optimizer of this run owns it)");
    }
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
  if (named)
    for (const auto& [oname, opt] : *named) opt->load_state_dict(named_parts.at(oname));
  if (ema) ema->load_state_dict(ema_part, static_cast<int64_t>(ema_updates));
  return state;
}

}  // namespace

void save_checkpoint(const std::string& path, const Module& model, const Optimizer* optimizer,
                     const Ema* ema, const TrainingState& state) {
  save_impl(path, model, optimizer, nullptr, ema, state);
}

void save_checkpoint(const std::string& path, const Module& model, const NamedOptimizers& optimizers,
                     const Ema* ema, const TrainingState& state) {
  save_impl(path, model, nullptr, &optimizers, ema, state);
}

TrainingState load_checkpoint(const std::string& path, Module& model, Optimizer* optimizer, Ema* ema) {
  return load_impl(path, model, optimizer, nullptr, ema);
}

TrainingState load_checkpoint(const std::string& path, Module& model, const NamedMutableOptimizers& optimizers,
                              Ema* ema) {
  return load_impl(path, model, nullptr, &optimizers, ema);
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
