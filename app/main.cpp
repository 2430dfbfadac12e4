// slimfaas: a Function-as-a-Service node. See README.md and docs/.
#include <iostream>
#include <spdlog/spdlog.h>
#include <string>
#include <vector>

#include "app/config.hpp"
#include "app/huge_page_code.hpp"
#include "app/local_mode.hpp"
#include "app/node.hpp"

namespace {

constexpr const char* version = "0.1.0";

void usage(std::ostream& out) {
  out << "usage: slimfaas <command> [options]\n\n"
         "commands:\n"
         "  serve      run a node (settings from flags and environment; see `slimfaas serve --help`)\n"
         "  local      run functions as local processes from a manifest (`slimfaas local --help`)\n"
         "  version    print the version\n"
         "  help       this text\n";
}

int serve(const std::vector<std::string>& args) {
  for (const auto& arg : args) {
    if (arg == "--help" || arg == "-h") {
      std::cout << "usage: slimfaas serve [--setting value ...]\n\n" << slimfaas::app::settings_help();
      return 0;
    }
  }
  slimfaas::app::NodeConfig config;
  try {
    config = slimfaas::app::load_config(args, slimfaas::app::current_environment());
  } catch (const slimfaas::app::ConfigError& e) {
    std::cerr << "slimfaas: invalid setting: " << e.what() << "\n";
    return 2;
  }
  spdlog::set_level(spdlog::level::from_str(config.log_level));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  // Before any thread exists (the actor system, the listeners).
  if (config.huge_page_code) slimfaas::app::move_code_to_huge_pages_and_log();
  try {
    return slimfaas::app::run_node(config);
  } catch (const slimfaas::app::ConfigError& e) {
    std::cerr << "slimfaas: invalid setting: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  if (args.empty() || args[0] == "help" || args[0] == "--help" || args[0] == "-h") {
    usage(std::cout);
    std::cout << "\n" << slimfaas::app::settings_help();
    return args.empty() ? 2 : 0;
  }
  const std::string command = args[0];
  args.erase(args.begin());
  if (command == "serve") return serve(args);
  if (command == "local") return slimfaas::app::local_command(args);
  if (command == "version" || command == "--version") {
    std::cout << "slimfaas " << version << "\n";
    return 0;
  }
  std::cerr << "slimfaas: unknown command '" << command << "'\n";
  usage(std::cerr);
  return 2;
}
