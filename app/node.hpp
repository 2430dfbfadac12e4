#pragma once
// Wires one node: the actor system, the replica backend, one actor per
// function, the inspector, the control API and the HTTP ingress.
#include <memory>

#include "app/config.hpp"

namespace slimfaas::app {

// Runs until SIGTERM or SIGINT, then drains. Returns the process exit code.
// Throws ConfigError for settings that only make sense together.
int run_node(const NodeConfig& config);

}  // namespace slimfaas::app
