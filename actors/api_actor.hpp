#pragma once
// Answers the node's control routes (/status-function*, /wake-function*,
// /metrics, /debug/*, /data/sets*) by asking the actors that own the facts.
// It never blocks: every question is a request whose answer (or timeout)
// completes the HTTP call.
#include <caf/all.hpp>
#include <chrono>
#include <string>

#include "actors/gateway.hpp"
#include "net/metrics.hpp"
#include "store/state_machine_commands.hpp"

namespace slimfaas::actors {

struct ApiSetup {
  const ActorGateway* gateway = nullptr;
  caf::actor inspector;
  const net::metrics::Registry* registry = nullptr;
  std::string node_name;
  // SlimData's node actor (actors/slimdata.hpp); null when SlimData is not
  // configured here, then /data/* answers 503 and /debug/raft 404.
  caf::actor slimdata;
  // Async bodies over this size are stored beside the log (0: never), and
  // how long one node may take to store a chunk of one.
  std::uint64_t async_side_body_bytes = 65536;
  std::chrono::milliseconds blob_timeout{5000};
  // How much one function's async queue may hold; more calls get 429.
  store::QueueLimits async_queue_limits;
  // Async calls answered 202, and refused (by reason), per function; null:
  // not counted.
  net::metrics::Family<net::metrics::Counter>* async_accepted = nullptr;
  net::metrics::Family<net::metrics::Counter>* async_refused = nullptr;
};

caf::actor spawn_api_actor(caf::actor_system& system, ApiSetup setup);

}  // namespace slimfaas::actors
