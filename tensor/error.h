// The single exception type of the library. Every misuse (bad shape, axis, dtype or
// device) throws ldae::Error with a message that starts with the op's name, e.g.
//   "add: shapes (2, 3) and (4,) cannot be broadcast together"
#pragma once
#include <stdexcept>
#include <string>

namespace ldae {

class Error : public std::invalid_argument {
 public:
  using std::invalid_argument::invalid_argument;
};

// Throws Error("<op>: <what>").
[[noreturn]] inline void fail(const std::string& op, const std::string& what) {
  throw Error(op + ": " + what);
}

// Throws Error("<op>: <what>") unless `condition` holds.
inline void check(bool condition, const std::string& op, const std::string& what) {
  if (!condition) fail(op, what);
}

}  // namespace ldae
