// ldae ckpt info FILE: what a safetensors file (a checkpoint, or any file of weights)
// holds: every tensor's name, stored dtype and shape, and the metadata. The file is
// fully validated first (tensor/safetensors.h), so a corrupt or hostile file is refused
// with "error: ..." and exit code 1.
#include <algorithm>
#include <cstdio>
#include <map>
#include <memory>
#include <string>

#include "apps/command.h"
#include "tensor/safetensors.h"

namespace {

// Bytes per element of the dtypes the reader accepts.
int64_t stored_size(const std::string& dtype) {
  if (dtype == "F64" || dtype == "I64") return 8;
  if (dtype == "F32" || dtype == "I32") return 4;
  if (dtype == "F16" || dtype == "BF16" || dtype == "I16") return 2;
  return 1;  // I8, U8, BOOL
}

std::string shape_text(const ldae::Shape& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void run_ckpt_info(const std::string& path) {
  const ldae::SafetensorsFile f = ldae::read_safetensors(path);
  size_t width = 4;
  int64_t values = 0, bytes = 0;
  std::map<std::string, std::pair<int64_t, int64_t>> sections;  // "model" -> (tensors, values)
  for (const auto& [name, t] : f.tensors) {
    width = std::max(width, name.size());
    values += t.numel();
    bytes += t.numel() * stored_size(f.stored_dtype.at(name));
    const size_t dot = name.find('.');
    auto& sec = sections[dot == std::string::npos ? std::string("(top level)") : name.substr(0, dot)];
    sec.first += 1;
    sec.second += t.numel();
  }
  std::printf("file:      %s\n", path.c_str());
  auto format = f.metadata.find("ldae.format");
  if (format != f.metadata.end()) {
    auto step = f.metadata.find("ldae.step");
    std::printf("kind:      ldae checkpoint (%s), step %s\n", format->second.c_str(),
                step != f.metadata.end() ? step->second.c_str() : "?");
  } else {
    std::printf("kind:      safetensors\n");
  }
  std::printf("tensors:   %zu, %lld values, %lld bytes of data\n", f.tensors.size(), static_cast<long long>(values),
              static_cast<long long>(bytes));
  if (sections.size() > 1 || (format != f.metadata.end() && !sections.empty()))
    for (const auto& [sec, count] : sections)
      std::printf("  %-12s %lld tensors, %lld values\n", (sec + ":").c_str(), static_cast<long long>(count.first),
                  static_cast<long long>(count.second));
  std::printf("\n%-*s  %-5s  %s\n", static_cast<int>(width), "name", "dtype", "shape");
  for (const auto& [name, t] : f.tensors)
    std::printf("%-*s  %-5s  %s\n", static_cast<int>(width), name.c_str(), f.stored_dtype.at(name).c_str(),
                shape_text(t.shape()).c_str());
  std::printf("\nmetadata:%s\n", f.metadata.empty() ? " (none)" : "");
  for (const auto& [key, value] : f.metadata) std::printf("  %s = %s\n", key.c_str(), value.c_str());
}

void add_ckpt_commands(CLI::App& app) {
  CLI::App* ckpt = app.add_subcommand("ckpt", "Inspect checkpoints and other safetensors files");
  ckpt->require_subcommand(1);
  auto path = std::make_shared<std::string>();
  CLI::App* info = ckpt->add_subcommand("info", "List a safetensors file's tensors (name, dtype, shape) and metadata");
  info->add_option("FILE", *path, "A .safetensors file")->required();
  info->callback([path] { run_ckpt_info(*path); });
}

const ldae::app::Registration ckpt_registration("ckpt", 50, add_ckpt_commands);

}  // namespace
