#pragma once
// Answers the node's control routes (/status-function*, /wake-function*,
// /metrics, /debug/*) by asking the actors that own the facts.
#include <caf/all.hpp>
#include <string>

#include "actors/gateway.hpp"
#include "net/metrics.hpp"

namespace slimfaas::actors {

struct ApiSetup {
  const ActorGateway* gateway = nullptr;
  caf::actor inspector;
  const net::metrics::Registry* registry = nullptr;
  std::string node_name;
};

caf::actor spawn_api_actor(caf::actor_system& system, ApiSetup setup);

}  // namespace slimfaas::actors
