#include "app/config.hpp"

#include <algorithm>
#include <charconv>
#include <functional>
#include <set>
#include <sstream>

extern char** environ;

namespace slimfaas::app {
namespace {

using Apply = std::function<void(NodeConfig&, const std::string&)>;

struct Setting {
  std::string flag;                  // without the leading "--"
  std::vector<std::string> env;      // current form first, seed-era after
  std::string default_text;
  std::string help;
  Apply apply;
};

std::int64_t parse_int(const std::string& name, const std::string& value, std::int64_t min, std::int64_t max) {
  std::int64_t parsed = 0;
  auto [end, ec] = std::from_chars(value.data(), value.data() + value.size(), parsed);
  if (ec != std::errc{} || end != value.data() + value.size()) {
    throw ConfigError(name + ": '" + value + "' is not an integer");
  }
  if (parsed < min || parsed > max) {
    throw ConfigError(name + ": " + value + " is out of range [" + std::to_string(min) + ", " + std::to_string(max) + "]");
  }
  return parsed;
}

bool parse_bool(const std::string& name, std::string value) {
  std::transform(value.begin(), value.end(), value.begin(), [](unsigned char c) { return std::tolower(c); });
  if (value == "true" || value == "1" || value == "yes") return true;
  if (value == "false" || value == "0" || value == "no") return false;
  throw ConfigError(name + ": '" + value + "' is not true or false");
}

std::vector<std::uint16_t> parse_ports(const std::string& name, const std::string& value) {
  std::vector<std::uint16_t> ports;
  std::stringstream in(value);
  std::string item;
  while (std::getline(in, item, ',')) {
    item.erase(std::remove_if(item.begin(), item.end(), ::isspace), item.end());
    if (item.empty()) continue;
    ports.push_back(static_cast<std::uint16_t>(parse_int(name, item, 1, 65535)));
  }
  if (ports.empty()) throw ConfigError(name + ": no port given");
  return ports;
}

std::chrono::milliseconds seconds(const std::string& name, const std::string& value) {
  return std::chrono::milliseconds(parse_int(name, value, 1, 86400) * 1000);
}

const std::vector<Setting>& settings() {
  static const std::vector<Setting> table{
      {"ports", {"SlimFaas__Ports__0", "SLIMFAAS_PORTS"}, "5000",
       "HTTP ports, comma separated (SlimFaas__Ports__1, __2 ... add more)",
       [](NodeConfig& c, const std::string& v) { c.server.ports = parse_ports("ports", v); }},
      {"listen-address", {"SlimFaas__ListenAddress"}, "0.0.0.0", "address the HTTP ports bind to",
       [](NodeConfig& c, const std::string& v) { c.server.address = v; }},
      {"namespace", {"SlimFaas__Namespace", "NAMESPACE"}, "default", "Kubernetes namespace of the functions",
       [](NodeConfig& c, const std::string& v) { c.name_space = v; }},
      {"base-function-url", {"SlimFaas__BaseFunctionUrl", "BASE_FUNCTION_URL"}, "http://{pod_ip}:{pod_port}",
       "how a function is reached ({pod_ip}, {pod_port}, {function_name}, {namespace})",
       [](NodeConfig& c, const std::string& v) { c.base_function_url = v; }},
      {"base-function-pod-url", {"SlimFaas__BaseFunctionPodUrl", "BASE_FUNCTION_POD_URL"},
       "http://{pod_ip}:{pod_port}", "how one replica is reached (events)",
       [](NodeConfig& c, const std::string& v) { c.base_function_pod_url = v; }},
      {"base-slimdata-url", {"SlimFaas__BaseSlimDataUrl", "BASE_SLIMDATA_URL"},
       "http://{pod_name}.{service_name}.{namespace}.svc:3262", "how SlimData peers are reached",
       [](NodeConfig& c, const std::string& v) { c.base_slimdata_url = v; }},
      {"orchestrator", {"SlimFaas__Orchestrator", "SLIMFAAS_ORCHESTRATOR"}, "Kubernetes",
       "Kubernetes or Docker; MOCK_KUBERNETES_FUNCTIONS selects the static function list",
       [](NodeConfig& c, const std::string& v) {
         if (v != "Kubernetes" && v != "Docker" && v != "Local") {
           throw ConfigError("orchestrator: '" + v + "' is not Kubernetes, Docker or Local");
         }
         c.orchestrator = v;
       }},
      {"mock-kubernetes-functions", {"SlimFaas__MockKubernetesFunctions", "MOCK_KUBERNETES_FUNCTIONS"}, "",
       "JSON list of functions at fixed addresses (see docs/configuration.md)",
       [](NodeConfig& c, const std::string& v) { c.mock_kubernetes_functions = v; }},
      {"local-supervisor", {"SlimFaas__LocalSupervisor"}, "",
       "host:port of the `slimfaas local up` supervisor this node joins (set by local up)",
       [](NodeConfig& c, const std::string& v) {
         const auto colon = v.rfind(':');
         if (colon == std::string::npos || colon == 0) throw ConfigError("local-supervisor: '" + v + "' is not host:port");
         parse_int("local-supervisor", v.substr(colon + 1), 1, 65535);
         c.local_supervisor = v;
       }},
      {"local-token", {"SlimFaas__LocalToken"}, "", "token presented to the local supervisor (set by local up)",
       [](NodeConfig& c, const std::string& v) { c.local_token = v; }},
      {"hostname", {"SlimFaas__Hostname", "HOSTNAME"}, "slimfaas-1", "this node's name",
       [](NodeConfig& c, const std::string& v) { c.hostname = v; }},
      {"cors-allow-origin", {"SlimFaas__CorsAllowOrigin", "SLIMFAAS_CORS_ALLOW_ORIGIN"}, "*",
       "Access-Control-Allow-Origin sent to browsers",
       [](NodeConfig& c, const std::string& v) { c.server.cors_allow_origin = v; }},
      {"slimdata-directory", {"SlimData__Directory", "SLIMDATA_DIRECTORY"}, "", "SlimData state directory",
       [](NodeConfig& c, const std::string& v) { c.slimdata_directory = v; }},
      {"slimdata-allow-cold-start", {"SlimData__AllowColdStart", "SLIMDATA_ALLOW_COLD_START"}, "false",
       "let a lone node lead the SlimData cluster",
       [](NodeConfig& c, const std::string& v) { c.allow_cold_start = parse_bool("slimdata-allow-cold-start", v); }},
      {"slimdata-peers", {"SlimData__Peers"}, "",
       "SlimData voters as host:port, comma separated, this node included, same order on every node",
       [](NodeConfig& c, const std::string& v) {
         c.slimdata_peers.clear();
         std::size_t start = 0;
         while (start <= v.size() && !v.empty()) {
           auto end = v.find(',', start);
           std::string item = v.substr(start, end == std::string::npos ? std::string::npos : end - start);
           auto colon = item.rfind(':');
           if (item.empty() || colon == std::string::npos || colon == 0)
             throw ConfigError("slimdata-peers: '" + item + "' is not host:port");
           parse_int("slimdata-peers", item.substr(colon + 1), 1, 65535);
           c.slimdata_peers.push_back(item);
           if (end == std::string::npos) break;
           start = end + 1;
         }
       }},
      {"slimdata-node-id", {"SlimData__NodeId"}, "0",
       "this node's position in slimdata-peers, from 1 (0: the only peer)",
       [](NodeConfig& c, const std::string& v) { c.slimdata_node_id = static_cast<int>(parse_int("slimdata-node-id", v, 0, 1000)); }},
      {"slimdata-bind-address", {"SlimData__BindAddress"}, "0.0.0.0", "address the SlimData port binds to",
       [](NodeConfig& c, const std::string& v) { c.slimdata_bind_address = v; }},
      {"slimdata-port", {"SlimData__Port"}, "3262", "SlimData port of a lone node (with peers: this node's entry)",
       [](NodeConfig& c, const std::string& v) { c.slimdata_port = static_cast<int>(parse_int("slimdata-port", v, 1, 65535)); }},
      {"slimdata-cluster-id", {"SlimData__ClusterId"}, "slimfaas", "nodes of other clusters are refused",
       [](NodeConfig& c, const std::string& v) { c.slimdata_cluster_id = v; }},
      {"slimdata-secret", {"SlimData__Secret"}, "", "shared secret every SlimData peer must present",
       [](NodeConfig& c, const std::string& v) { c.slimdata_secret = v; }},
      {"slimdata-tick-ms", {"SlimData__TickMilliseconds"}, "50", "Raft tick (heartbeat period)",
       [](NodeConfig& c, const std::string& v) { c.slimdata_tick_ms = static_cast<int>(parse_int("slimdata-tick-ms", v, 1, 10000)); }},
      {"slimdata-peer-timeout-ms", {"SlimData__PeerTimeoutMilliseconds"}, "10000",
       "a connection between nodes that carried nothing this long is closed and dialed again (heartbeats every fifth "
       "of it)",
       [](NodeConfig& c, const std::string& v) {
         c.slimdata_peer_timeout_ms = static_cast<int>(parse_int("slimdata-peer-timeout-ms", v, 500, 3'600'000));
       }},
      {"slimdata-election-ticks", {"SlimData__ElectionTicks"}, "10", "election timeout in ticks (randomized up to twice)",
       [](NodeConfig& c, const std::string& v) { c.slimdata_election_ticks = static_cast<int>(parse_int("slimdata-election-ticks", v, 2, 1000)); }},
      {"slimdata-request-timeout-ms", {"SlimData__RequestTimeoutMilliseconds"}, "5000",
       "a proposal or read not done by then answers 503",
       [](NodeConfig& c, const std::string& v) {
         c.slimdata_request_timeout_ms = static_cast<int>(parse_int("slimdata-request-timeout-ms", v, 1, 600000));
       }},
      {"slimdata-snapshot-interval-entries", {"SlimData__SnapshotIntervalEntries"}, "10000",
       "applied entries (or --slimdata-snapshot-log-bytes of log) between two snapshots (log compaction)",
       [](NodeConfig& c, const std::string& v) {
         c.slimdata_snapshot_interval_entries =
             static_cast<int>(parse_int("slimdata-snapshot-interval-entries", v, 1, 100'000'000));
       }},
      {"slimdata-snapshot-log-bytes", {"SlimData__SnapshotLogBytes"}, "16777216",
       "this much log since the last snapshot makes the next one due however few its entries (and once the log "
       "outgrew the last snapshot); the log in between is held in memory",
       [](NodeConfig& c, const std::string& v) {
         c.slimdata_snapshot_log_bytes = static_cast<std::uint64_t>(
             parse_int("slimdata-snapshot-log-bytes", v, std::int64_t{64} << 10, std::int64_t{1} << 30));
       }},
      {"slimdata-write-buffer-bytes", {"SlimData__WriteBufferBytes"}, "16777216",
       "size of the Raft log's RocksDB memtable, filled anew after each flush",
       [](NodeConfig& c, const std::string& v) {
         c.slimdata_write_buffer_bytes = static_cast<std::uint64_t>(
             parse_int("slimdata-write-buffer-bytes", v, std::int64_t{64} << 10, std::int64_t{1} << 30));
       }},
      {"slimdata-sync", {"SlimData__Sync"}, "true", "fsync the Raft log before answering (false only for benchmarks)",
       [](NodeConfig& c, const std::string& v) { c.slimdata_sync = parse_bool("slimdata-sync", v); }},
      {"pod-scaled-up-by-default-when-infrastructure-has-never-called",
       {"SlimFaas__PodScaledUpByDefaultWhenInfrastructureHasNeverCalled",
        "POD_SCALED_UP_BY_DEFAULT_WHEN_INFRASTRUCTURE_HAS_NEVER_CALLED"},
       "false", "keep functions up until the first call after start",
       [](NodeConfig& c, const std::string& v) {
         c.pod_scaled_up_by_default = parse_bool("pod-scaled-up-by-default-when-infrastructure-has-never-called", v);
       }},
      {"queues-delay-ms", {"Workers__QueuesDelayMilliseconds", "SLIM_WORKER_DELAY_MILLISECONDS"}, "10",
       "accepted for compatibility, no effect: async delivery is event-driven",
       [](NodeConfig& c, const std::string& v) { c.queues_delay_ms = static_cast<int>(parse_int("queues-delay-ms", v, 1, 600000)); }},
      {"replicas-synchronization-delay-ms",
       {"Workers__ReplicasSynchronizationDelayMilliseconds", "REPLICAS_SYNCHRONISATION_WORKER_DELAY_MILLISECONDS"},
       "3000", "fallback resynchronisation of replicas with the orchestrator",
       [](NodeConfig& c, const std::string& v) {
         c.replicas_sync_delay_ms = static_cast<int>(parse_int("replicas-synchronization-delay-ms", v, 1, 600000));
       }},
      {"scale-replicas-delay-ms", {"Workers__ScaleReplicasDelayMilliseconds", "SCALE_REPLICAS_WORKER_DELAY_MILLISECONDS"},
       "1000", "period of scale-down checks",
       [](NodeConfig& c, const std::string& v) {
         c.scale_replicas_delay_ms = static_cast<int>(parse_int("scale-replicas-delay-ms", v, 1, 600000));
       }},
      {"io-threads", {"SlimFaas__IoThreads"}, "0", "HTTP I/O threads (0: one per usable CPU)",
       [](NodeConfig& c, const std::string& v) { c.server.io_threads = static_cast<unsigned>(parse_int("io-threads", v, 0, 256)); }},
      {"actor-threads", {"SlimFaas__ActorThreads"}, "0", "actor scheduler threads (0: one per usable CPU, at most 4)",
       [](NodeConfig& c, const std::string& v) { c.actor_threads = static_cast<unsigned>(parse_int("actor-threads", v, 0, 64)); }},
      {"max-request-header-bytes", {"SlimFaas__MaxRequestHeaderBytes"}, "16384", "larger request headers get 431",
       [](NodeConfig& c, const std::string& v) {
         c.server.limits.max_header_bytes = static_cast<std::size_t>(parse_int("max-request-header-bytes", v, 1024, 1 << 24));
       }},
      {"max-request-body-bytes", {"SlimFaas__MaxRequestBodyBytes"}, "104857600",
       "larger proxied request bodies get 413 (bodies are streamed, not buffered)",
       [](NodeConfig& c, const std::string& v) {
         c.server.limits.max_body_bytes = static_cast<std::uint64_t>(parse_int("max-request-body-bytes", v, 0, INT64_MAX));
       }},
      {"max-api-body-bytes", {"SlimFaas__MaxApiBodyBytes"}, "1048576", "larger bodies on control routes get 413",
       [](NodeConfig& c, const std::string& v) {
         c.server.limits.max_api_body_bytes = static_cast<std::uint64_t>(parse_int("max-api-body-bytes", v, 0, INT64_MAX));
       }},
      {"max-async-body-bytes", {"SlimFaas__MaxAsyncBodyBytes"}, "1048576",
       "larger /async-function bodies get 413",
       [](NodeConfig& c, const std::string& v) {
         c.server.limits.max_async_body_bytes = static_cast<std::uint64_t>(parse_int("max-async-body-bytes", v, 0, 1 << 30));
       }},
      {"async-side-body-bytes", {"SlimFaas__AsyncSideBodyBytes"}, "65536",
       "larger /async-function bodies are stored beside the Raft log on a majority of nodes, so they never hold up "
       "small calls' commits (0: every body goes into its log entry)",
       [](NodeConfig& c, const std::string& v) {
         c.async_side_body_bytes = static_cast<std::uint64_t>(parse_int("async-side-body-bytes", v, 0, 1 << 30));
       }},
      {"async-max-queue-items", {"SlimFaas__AsyncMaxQueueItems"}, "1000000",
       "calls one function's async queue may hold; more get 429 queue_full (0: no bound)",
       [](NodeConfig& c, const std::string& v) {
         c.async_max_queue_items = static_cast<std::uint64_t>(parse_int("async-max-queue-items", v, 0, 1'000'000'000));
       }},
      {"async-max-queue-bytes", {"SlimFaas__AsyncMaxQueueBytes"}, "536870912",
       "bytes one function's async queue may hold in memory (requests as queued; a body stored beside the log "
       "counts by its id); more get 429 queue_full (0: no bound)",
       [](NodeConfig& c, const std::string& v) {
         c.async_max_queue_bytes = static_cast<std::uint64_t>(parse_int("async-max-queue-bytes", v, 0, 1ll << 40));
       }},
      {"max-connections", {"SlimFaas__MaxConnections"}, "10000", "more client connections get 503 and are closed",
       [](NodeConfig& c, const std::string& v) {
         c.server.limits.max_connections = static_cast<std::size_t>(parse_int("max-connections", v, 1, 10'000'000));
       }},
      {"idle-timeout-seconds", {"SlimFaas__IdleTimeoutSeconds"}, "60", "keep-alive connections idle this long are closed",
       [](NodeConfig& c, const std::string& v) { c.server.limits.idle_timeout = seconds("idle-timeout-seconds", v); }},
      {"read-timeout-seconds", {"SlimFaas__ReadTimeoutSeconds"}, "30",
       "a client that sends no bytes of a started request for this long is dropped",
       [](NodeConfig& c, const std::string& v) { c.server.limits.read_timeout = seconds("read-timeout-seconds", v); }},
      {"shutdown-grace-seconds", {"SlimFaas__ShutdownGraceSeconds"}, "30",
       "on SIGTERM, time left to calls in flight before connections are closed",
       [](NodeConfig& c, const std::string& v) { c.server.limits.shutdown_grace = seconds("shutdown-grace-seconds", v); }},
      {"max-waiting-requests-per-function", {"SlimFaas__MaxWaitingRequestsPerFunction"}, "1000",
       "calls waiting for a slot beyond this get 429",
       [](NodeConfig& c, const std::string& v) {
         c.max_waiting_per_function = static_cast<std::size_t>(parse_int("max-waiting-requests-per-function", v, 0, 10'000'000));
       }},
      {"upstream-idle-connections", {"SlimFaas__UpstreamIdleConnectionsPerReplica"}, "64",
       "idle keep-alive connections kept per replica and I/O thread: at least this many, more when a function's caps let more calls run on a replica at once (0: none)",
       [](NodeConfig& c, const std::string& v) {
         c.server.limits.upstream_idle_per_replica = static_cast<std::size_t>(parse_int("upstream-idle-connections", v, 0, 100000));
       }},
      {"huge-page-code", {"SlimFaas__HugePageCode"}, "true",
       "move the executable's code onto transparent huge pages at start (false to profile with perf)",
       [](NodeConfig& c, const std::string& v) { c.huge_page_code = parse_bool("huge-page-code", v); }},
      {"log-level", {"SlimFaas__LogLevel"}, "info", "trace, debug, info, warn, error or off",
       [](NodeConfig& c, const std::string& v) {
         static const std::set<std::string> levels{"trace", "debug", "info", "warn", "error", "critical", "off"};
         if (!levels.count(v)) throw ConfigError("log-level: '" + v + "' is not one of trace, debug, info, warn, error, off");
         c.log_level = v;
       }},
  };
  return table;
}

bool is_ours(const std::string& name) {
  return name.rfind("SlimFaas__", 0) == 0 || name.rfind("SlimData__", 0) == 0 || name.rfind("Workers__", 0) == 0;
}

}  // namespace

Environment current_environment() {
  Environment env;
  for (char** e = environ; e && *e; ++e) {
    std::string entry(*e);
    auto eq = entry.find('=');
    if (eq != std::string::npos) env[entry.substr(0, eq)] = entry.substr(eq + 1);
  }
  return env;
}

NodeConfig load_config(const std::vector<std::string>& args, const Environment& env) {
  // Flags first, so that an unknown flag is reported before anything else.
  std::map<std::string, std::string> flags;
  for (std::size_t i = 0; i < args.size(); ++i) {
    const std::string& arg = args[i];
    if (arg.rfind("--", 0) != 0) throw ConfigError("unexpected argument '" + arg + "'");
    std::string name = arg.substr(2);
    std::string value;
    if (auto eq = name.find('='); eq != std::string::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= args.size()) throw ConfigError("--" + name + ": missing value");
      value = args[++i];
    }
    auto known = std::any_of(settings().begin(), settings().end(), [&](const Setting& s) { return s.flag == name; });
    if (!known) throw ConfigError("--" + name + ": unknown setting (see slimfaas serve --help)");
    flags[name] = value;
  }

  std::set<std::string> known_env;
  for (const auto& s : settings()) known_env.insert(s.env.begin(), s.env.end());
  for (const auto& [name, _] : env) {
    bool extra_port = name.rfind("SlimFaas__Ports__", 0) == 0;
    if (is_ours(name) && !known_env.count(name) && !extra_port) {
      throw ConfigError(name + ": unknown setting (see slimfaas serve --help)");
    }
  }

  NodeConfig config;
  for (const auto& s : settings()) {
    const std::string* value = nullptr;
    std::string source;
    if (auto it = flags.find(s.flag); it != flags.end()) {
      value = &it->second;
      source = "--" + s.flag;
    } else {
      for (const auto& name : s.env) {
        if (auto it = env.find(name); it != env.end()) {
          value = &it->second;
          source = name;
          break;
        }
      }
    }
    if (!value) continue;
    try {
      s.apply(config, *value);
    } catch (const ConfigError& e) {
      throw ConfigError(source + " (" + e.what() + ")");
    }
  }

  // SlimFaas__Ports__0, __1, ... form one list (the flag still wins).
  if (!flags.count("ports") && env.count("SlimFaas__Ports__0")) {
    std::vector<std::uint16_t> ports;
    for (int i = 0;; ++i) {
      auto it = env.find("SlimFaas__Ports__" + std::to_string(i));
      if (it == env.end()) break;
      auto more = parse_ports(it->first, it->second);
      ports.insert(ports.end(), more.begin(), more.end());
    }
    config.server.ports = ports;
  }
  return config;
}

std::string settings_help() {
  std::ostringstream out;
  out << "Settings (flag, then environment names; the first environment name wins over the next):\n";
  for (const auto& s : settings()) {
    out << "  --" << s.flag << "\n      ";
    for (std::size_t i = 0; i < s.env.size(); ++i) out << (i ? ", " : "") << s.env[i];
    out << "\n      " << s.help << " (default: " << (s.default_text.empty() ? "none" : s.default_text) << ")\n";
  }
  return out.str();
}

}  // namespace slimfaas::app
