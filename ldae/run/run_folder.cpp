#include "ldae/run/run_folder.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <thread>

#include "ldae/git_describe.h"  // LDAE_GIT_DESCRIBE, generated at build time (ldae/CMakeLists.txt)
#include "tensor/error.h"

namespace ldae::run {

namespace fs = std::filesystem;
using json = nlohmann::json;

RunPaths run_paths(const std::string& root) {
  const fs::path r(root);
  RunPaths p;
  p.root = root;
  p.config = (r / "config.json").string();
  p.log = (r / "log.csv").string();
  p.checkpoints = (r / "checkpoints").string();
  p.last = (r / "checkpoints" / "last.safetensors").string();
  p.best = (r / "checkpoints" / "best.safetensors").string();
  p.figures = (r / "figures").string();
  p.done = (r / "done.json").string();
  return p;
}

namespace {

// Writes `text` to `path` through a temporary file that is flushed and renamed over it.
void write_atomic(const std::string& path, const std::string& text, const std::string& op) {
  const std::string tmp = path + ".tmp." + std::to_string(::getpid());
  const int fd = ::open(tmp.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) fail(op, "cannot create " + tmp + ": " + std::strerror(errno));
  size_t done = 0;
  std::string problem;
  while (done < text.size()) {
    const ssize_t n = ::write(fd, text.data() + done, text.size() - done);
    if (n < 0) {
      if (errno == EINTR) continue;
      problem = std::string("cannot write ") + tmp + ": " + std::strerror(errno);
      break;
    }
    done += static_cast<size_t>(n);
  }
  if (problem.empty() && ::fsync(fd) != 0) problem = std::string("cannot flush ") + tmp + ": " + std::strerror(errno);
  if (::close(fd) != 0 && problem.empty()) problem = std::string("cannot close ") + tmp + ": " + std::strerror(errno);
  if (problem.empty() && std::rename(tmp.c_str(), path.c_str()) != 0)
    problem = "cannot rename " + tmp + " to " + path + ": " + std::strerror(errno);
  if (!problem.empty()) {
    ::unlink(tmp.c_str());
    fail(op, problem);
  }
}

void diff(const json& a, const json& b, const std::string& path, std::vector<std::string>* out) {
  if (a.is_object() && b.is_object()) {
    for (const auto& [k, v] : a.items()) {
      const std::string p = path.empty() ? k : path + "." + k;
      if (path.empty() && k == "environment") continue;
      if (!b.contains(k)) out->push_back(p + ": in the folder " + v.dump() + ", now absent");
      else diff(v, b.at(k), p, out);
    }
    for (const auto& [k, v] : b.items()) {
      if (path.empty() && k == "environment") continue;
      if (!a.contains(k)) out->push_back((path.empty() ? k : path + "." + k) + ": absent in the folder, now " + v.dump());
    }
    return;
  }
  // Numbers compare by value (an integer 2 and a float 2.0 read back from JSON are equal).
  if (a.is_number() && b.is_number() && a.get<double>() == b.get<double>()) return;
  if (a != b) out->push_back(path + ": in the folder " + a.dump() + ", now " + b.dump());
}

}  // namespace

void prepare_run_folder(const RunPaths& paths) {
  const std::string op = "run folder " + paths.root;
  std::error_code ec;
  if (fs::exists(paths.root, ec) && !fs::is_directory(paths.root, ec)) fail(op, "exists and is not a folder");
  for (const std::string& d : {paths.root, paths.checkpoints, paths.figures}) {
    fs::create_directories(d, ec);
    if (ec) fail(op, "cannot create " + d + ": " + ec.message());
  }
  // Prove that a file can be created, written and flushed in each folder we write to.
  for (const std::string& d : {paths.root, paths.checkpoints, paths.figures}) {
    const std::string probe = (fs::path(d) / (".write_probe." + std::to_string(::getpid()))).string();
    const int fd = ::open(probe.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) fail(op, "cannot write in " + d + ": " + std::strerror(errno));
    const char byte = 0;
    const bool ok = ::write(fd, &byte, 1) == 1 && ::fsync(fd) == 0;
    const int err = errno;
    ::close(fd);
    ::unlink(probe.c_str());
    if (!ok) fail(op, "cannot write in " + d + ": " + std::strerror(err));
  }
  // Temporaries left by a process killed while writing a checkpoint or config.json.
  for (const std::string& d : {paths.root, paths.checkpoints})
    for (const auto& e : fs::directory_iterator(d, ec))
      if (e.path().filename().string().find(".tmp.") != std::string::npos) fs::remove(e.path(), ec);
}

std::vector<std::string> config_differences(const json& saved, const json& now) {
  std::vector<std::string> out;
  diff(saved, now, "", &out);
  return out;
}

RunStart open_run(const RunPaths& paths, const nlohmann::ordered_json& config, bool continue_stopped) {
  std::error_code ec;
  if (fs::exists(paths.config, ec)) {
    const json saved = read_json(paths.config);
    const std::vector<std::string> d = config_differences(saved, json(config));
    if (!d.empty()) {
      std::string msg = "holds a run with a different configuration, so it cannot be resumed:";
      for (const auto& line : d) msg += "\n  " + line;
      msg += "\nUse another --out folder, or the folder's own settings (--config " + paths.config + ").";
      fail("run folder " + paths.root, msg);
    }
    if (fs::exists(paths.done, ec)) {
      if (!continue_stopped) return RunStart::Finished;
      const json done = read_json(paths.done);
      const auto stopped = done.find("stopped_early");
      if (stopped == done.end() || !stopped->is_string() || stopped->get<std::string>().empty())
        return RunStart::Finished;  // trained all its epochs: nothing to continue
      // Stopped early: its last checkpoint is the end of its last epoch, from which the
      // planned run goes on exactly as an interrupted one resumes.
      if (!fs::exists(paths.last, ec))
        fail("run folder " + paths.root, "stopped early but has no " + paths.last + " to continue from");
      if (!fs::remove(paths.done, ec) || ec)
        fail("run folder " + paths.root, "cannot remove " + paths.done + " to continue the run: " + ec.message());
      return RunStart::Continue;
    }
    if (fs::exists(paths.last, ec)) return RunStart::Resume;
  } else if (fs::exists(paths.last, ec) || fs::exists(paths.done, ec)) {
    fail("run folder " + paths.root,
         "holds checkpoints or done.json but no config.json: not a run folder of this program, or damaged; "
         "use another --out folder");
  }
  write_json_atomic(paths.config, config);
  return RunStart::Fresh;
}

void write_json_atomic(const std::string& path, const nlohmann::ordered_json& doc) {
  write_atomic(path, doc.dump(2) + "\n", "write " + path);
}

json read_json(const std::string& path) {
  std::ifstream in(path);
  if (!in) fail("read " + path, "cannot open it");
  try {
    return json::parse(in);
  } catch (const std::exception& e) {
    fail("read " + path, std::string("not valid JSON: ") + e.what());
  }
}

void write_done(const RunPaths& paths, const std::string& stage, const nlohmann::ordered_json& summary) {
  nlohmann::ordered_json doc;
  doc["stage"] = stage;
  doc["complete"] = true;
  for (const auto& [k, v] : summary.items()) doc[k] = v;
  write_json_atomic(paths.done, doc);
}

json require_finished_stage(const std::string& root, const std::string& stage,
                            const std::map<std::string, json>& must_match) {
  const RunPaths p = run_paths(root);
  const std::string op = "run folder " + root;
  std::error_code ec;
  if (!fs::is_directory(root, ec)) fail(op, "does not exist (expected a finished 'ldae " + stage + "' run)");
  if (!fs::exists(p.config, ec)) fail(op, "has no config.json: not a run folder of 'ldae " + stage + "'");
  const json config = read_json(p.config);
  const std::string found = config.value("stage", std::string());
  if (found != stage)
    fail(op, "is a run of '" + (found.empty() ? std::string("unknown") : found) + "', not of '" + stage + "'");
  if (!fs::exists(p.done, ec))
    fail(op, "was not finished (no done.json): run the same 'ldae " + stage + "' command again to complete it");
  const json done = read_json(p.done);
  if (done.value("stage", std::string()) != stage || !done.value("complete", false))
    fail(op, "done.json does not mark a complete '" + stage + "' run");
  if (done.contains("checkpoints") && done["checkpoints"].is_object())
    for (const auto& [name, rel] : done["checkpoints"].items()) {
      const std::string file = (fs::path(root) / rel.get<std::string>()).string();
      if (!fs::exists(file, ec)) fail(op, "is missing its " + name + " checkpoint " + file);
    }
  std::vector<std::string> problems;
  for (const auto& [path, want] : must_match) {
    const json* v = &config;
    size_t start = 0;
    while (v && start <= path.size()) {
      const size_t dot = path.find('.', start);
      const std::string key = path.substr(start, dot == std::string::npos ? std::string::npos : dot - start);
      v = v->is_object() && v->contains(key) ? &v->at(key) : nullptr;
      if (dot == std::string::npos) break;
      start = dot + 1;
    }
    const bool same = v && (*v == want || (v->is_number() && want.is_number() && v->get<double>() == want.get<double>()));
    if (!same)
      problems.push_back(path + ": the folder's " + (v ? v->dump() : std::string("(absent)")) + ", this run's " +
                         want.dump());
  }
  if (!problems.empty()) {
    std::string msg = "does not match this run:";
    for (const auto& p : problems) msg += "\n  " + p;
    fail(op, msg);
  }
  return config;
}

std::string program_version() {
  const std::string d = LDAE_GIT_DESCRIBE;
  return d.empty() ? "ldae (unknown version)" : "ldae " + d;
}

int thread_count_hint() {
  if (const char* env = std::getenv("OMP_NUM_THREADS")) {
    const int n = std::atoi(env);
    if (n > 0) return n;
  }
  return static_cast<int>(std::thread::hardware_concurrency());
}

nlohmann::ordered_json environment_json(Device device) {
  return {{"version", program_version()}, {"threads", thread_count_hint()}, {"device", device.str()}};
}

}  // namespace ldae::run
