#pragma once
// The node's settings: one table lists every setting with its flag, its
// environment names (SlimFaas's current `SlimFaas__*` form first, then the
// seed-era name) and its default. Flags win over the environment.
#include <cstdint>
#include <map>
#include <stdexcept>
#include <string>
#include <vector>

#include "net/server_options.hpp"

namespace slimfaas::app {

// A setting that is unknown or malformed; start-up stops (exit code 2).
struct ConfigError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct NodeConfig {
  net::ServerOptions server;
  std::string name_space = "default";
  std::string base_function_url = "http://{pod_ip}:{pod_port}";
  std::string base_function_pod_url = "http://{pod_ip}:{pod_port}";
  std::string base_slimdata_url = "http://{pod_name}.{service_name}.{namespace}.svc:3262";
  std::string orchestrator = "Kubernetes";
  std::string mock_kubernetes_functions;
  // Local mode with several nodes: the `local up` supervisor this node joins
  // (host:port) and the token it must present.
  std::string local_supervisor;
  std::string local_token;
  std::string hostname = "slimfaas-1";
  std::string slimdata_directory;
  bool allow_cold_start = false;
  // SlimData (Raft). Enabled when peers are given, or for a lone node with
  // allow_cold_start. `slimdata_peers` lists every voter, this node included,
  // in the same order on every node; node ids are positions from 1.
  std::vector<std::string> slimdata_peers;  // "host:port"
  int slimdata_node_id = 0;                 // 0: the only peer, or by matching hostname
  std::string slimdata_bind_address = "0.0.0.0";
  int slimdata_port = 3262;                 // used when there are no peers (a lone node)
  std::string slimdata_cluster_id = "slimfaas";
  std::string slimdata_secret;
  int slimdata_tick_ms = 50;
  int slimdata_peer_timeout_ms = 10000;
  int slimdata_election_ticks = 10;
  int slimdata_request_timeout_ms = 5000;
  bool slimdata_sync = true;
  int slimdata_snapshot_interval_entries = 10000;
  std::uint64_t slimdata_snapshot_log_bytes = 16u << 20;
  std::uint64_t slimdata_write_buffer_bytes = 16u << 20;
  // Async bodies over this many bytes are kept beside the Raft log on a
  // majority of nodes, the queue entry only names them (0: never).
  std::uint64_t async_side_body_bytes = 65536;
  // How much one function's async queue may hold (0: no bound); more calls
  // get 429. Every node keeps every queue in memory.
  std::uint64_t async_max_queue_items = 1'000'000;
  std::uint64_t async_max_queue_bytes = 512ull << 20;
  bool slimdata_enabled() const { return !slimdata_peers.empty() || allow_cold_start; }
  bool pod_scaled_up_by_default = false;
  int queues_delay_ms = 10;
  int replicas_sync_delay_ms = 3000;
  int scale_replicas_delay_ms = 1000;
  std::size_t max_waiting_per_function = 1000;
  unsigned actor_threads = 0;
  std::string log_level = "info";
  bool huge_page_code = true;  // see app/huge_page_code.hpp
};

using Environment = std::map<std::string, std::string>;

Environment current_environment();

// Reads flags (`--name value` or `--name=value`) over the environment.
// Throws ConfigError naming the setting and the reason.
NodeConfig load_config(const std::vector<std::string>& args, const Environment& env);

// "--help" text: every setting, its environment names and default.
std::string settings_help();

}  // namespace slimfaas::app
