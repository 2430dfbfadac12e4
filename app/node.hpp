#pragma once
// Wires one node: the actor system, the replica backend, one actor per
// function, the inspector, the control API and the HTTP ingress.
#include <functional>
#include <memory>

#include "app/config.hpp"
#include "k8s/replica_backend.hpp"

namespace slimfaas::app {

// Runs until SIGTERM or SIGINT, then drains. Returns the process exit code.
// Throws ConfigError for settings that only make sense together.
int run_node(const NodeConfig& config);

// The same with a backend made by the caller (local mode: the process
// backend). When the backend can scale, a scaler actor drives it.
// `on_serving` runs once the ingress listens.
struct NodeHooks {
  std::function<void()> on_serving;
  // Every replica list the backend reports (from the backend's thread).
  std::function<void(const std::string&, const std::vector<k8s::Replica>&)> on_replicas;
};
int run_node(const NodeConfig& config, std::unique_ptr<k8s::ReplicaBackend> backend, NodeHooks hooks = {});

}  // namespace slimfaas::app
