// Docs that match the code: every repository path that a Markdown file of the project
// names must exist. A "repository path" is
//   - a token that starts with a top-level folder of the repository followed by '/'
//     (`tensor/cpu/conv.cpp`, `tests/reference/cases`, `.ci/run`), standing on its own
//     (not the tail of a longer path such as `build/tests/...` or `../shared/...`), or
//   - the target of a relative Markdown link, `[text](02-modules-and-training.md)`,
//     resolved against the folder of the file that holds it.
// A pattern (`tensor/cuda/*.cu`, `apps/cmd_<group>.cpp`, `x_${m}.nii`) passes when the folder before the
// first wildcard exists. Build outputs (`build/...`) and generated folders (`out/...`) are
// not repository paths and are not checked.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace fs = std::filesystem;

namespace {

const fs::path kRoot = LDAE_SOURCE_DIR;

// The Markdown files of the repository (build and output folders excluded).
std::vector<fs::path> markdown_files() {
  std::vector<fs::path> files;
  for (auto it = fs::recursive_directory_iterator(kRoot); it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && (name.rfind("build", 0) == 0 || name == "out" || name[0] == '.') &&
        name != ".ci") {
      it.disable_recursion_pending();
      continue;
    }
    if (it->is_regular_file() && it->path().extension() == ".md") files.push_back(it->path());
  }
  return files;
}

// The folders at the top of the repository, as path prefixes ("tensor/", ".ci/").
std::vector<std::string> top_level_prefixes() {
  std::vector<std::string> out;
  for (const auto& e : fs::directory_iterator(kRoot)) {
    const std::string name = e.path().filename().string();
    if (!e.is_directory() || name == ".git" || name.rfind("build", 0) == 0 || name == "out") continue;
    out.push_back(name + "/");
  }
  return out;
}

// True when `path` (relative to `base`) exists; a pattern passes when its folder exists.
bool exists_or_pattern_folder(const fs::path& base, std::string path) {
  const size_t wild = path.find_first_of("*<{[$");
  if (wild != std::string::npos) {
    const size_t slash = path.rfind('/', wild);
    path = slash == std::string::npos ? "" : path.substr(0, slash);
  }
  while (!path.empty() && (path.back() == '/')) path.pop_back();
  return path.empty() || fs::exists(base / path);
}

std::string strip_trailing_punctuation(std::string token) {
  while (!token.empty() && std::string(".,:;)'\"`").find(token.back()) != std::string::npos) token.pop_back();
  return token;
}

}  // namespace

TEST(DocsPaths, EveryRepositoryPathNamedInMarkdownExists) {
  const std::vector<std::string> prefixes = top_level_prefixes();
  ASSERT_FALSE(prefixes.empty());
  const std::vector<fs::path> files = markdown_files();
  ASSERT_GE(files.size(), 5u) << "the README and the tutorials should be found under " << kRoot;

  // A path-like token: letters, digits and _ . - / * < > { } $ (no spaces).
  const std::regex token_re(R"([A-Za-z0-9_.\-/*<>{}$]+)");
  const std::regex link_re(R"(\]\(([^)\s#]+)(#[^)]*)?\))");
  int checked = 0;
  std::vector<std::string> missing;
  for (const fs::path& file : files) {
    std::ifstream in(file);
    std::stringstream ss;
    ss << in.rdbuf();
    const std::string text = ss.str();
    const std::string rel_file = fs::relative(file, kRoot).string();

    for (auto it = std::sregex_iterator(text.begin(), text.end(), token_re); it != std::sregex_iterator(); ++it) {
      const std::string token = strip_trailing_punctuation(it->str());
      bool is_repo_path = false;
      for (const std::string& p : prefixes)
        if (token.rfind(p, 0) == 0 && token.size() > p.size()) is_repo_path = true;
      if (!is_repo_path) continue;
      ++checked;
      if (!exists_or_pattern_folder(kRoot, token)) missing.push_back(rel_file + ": " + token);
    }
    for (auto it = std::sregex_iterator(text.begin(), text.end(), link_re); it != std::sregex_iterator(); ++it) {
      const std::string target = (*it)[1].str();
      if (target.find("://") != std::string::npos || target.rfind("mailto:", 0) == 0) continue;
      ++checked;
      if (!exists_or_pattern_folder(file.parent_path(), target)) missing.push_back(rel_file + ": link " + target);
    }
  }
  EXPECT_GT(checked, 50) << "too few paths found: is the pattern still right?";
  std::string list;
  for (const auto& m : std::set<std::string>(missing.begin(), missing.end())) list += "\n  " + m;
  EXPECT_TRUE(missing.empty()) << missing.size() << " path(s) named in Markdown do not exist:" << list;
}
