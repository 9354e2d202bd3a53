#include "apps/command.h"

#include <algorithm>
#include <sstream>

namespace ldae::app {

namespace {
// A function-local static, so registrations from other files' static initialisers find
// it constructed whatever the initialisation order.
std::vector<RegisteredGroup>& registry() {
  static std::vector<RegisteredGroup> groups;
  return groups;
}
}  // namespace

Registration::Registration(std::string name, int order, AddCommands add) {
  registry().push_back({std::move(name), order, std::move(add)});
}

std::vector<RegisteredGroup> registered_groups() {
  std::vector<RegisteredGroup> groups = registry();
  std::sort(groups.begin(), groups.end(), [](const RegisteredGroup& a, const RegisteredGroup& b) {
    return a.order != b.order ? a.order < b.order : a.name < b.name;
  });
  return groups;
}

std::vector<int64_t> parse_int_list(const std::string& text, const std::string& what, size_t count,
                                    bool allow_zero) {
  std::vector<int64_t> values;
  std::stringstream ss(text);
  std::string item;
  const std::string kind = allow_zero ? "integers >= 0" : "positive integers";
  const std::string expect = (count ? std::to_string(count) + " " : std::string()) + "comma-separated " + kind;
  while (std::getline(ss, item, ',')) {
    size_t used = 0;
    long long v = 0;
    try {
      v = std::stoll(item, &used);
    } catch (...) {
      used = 0;
    }
    if (used == 0 || used != item.size() || v < 0 || (v == 0 && !allow_zero))
      throw CLI::ValidationError(what, "'" + text + "' is not " + expect);
    values.push_back(v);
  }
  if (values.empty() || (count && values.size() != count))
    throw CLI::ValidationError(what, "'" + text + "' is not " + expect);
  return values;
}

}  // namespace ldae::app
