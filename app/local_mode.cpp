#include "app/local_mode.hpp"

#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <set>
#include <spdlog/spdlog.h>
#include <stdexcept>

#include <csignal>
#include <cstdlib>
#include <random>
#include <unistd.h>

#include "actors/local_supervisor_actor.hpp"
#include "actors/scaler_actor.hpp"
#include "app/actor_system.hpp"
#include "app/config.hpp"
#include "app/huge_page_code.hpp"
#include "net/cpu_budget.hpp"
#include "app/node.hpp"
#include "app/stop_signals.hpp"
#include "k8s/process_backend.hpp"
#include "net/tcp_balancer.hpp"

namespace slimfaas::app {
namespace {

namespace fs = std::filesystem;
using nlohmann::json;

constexpr const char* marker_file = ".slimfaas-local.json";
constexpr int marker_schema = 1;

struct UsageError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct LocalArgs {
  std::string command;  // validate | up
  std::vector<fs::path> files;
  std::vector<fs::path> env_files;
  bool clean = false;
  bool help = false;
};

void usage(std::ostream& out) {
  out << "usage: slimfaas local validate [-f FILE]... [--env-file FILE]...\n"
         "       slimfaas local up [-f FILE]... [--env-file FILE]... [--clean]\n\n"
         "  -f, --file FILE   manifest; repeat to overlay left to right (default: "
      << default_manifest_file
      << ")\n"
         "  --env-file FILE   dotenv values for ${VAR}; repeatable, later files win, the environment wins over all\n"
         "  --clean           delete the state directory first (only one marked as slimfaas's)\n";
}

LocalArgs parse_args(const std::vector<std::string>& args) {
  LocalArgs out;
  if (args.empty()) throw UsageError("missing subcommand (validate or up)");
  out.command = args[0];
  if (out.command == "--help" || out.command == "-h" || out.command == "help") {
    out.help = true;
    return out;
  }
  if (out.command != "validate" && out.command != "up")
    throw UsageError("unknown subcommand '" + out.command + "' (validate or up)");
  for (std::size_t i = 1; i < args.size(); ++i) {
    std::string arg = args[i];
    std::optional<std::string> inline_value;
    if (auto eq = arg.find('='); arg.rfind("--", 0) == 0 && eq != std::string::npos) {
      inline_value = arg.substr(eq + 1);
      arg = arg.substr(0, eq);
    }
    auto value = [&]() -> std::string {
      if (inline_value) return *inline_value;
      if (i + 1 >= args.size()) throw UsageError(arg + " needs a value");
      return args[++i];
    };
    if (arg == "-f" || arg == "--file") out.files.emplace_back(value());
    else if (arg == "--env-file") out.env_files.emplace_back(value());
    else if (arg == "--clean" && out.command == "up" && !inline_value) out.clean = true;
    else if (arg == "--help" || arg == "-h") out.help = true;
    else throw UsageError("unknown option '" + args[i] + "'");
  }
  if (out.files.empty()) out.files.emplace_back(default_manifest_file);
  return out;
}

// Loads the manifests; prints every problem and returns nullopt when any.
std::optional<LocalManifest> load(const LocalArgs& args) {
  auto result = load_manifests(args.files, args.env_files, current_environment());
  if (result.ok()) return std::move(result.manifest);
  for (const auto& p : result.problems) std::cerr << to_string(p) << "\n";
  std::cerr << "slimfaas local: " << result.problems.size() << (result.problems.size() == 1 ? " problem" : " problems")
            << "; nothing started\n";
  return std::nullopt;
}

std::string replicas_text(int n) { return std::to_string(n) + (n == 1 ? " replica" : " replicas"); }

std::vector<k8s::ProcessFunction> process_functions(const LocalManifest& manifest) {
  std::vector<k8s::ProcessFunction> out;
  for (const auto& f : manifest.functions) {
    if (!f.managed) {
      std::cout << "  function " << f.name << ": skipped (SlimFaas/Function is not \"true\")\n";
      continue;
    }
    k8s::ProcessFunction p;
    p.name = f.name;
    p.annotations = f.annotations;
    p.command = f.command;
    p.working_directory = f.working_directory;
    p.environment = f.environment;
    p.health = f.health;
    p.debug_endpoint = f.debug_endpoint;
    if (p.debug_endpoint)
      std::cout << "  function " << f.name << ": routed to " << *f.debug_url << " (debugUrl; not started here)\n";
    out.push_back(std::move(p));
  }
  return out;
}

// Prints each function's readiness as it changes, and the entrypoint once
// every function that starts with replicas has them ready.
class Progress {
 public:
  Progress(const LocalManifest& manifest, const std::vector<k8s::ProcessFunction>& functions) {
    port_ = manifest.cluster.entrypoint_port;
    for (const auto& f : functions) {
      const auto config = k8s::parse_annotations(f.annotations);
      const int start = std::min(config.replicas_min, config.max_replicas());
      // A debugUrl target is someone else's process: the entrypoint does not wait for it.
      if (start > 0 && !f.debug_endpoint) waiting_for_.insert(f.name);
    }
  }

  // Several nodes: the entrypoint waits for each of them too.
  void expect_nodes(int nodes) {
    std::lock_guard lock(mutex_);
    nodes_left_ = nodes;
  }

  void serving(int node, int port) {
    std::lock_guard lock(mutex_);
    std::cout << "  node " << node << ": serving on http://127.0.0.1:" << port << std::endl;
    if (nodes_left_ > 0) --nodes_left_;
    serving_ = nodes_left_ == 0;
    maybe_print_entrypoint();
  }

  void replicas(const std::string& function, const std::vector<k8s::Replica>& replicas) {
    std::lock_guard lock(mutex_);
    int ready = 0;
    for (const auto& r : replicas) ready += r.ready ? 1 : 0;
    const auto state = std::make_pair(static_cast<int>(replicas.size()), ready);
    auto [it, inserted] = last_.try_emplace(function, state);
    if (!inserted && it->second == state) return;
    it->second = state;
    if (replicas.empty()) {
      std::cout << "  function " << function << ": 0 replicas (wakes on the first call)" << std::endl;
    } else {
      std::cout << "  function " << function << ": " << ready << "/" << replicas.size() << " ready"
                << (ready < static_cast<int>(replicas.size()) ? " (starting)" : "") << std::endl;
    }
    if (ready > 0) waiting_for_.erase(function);
    maybe_print_entrypoint();
  }

 private:
  void maybe_print_entrypoint() {
    if (printed_ || !serving_ || !waiting_for_.empty()) return;
    printed_ = true;
    std::cout << "\nEntrypoint: http://127.0.0.1:" << port_ << "\n" << std::endl;
  }

  std::mutex mutex_;
  int port_ = 0;
  bool serving_ = false;
  int nodes_left_ = 0;
  bool printed_ = false;
  std::set<std::string> waiting_for_;
  std::map<std::string, std::pair<int, int>> last_;
};


std::string random_token() {
  std::random_device random;
  std::string token;
  static const char* hex = "0123456789abcdef";
  for (int i = 0; i < 32; ++i) token += hex[random() % 16];
  return token;
}

std::string self_executable() {
  std::error_code ec;
  auto path = fs::read_symlink("/proc/self/exe", ec);
  if (ec) throw std::runtime_error("cannot find this executable (/proc/self/exe): " + ec.message());
  return path.string();
}


// Several nodes: this process (the supervisor) runs the functions' processes
// and the scaler, starts `cluster.nodes` node processes (`slimfaas serve`,
// under the same guard as function replicas) that form one SlimData cluster
// and join it, and spreads the entrypoint's connections over them.
int up_cluster(const LocalManifest& manifest, const fs::path& state, std::vector<k8s::ProcessFunction> functions,
               Progress& progress) {
  block_stop_signals();

  const int nodes = manifest.cluster.nodes;
  const std::string token = random_token();
  // No peer timeout between the supervisor and its nodes (see run_node).
  ActorSystemConfig actor_config(2, std::chrono::milliseconds(0));
  caf::actor_system system(actor_config);
  name_middleman_thread(system);

  std::vector<actors::ScaledFunction> scaled;
  for (const auto& f : functions) {
    auto config = k8s::parse_annotations(f.annotations);
    scaled.push_back({f.name, config, config.replicas_min});
  }
  auto backend = std::make_unique<k8s::ProcessBackend>(
      std::move(functions), k8s::ProcessPortRange{manifest.process_ports.from, manifest.process_ports.to}, state);
  actors::ScalerSetup scaler_setup;
  scaler_setup.functions = std::move(scaled);
  scaler_setup.backend = backend.get();
  auto scaler = actors::spawn_scaler_actor(system, std::move(scaler_setup));

  actors::LocalSupervisorSetup supervisor_setup;
  for (const auto& d : backend->functions())
    supervisor_setup.functions.push_back({d.name, d.annotations, d.replicas});
  supervisor_setup.scaler = scaler;
  supervisor_setup.token = token;
  auto supervisor = actors::spawn_local_supervisor(system, std::move(supervisor_setup));
  auto stop_actors = [&] {
    caf::anon_send_exit(supervisor, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(scaler, caf::exit_reason::user_shutdown);
  };
  auto published = system.middleman().publish(supervisor, 0, "127.0.0.1", true);
  if (!published) {
    std::cerr << "slimfaas local: cannot listen for the nodes: " << system.render(published.error()) << "\n";
    stop_actors();
    return 1;
  }
  backend->set_listener([&progress, supervisor](const std::string& function, std::vector<k8s::Replica> replicas) {
    progress.replicas(function, replicas);
    caf::anon_send(supervisor, actors::replicas_atom::value, function, actors::ReplicaList(std::move(replicas)));
  });

  // The nodes: `slimfaas serve` processes, HTTP ports nodeHttpPortBase + i
  // (in any order), SlimData ports raftPortBase + i (node id i + 1).
  std::string peers;
  for (int i = 0; i < nodes; ++i)
    peers += (i ? "," : "") + std::string("127.0.0.1:") + std::to_string(manifest.cluster.raft_port(i));
  std::vector<k8s::ProcessFunction> node_processes;
  const std::string exe = self_executable();
  for (int i = 0; i < nodes; ++i) {
    k8s::ProcessFunction n;
    n.name = "node-" + std::to_string(i);
    n.annotations = {{"SlimFaas/ReplicasMin", "1"}};
    n.command = {exe,
                 "serve",
                 "--ports",
                 "{port}",
                 "--listen-address",
                 "127.0.0.1",
                 "--hostname",
                 manifest.name + "-node-" + std::to_string(i),
                 "--log-level",
                 node_log_level(manifest.cluster.node_log_level),
                 "--slimdata-peers",
                 peers,
                 "--slimdata-node-id",
                 std::to_string(i + 1),
                 "--slimdata-directory",
                 (state / n.name / "slimdata").string(),
                 "--slimdata-bind-address",
                 "127.0.0.1",
                 "--slimdata-cluster-id",
                 manifest.name,
                 "--local-supervisor",
                 "127.0.0.1:" + std::to_string(*published)};
    // The nodes share this machine's CPUs: each sizes its actor scheduler
    // on its share (one node's threads would otherwise contend with the
    // others': bench/async.py measured ~10% fewer async calls/s with 3
    // nodes of 2 scheduler threads each on 2 cores).
    if (!std::getenv("SlimFaas__ActorThreads")) {
      n.command.push_back("--actor-threads");
      n.command.push_back(std::to_string(std::max(1u, net::usable_cpus() / static_cast<unsigned>(nodes))));
    }
    // Secrets travel in the environment, not on command lines.
    n.environment = {{"SlimFaas__LocalToken", token}, {"SlimData__Secret", token}};
    n.health.path = "/health";
    n.health.startup_timeout_seconds = 60;
    node_processes.push_back(std::move(n));
  }
  std::vector<std::uint16_t> node_ports;
  for (int i = 0; i < nodes; ++i) node_ports.push_back(static_cast<std::uint16_t>(manifest.cluster.node_http_port(i)));
  progress.expect_nodes(nodes);
  // Nodes drain their calls on SIGTERM: give them the time they take.
  auto node_backend = std::make_unique<k8s::ProcessBackend>(
      std::move(node_processes),
      k8s::ProcessPortRange{manifest.cluster.node_http_port(0), manifest.cluster.node_http_port(nodes - 1)}, state,
      std::chrono::seconds(35));
  auto announced = std::make_shared<std::set<std::string>>();
  node_backend->set_listener([&progress, announced](const std::string& node, std::vector<k8s::Replica> replicas) {
    if (replicas.empty() || !replicas[0].ready || !announced->insert(node).second) return;
    progress.serving(std::stoi(node.substr(5)), replicas[0].port);
  });

  int code = 0;
  std::unique_ptr<net::TcpBalancer> entrypoint;
  try {
    entrypoint = std::make_unique<net::TcpBalancer>("127.0.0.1", static_cast<std::uint16_t>(manifest.cluster.entrypoint_port),
                                                    node_ports);
  } catch (const std::exception& e) {
    std::cerr << "slimfaas local: cannot listen on the entrypoint port " << manifest.cluster.entrypoint_port << ": "
              << e.what() << "\n";
    code = 1;
  }
  if (code == 0) {
    const int signal = wait_for_stop_signal();
    std::cout << "slimfaas local: " << (signal == SIGTERM ? "SIGTERM" : "SIGINT") << ", stopping" << std::endl;
  }
  if (entrypoint) entrypoint->stop();
  node_backend->stop();  // the nodes first: they stop sending calls to the functions
  stop_actors();
  backend->stop();
  return code;
}

int validate(const LocalArgs& args) {
  auto manifest = load(args);
  if (!manifest) return 2;
  std::cout << "valid: " << manifest->name << " (" << manifest->functions.size() << " function"
            << (manifest->functions.size() == 1 ? "" : "s") << ", " << manifest->cluster.nodes << " node"
            << (manifest->cluster.nodes == 1 ? "" : "s") << ", entrypoint port " << manifest->cluster.entrypoint_port
            << ")\n";
  for (const auto& f : manifest->functions) {
    std::cout << "  " << f.name << ": ReplicasMin " << f.config.replicas_min << ", ReplicasAtStart "
              << f.config.replicas_at_start << ", max " << f.config.max_replicas() << "\n";
  }
  return 0;
}

int up(const LocalArgs& args) {
  auto manifest = load(args);
  if (!manifest) return 2;
  fs::path state;
  try {
    state = prepare_state_directory(*manifest, args.clean);
  } catch (const std::exception& e) {
    std::cerr << "slimfaas local: " << e.what() << "\n";
    return 2;
  }

  spdlog::set_level(spdlog::level::from_str(node_log_level(manifest->cluster.node_log_level)));
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S.%e%z %^%l%$ %v");
  // Node 0 runs in this process: its code goes onto huge pages as a
  // `slimfaas serve` node's does (the other nodes are such processes, and
  // inherit the setting through the environment).
  try {
    Environment setting;
    if (const char* value = std::getenv("SlimFaas__HugePageCode")) setting["SlimFaas__HugePageCode"] = value;
    if (load_config({}, setting).huge_page_code) move_code_to_huge_pages_and_log();
  } catch (const ConfigError& e) {
    std::cerr << "slimfaas local: invalid setting: " << e.what() << "\n";
    return 2;
  }

  std::cout << "slimfaas local: " << manifest->name << " (state " << state.string() << ", "
            << to_string(manifest->state.mode) << ")\n";
  NodeConfig config;
  config.server.address = "127.0.0.1";
  config.server.ports = {static_cast<std::uint16_t>(manifest->cluster.entrypoint_port),
                         static_cast<std::uint16_t>(manifest->cluster.node_http_port(0))};
  config.hostname = manifest->name + "-node-0";
  config.log_level = node_log_level(manifest->cluster.node_log_level);
  // One node leads SlimData alone (a local cluster of one is cold-started on purpose).
  config.slimdata_directory = (state / "node-0" / "slimdata").string();
  config.allow_cold_start = true;
  config.slimdata_port = manifest->cluster.raft_port(0);
  config.slimdata_bind_address = "127.0.0.1";
  config.slimdata_cluster_id = manifest->name;

  auto functions = process_functions(*manifest);
  Progress progress(*manifest, functions);
  for (const auto& f : functions) {
    const auto c = k8s::parse_annotations(f.annotations);
    const int start = std::min(c.replicas_min, c.max_replicas());
    if (start > 0 && !f.debug_endpoint) std::cout << "  function " << f.name << ": starting " << replicas_text(start) << "\n";
  }

  int code = 0;
  if (manifest->cluster.nodes > 1) {
    try {
      code = up_cluster(*manifest, state, std::move(functions), progress);
    } catch (const std::exception& e) {
      std::cerr << "slimfaas local: " << e.what() << "\n";
      code = 1;
    }
  } else try {
    auto backend = std::make_unique<k8s::ProcessBackend>(
        std::move(functions), k8s::ProcessPortRange{manifest->process_ports.from, manifest->process_ports.to}, state);
    NodeHooks hooks;
    hooks.on_serving = [&] { progress.serving(0, manifest->cluster.node_http_port(0)); };
    hooks.on_replicas = [&](const std::string& function, const std::vector<k8s::Replica>& replicas) {
      progress.replicas(function, replicas);
    };
    code = run_node(config, std::move(backend), std::move(hooks));
  } catch (const std::exception& e) {
    std::cerr << "slimfaas local: " << e.what() << "\n";
    code = 1;
  }
  if (manifest->state.mode == StateMode::Ephemeral) {
    std::error_code ec;
    fs::remove_all(state, ec);
  }
  std::cout << "slimfaas local: stopped" << std::endl;
  return code;
}

}  // namespace

std::string node_log_level(const std::string& manifest_level) {
  static const std::map<std::string, std::string> levels{
      {"Trace", "trace"}, {"Debug", "debug"},       {"Information", "info"}, {"Warning", "warn"},
      {"Error", "error"}, {"Critical", "critical"}, {"None", "off"}};
  auto it = levels.find(manifest_level);
  return it == levels.end() ? "error" : it->second;
}

fs::path prepare_state_directory(const LocalManifest& manifest, bool clean) {
  const fs::path dir = manifest.state.directory;
  const fs::path marker = dir / marker_file;
  std::error_code ec;
  const bool exists = fs::exists(dir, ec);
  const bool ours = fs::exists(marker, ec);
  if (exists && !ours && !fs::is_empty(dir, ec)) {
    throw std::runtime_error("state directory " + dir.string() + " exists and is not slimfaas's (no " + marker_file +
                             "); choose another state.directory or empty it yourself");
  }
  if (clean && ours) {
    fs::remove_all(dir, ec);
    if (ec) throw std::runtime_error("cannot delete " + dir.string() + ": " + ec.message());
  } else if (ours) {
    json existing;
    try {
      std::ifstream in(marker);
      existing = json::parse(in);
    } catch (const std::exception&) {
      throw std::runtime_error(marker.string() + " is unreadable; start with --clean to reset the state");
    }
    if (existing.value("schemaVersion", 0) != marker_schema)
      throw std::runtime_error(marker.string() + " has an unsupported schema; start with --clean to reset the state");
    if (existing.value("nodes", 0) != manifest.cluster.nodes)
      throw std::runtime_error("the state in " + dir.string() + " belongs to a cluster of " +
                               std::to_string(existing.value("nodes", 0)) + " node(s), the manifest asks for " +
                               std::to_string(manifest.cluster.nodes) + "; start with --clean to reset it");
  }
  fs::create_directories(dir / "logs", ec);
  if (ec) throw std::runtime_error("cannot create " + (dir / "logs").string() + ": " + ec.message());
  if (!fs::exists(marker)) {
    std::ofstream out(marker);
    out << json{{"schemaVersion", marker_schema}, {"name", manifest.name}, {"nodes", manifest.cluster.nodes}}.dump(2)
        << "\n";
    if (!out) throw std::runtime_error("cannot write " + marker.string());
  }
  return dir;
}

int local_command(const std::vector<std::string>& args) {
  LocalArgs parsed;
  try {
    parsed = parse_args(args);
  } catch (const UsageError& e) {
    std::cerr << "slimfaas local: " << e.what() << "\n";
    usage(std::cerr);
    return 2;
  }
  if (parsed.help) {
    usage(std::cout);
    return 0;
  }
  return parsed.command == "validate" ? validate(parsed) : up(parsed);
}

}  // namespace slimfaas::app
