#include "app/node.hpp"

#include <csignal>
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>

#include "actors/api_actor.hpp"
#include "actors/async_queue_actor.hpp"
#include "actors/function_actor.hpp"
#include "actors/gateway.hpp"
#include "actors/inspector_actor.hpp"
#include "actors/local_supervisor_actor.hpp"
#include "app/actor_system.hpp"
#include "net/cpu_budget.hpp"
#include "app/stop_signals.hpp"
#include "app/supervised_backend.hpp"
#include "actors/messages.hpp"
#include "actors/raft_node_actor.hpp"
#include "actors/raft_wire.hpp"
#include "actors/scaler_actor.hpp"
#include "k8s/static_backend.hpp"
#include "net/http_server.hpp"

namespace slimfaas::app {
namespace {

std::unique_ptr<k8s::ReplicaBackend> make_backend(const NodeConfig& config) {
  if (!config.mock_kubernetes_functions.empty()) {
    try {
      return std::make_unique<k8s::StaticBackend>(config.mock_kubernetes_functions, config.base_function_url,
                                                  config.name_space);
    } catch (const std::invalid_argument& e) {
      throw ConfigError(std::string("MOCK_KUBERNETES_FUNCTIONS: ") + e.what());
    }
  }
  throw ConfigError("orchestrator " + config.orchestrator +
                    ": this build manages functions from MOCK_KUBERNETES_FUNCTIONS (static addresses) only; "
                    "set it (see docs/configuration.md)");
}


// Function gauges are read from the admission boards when scraped, so the
// call path never touches them.
void register_function_gauges(net::metrics::Registry& registry, const actors::ActorGateway& gateway) {
  auto& in_flight = registry.gauge("slimfaas_function_in_flight_requests",
                                   "Synchronous calls currently running, by function.", {"function"});
  auto& waiting = registry.gauge("slimfaas_function_waiting_requests",
                                 "Synchronous calls waiting for a slot or a ready replica, by function.", {"function"});
  auto& ready = registry.gauge("slimfaas_function_ready_replicas", "Ready replicas, by function.", {"function"});
  registry.on_collect([&, gw = &gateway] {
    for (const auto& [name, handle] : *gw->functions()) {
      in_flight.with({name}).set(handle.board->in_flight());
      waiting.with({name}).set(handle.board->waiters());
      ready.with({name}).set(handle.board->ready_replicas());
    }
  });
}

actors::RaftNodeSetup slimdata_setup(const NodeConfig& config, std::uint16_t& port) {
  actors::RaftNodeSetup setup;
  const auto& peers = config.slimdata_peers;
  int id = config.slimdata_node_id;
  if (id == 0) {
    if (peers.size() > 1) throw ConfigError("slimdata-node-id: required with several slimdata-peers");
    id = 1;
  }
  if (!peers.empty() && id > static_cast<int>(peers.size()))
    throw ConfigError("slimdata-node-id: " + std::to_string(id) + " is past the " + std::to_string(peers.size()) +
                      " slimdata-peers");
  port = static_cast<std::uint16_t>(config.slimdata_port);
  for (std::size_t i = 0; i < peers.size(); ++i) {
    const auto colon = peers[i].rfind(':');
    actors::RaftPeerAddress address{peers[i].substr(0, colon),
                                    static_cast<std::uint16_t>(std::stoi(peers[i].substr(colon + 1)))};
    if (static_cast<int>(i) + 1 == id) port = address.port;
    else setup.peers.emplace(i + 1, std::move(address));
  }
  if (config.slimdata_directory.empty())
    throw ConfigError("slimdata-directory: SlimData needs a directory for its log (SLIMDATA_DIRECTORY)");
  setup.id = static_cast<store::NodeId>(id);
  setup.directory = config.slimdata_directory;
  setup.cluster_id = config.slimdata_cluster_id;
  setup.secret = config.slimdata_secret;
  setup.tick = std::chrono::milliseconds(config.slimdata_tick_ms);
  setup.election_ticks = config.slimdata_election_ticks;
  setup.request_timeout = std::chrono::milliseconds(config.slimdata_request_timeout_ms);
  setup.allow_cold_start = config.allow_cold_start;
  setup.sync = config.slimdata_sync;
  setup.snapshot_interval_entries = static_cast<std::size_t>(config.slimdata_snapshot_interval_entries);
  setup.snapshot_log_bytes = static_cast<std::size_t>(config.slimdata_snapshot_log_bytes);
  setup.write_buffer_bytes = static_cast<std::size_t>(config.slimdata_write_buffer_bytes);
  return setup;
}


}  // namespace

int run_node(const NodeConfig& config) {
  // A node of a local cluster gets its backend once its actor system runs.
  return run_node(config, config.local_supervisor.empty() ? make_backend(config) : nullptr);
}

int run_node(const NodeConfig& config, std::unique_ptr<k8s::ReplicaBackend> backend, NodeHooks hooks) {
  // Before any thread starts, so that every thread inherits the mask.
  block_stop_signals();

  // Thread pools are sized on the CPUs this process may use (affinity and
  // cgroup quota), not the machine's count.
  const unsigned cpus = net::usable_cpus();
  const unsigned actor_threads = config.actor_threads ? config.actor_threads : std::min(cpus, 4u);
  // A local cluster's processes share one machine: one that dies closes its
  // connections at once, and the supervisor's link, once closed, is not
  // made again; so no peer timeout there (a node paused in a debugger
  // would otherwise lose its supervisor for good).
  const std::chrono::milliseconds peer_timeout(config.local_supervisor.empty() ? config.slimdata_peer_timeout_ms : 0);
  ActorSystemConfig actor_config(actor_threads, peer_timeout);
  caf::actor_system system(actor_config);
  name_middleman_thread(system);

  net::metrics::Registry registry;
  actors::ActorGateway gateway;
  auto inspector = actors::spawn_inspector(system, config.hostname);

  caf::actor slimdata;
  if (!config.slimdata_enabled() && !config.slimdata_directory.empty()) {
    spdlog::warn("SlimData is off: slimdata-directory is set but there are no slimdata-peers and cold start is not "
                 "allowed (SLIMDATA_ALLOW_COLD_START); /data, async calls and /debug/raft will answer that it is "
                 "not configured");
  }
  if (config.slimdata_enabled()) {
    std::uint16_t port = 0;
    auto setup = slimdata_setup(config, port);
    const auto id = setup.id;
    try {
      slimdata = actors::spawn_raft_node(system, std::move(setup));
    } catch (const std::exception& e) {
      throw ConfigError(std::string("SlimData: ") + e.what());
    }
    auto published = system.middleman().publish(slimdata, port, config.slimdata_bind_address.c_str(), true);
    if (!published) {
      spdlog::critical("SlimData: cannot listen on {}:{}: {}", config.slimdata_bind_address, port,
                       system.render(published.error()));
      caf::anon_send_exit(slimdata, caf::exit_reason::user_shutdown);
      caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
      return 1;
    }
    actors::register_actor(inspector, "raft", "slimdata-" + std::to_string(id), slimdata);
    spdlog::info("SlimData node {} listening on {}:{} ({} peer(s))", id, config.slimdata_bind_address, *published,
                 config.slimdata_peers.size() > 0 ? config.slimdata_peers.size() - 1 : 0);
  }

  caf::actor scaler;
  if (!backend) {
    const auto colon = config.local_supervisor.rfind(':');
    try {
      auto supervised = std::make_unique<SupervisedBackend>(
          system, config.local_supervisor.substr(0, colon),
          static_cast<std::uint16_t>(std::stoi(config.local_supervisor.substr(colon + 1))), config.local_token,
          std::chrono::seconds(30));
      scaler = supervised->scaler();
      backend = std::move(supervised);
    } catch (const std::exception& e) {
      spdlog::critical("{}", e.what());
      caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
      if (slimdata) caf::anon_send_exit(slimdata, caf::exit_reason::user_shutdown);
      return 1;
    }
  }
  auto definitions = backend->functions();
  if (backend->scalable()) {
    actors::ScalerSetup setup;
    for (const auto& d : definitions) setup.functions.push_back({d.name, d.config, d.config.replicas_min});
    setup.backend = backend.get();
    setup.pod_scaled_up_by_default_when_never_called = config.pod_scaled_up_by_default;
    setup.drain_grace = config.server.limits.shutdown_grace;
    scaler = actors::spawn_scaler_actor(system, std::move(setup));
    actors::register_actor(inspector, "scaler", "scaler", scaler);
  }
  auto table = std::make_shared<actors::FunctionTable>();
  for (auto& definition : definitions) {
    auto name = definition.name;
    auto board = actors::make_board(definition);
    auto actor = actors::spawn_function_actor(
        system,
        actors::FunctionSetup{std::move(definition), config.max_waiting_per_function, board, scaler});
    actors::register_actor(inspector, "function", name, actor);
    if (scaler) caf::anon_send(scaler, actors::register_atom::value, name, actor);
    table->emplace(name, actors::FunctionHandle{name, actor, board});
  }
  gateway.set_functions(table);
  register_function_gauges(registry, gateway);
  // Async calls (they live in SlimData): one queue actor per function,
  // delivering while this node leads.
  actors::AsyncQueues async_queues;
  if (slimdata) {
    actors::AsyncDeliveryOptions delivery;
    delivery.blob_timeout = std::chrono::milliseconds(config.slimdata_request_timeout_ms);
    delivery.idle_connections_per_replica = config.server.limits.upstream_idle_per_replica;
    delivery.idle_connection_timeout = config.server.limits.upstream_idle_timeout;
    async_queues = actors::start_async_queues(system, *table, backend->functions(), slimdata, registry, delivery,
                                              inspector);
  }
  // Replica changes (a process ready, crashed, stopped) reach the function's
  // actor at once; it updates its board and tells the scaler.
  backend->set_listener([table, on_replicas = hooks.on_replicas](const std::string& function,
                                                                std::vector<k8s::Replica> replicas) {
    if (on_replicas) on_replicas(function, replicas);
    if (auto it = table->find(function); it != table->end())
      caf::anon_send(it->second.actor, actors::replicas_atom::value, actors::ReplicaList(std::move(replicas)));
  });

  auto api = actors::spawn_api_actor(
      system, actors::ApiSetup{&gateway, inspector, &registry, config.hostname, slimdata, config.async_side_body_bytes,
                               std::chrono::milliseconds(config.slimdata_request_timeout_ms),
                               store::QueueLimits{config.async_max_queue_items, config.async_max_queue_bytes},
                               &registry.counter("slimfaas_async_accepted_total",
                                                 "Async calls answered 202 (committed on a majority), by function.",
                                                 {"function"}),
                               &registry.counter("slimfaas_async_refused_total",
                                                 "Async calls not queued, by function and reason (the error code: "
                                                 "queue_full, no_quorum, body_not_stored, ...).",
                                                 {"function", "reason"})});
  actors::register_actor(inspector, "api", "api", api);
  gateway.set_api(api);

  net::HttpServer server(config.server, gateway, registry);
  spdlog::info("{} usable CPU(s): {} actor thread(s), {} HTTP I/O thread(s)", cpus, actor_threads, server.io_threads());
  try {
    server.start();
  } catch (const std::system_error& e) {
    spdlog::critical("{}: {}", e.what(), e.code().message());
    caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
    caf::anon_send_exit(api, caf::exit_reason::user_shutdown);
    for (auto& [_, handle] : *table) caf::anon_send_exit(handle.actor, caf::exit_reason::user_shutdown);
    if (scaler) caf::anon_send_exit(scaler, caf::exit_reason::user_shutdown);
    async_queues.stop();
    if (slimdata) caf::anon_send_exit(slimdata, caf::exit_reason::user_shutdown);
    return 1;
  }
  std::string ports;
  for (auto p : config.server.ports) ports += (ports.empty() ? "" : ",") + std::to_string(p);
  spdlog::info("node {} serving {} function(s) from the {} backend on {}:{}", config.hostname, table->size(),
               backend->kind(), config.server.address, ports);
  if (hooks.on_serving) hooks.on_serving();

  int signal = wait_for_stop_signal();
  spdlog::info("received {}, draining (grace {} s)", signal == SIGTERM ? "SIGTERM" : "SIGINT",
               std::chrono::duration_cast<std::chrono::seconds>(config.server.limits.shutdown_grace).count());
  server.shutdown();
  gateway.close();
  // No decision may start or stop a replica while the backend stops them all.
  if (scaler) caf::anon_send_exit(scaler, caf::exit_reason::user_shutdown);
  async_queues.stop();
  backend->stop();
  if (slimdata) caf::anon_send_exit(slimdata, caf::exit_reason::user_shutdown);
  for (auto& [_, handle] : *table) caf::anon_send_exit(handle.actor, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(api, caf::exit_reason::user_shutdown);
  caf::anon_send_exit(inspector, caf::exit_reason::user_shutdown);
  spdlog::info("stopped");
  return 0;
}

}  // namespace slimfaas::app
