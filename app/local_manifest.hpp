#pragma once
// The local-mode manifest (`slimfaas.local.yaml`, contract §9): its typed
// model, and the loader behind `slimfaas local validate` / `local up`.
//
// Loading is pure logic (it reads the given files and checks that working
// directories exist; it starts nothing):
//   1. each manifest is parsed with yaml-cpp into a tree that remembers, for
//      every key and value, the file, line and column it came from;
//   2. the trees are merged left to right: mappings merge recursively,
//      scalars and sequences are replaced, an explicit null removes the key;
//   3. `${VAR}` / `${VAR:-default}` / `$$` are interpolated in every string
//      scalar (process environment first, then the --env-file values);
//   4. the merged tree is typed and validated.
// Every problem found on the way is reported, with the file and line that
// supplied the offending value; loading never stops at the first one.
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "k8s/process_backend.hpp"
#include "k8s/function_config.hpp"
#include "k8s/static_backend.hpp"

namespace slimfaas::app {

inline constexpr const char* default_manifest_file = "slimfaas.local.yaml";

struct ManifestProblem {
  std::string file;   // as given on the command line; empty when no file applies
  int line = 0;       // 1-based; 0 when not applicable
  int column = 0;     // 1-based; 0 when not applicable
  std::string field;  // dotted path, e.g. "functions.fibonacci1.health.periodSeconds"
  std::string message;
};

// "file:line:col: field: message" (the parts that do not apply are left out).
std::string to_string(const ManifestProblem& problem);

enum class StateMode { Persistent, Ephemeral };
const char* to_string(StateMode mode);

struct ClusterSettings {
  int nodes = 1;                         // 1..9
  int entrypoint_port = 30020;           // the stable entry spreading over nodes
  int node_http_port_base = 30021;       // node i listens on base + i
  int raft_port_base = 3262;             // node i's Raft port is base + i
  std::string node_log_level = "Error";  // Trace|Debug|Information|Warning|Error|Critical|None

  int node_http_port(int node) const { return node_http_port_base + node; }
  int raft_port(int node) const { return raft_port_base + node; }
};

struct PortRange {
  int from = 5000;
  int to = 5999;  // inclusive
  bool contains(int port) const { return port >= from && port <= to; }
};

struct StateSettings {
  StateMode mode = StateMode::Persistent;
  std::filesystem::path directory;  // absolute; default <base>/.slimfaas/<name>
};

// The manifest's `health` section is what the process backend probes.
using HealthCheck = k8s::ProcessHealth;

struct LocalFunction {
  std::string name;
  // Arguments, run without a shell; "{port}" and "{replica}" are left for
  // the spawner to substitute per replica.
  std::vector<std::string> command;
  std::filesystem::path working_directory;  // absolute; default: the base directory
  k8s::Annotations annotations;             // exactly the Kubernetes annotations
  std::map<std::string, std::string> environment;
  HealthCheck health;
  std::optional<std::string> debug_url;         // route to an already-running process
  std::optional<k8s::Endpoint> debug_endpoint;  // parsed debug_url
  bool managed = false;                         // SlimFaas/Function is "true"
  k8s::FunctionConfig config;                   // the parsed annotations (no problems when loading succeeded)
};

struct LocalManifest {
  int schema_version = 1;
  std::string name;
  ClusterSettings cluster;
  PortRange process_ports;
  StateSettings state;
  std::vector<LocalFunction> functions;      // in the merged document's order
  std::filesystem::path base_directory;      // absolute directory of the first manifest file
  std::vector<std::filesystem::path> files;  // the manifests, in merge order

  const LocalFunction* find_function(std::string_view name) const;
};

// Either a manifest (problems empty) or every problem found (no manifest).
struct ManifestResult {
  std::optional<LocalManifest> manifest;
  std::vector<ManifestProblem> problems;
  bool ok() const { return manifest.has_value(); }
};

// Loads, merges (left to right), interpolates and validates. `env_files` are
// dotenv files, later ones overriding earlier ones; `process_env` (e.g.
// current_environment() from app/config.hpp) wins over all of them.
// Problems are ordered by file (manifests, then env files), line and column.
ManifestResult load_manifests(const std::vector<std::filesystem::path>& files,
                              const std::vector<std::filesystem::path>& env_files,
                              const std::map<std::string, std::string>& process_env);

// One dotenv file's text: `KEY=value`, `export KEY=value`, `#` comments,
// blank lines, 'single' (literal) or "double" (\n \t \" \\ escapes) quoted
// values, unquoted values ending at ` #`. Multi-line values are not
// supported. Malformed lines are appended to `problems` (file = `file_name`).
std::map<std::string, std::string> parse_dotenv(std::string_view text, const std::string& file_name,
                                                std::vector<ManifestProblem>& problems);

}  // namespace slimfaas::app
