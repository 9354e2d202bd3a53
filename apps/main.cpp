// The `ldae` program: parse the command line, run one subcommand. Exit codes: 0 success
// (and --help), 1 runtime error (message "error: ..."), 2 usage error.
#include <exception>
#include <iostream>

#include "apps/command.h"

int main(int argc, char** argv) {
  CLI::App app{"ldae: Latent Diffusion Autoencoders for 3D brain MRI, from scratch in C++"};
  app.require_subcommand(1);
  app.set_help_all_flag("--help-all", "Print help for every command");
  for (const auto& group : ldae::app::registered_groups()) group.add(app);
  try {
    app.parse(argc, argv);  // the chosen subcommand's callback runs in here
  } catch (const CLI::CallForHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForAllHelp& e) {
    return app.exit(e);
  } catch (const CLI::CallForVersion& e) {
    return app.exit(e);
  } catch (const CLI::ParseError& e) {
    std::cerr << "usage error: " << e.what() << "\n"
              << "Run '" << argv[0] << " --help' (or '<command> --help') for usage.\n";
    return 2;
  } catch (const std::exception& e) {
    std::cerr << "error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
