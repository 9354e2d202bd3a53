// reference_check [--emit DIR] PATH...: checks the framework against the PyTorch
// reference cases (see reference_runner.h and reference-cases.md in the project docs).
#include <iostream>
#include <string>
#include <vector>

#include "tests/reference/reference_runner.h"

int main(int argc, char** argv) {
  const std::vector<std::string> args(argv + 1, argv + argc);
  return ldae::reference::run_main(args, std::cout, std::cerr);
}
