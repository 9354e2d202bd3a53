#include "nn/shape_trace.h"

#include <cstdio>

#include "tensor/error.h"

namespace ldae::nn {

namespace {
thread_local std::ostream* trace_out = nullptr;  // the active trace's stream, if any
}  // namespace

ShapeTrace::ShapeTrace(std::ostream& out) {
  check(trace_out == nullptr, "ShapeTrace", "a shape trace is already active on this thread");
  trace_out = &out;
}

ShapeTrace::~ShapeTrace() { trace_out = nullptr; }

bool tracing() { return trace_out != nullptr; }

void trace(const char* where, int64_t index, const char* what, const Tensor& t) {
  if (trace_out == nullptr) return;
  std::string name = where;
  if (index >= 0) name += "." + std::to_string(index);
  std::string shape = "(";
  for (int64_t a = 0; a < t.dim(); ++a) shape += (a ? ", " : "") + std::to_string(t.size(a));
  shape += ")";
  char line[256];
  std::snprintf(line, sizeof line, "  %-26s %-34s %s\n", name.c_str(), what, shape.c_str());
  *trace_out << line;
}

}  // namespace ldae::nn
