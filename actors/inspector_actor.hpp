#pragma once
// Knows every actor of the node and answers /debug/actors by asking each one
// for its own summary (actors report their mailbox and state themselves).
#include <caf/all.hpp>
#include <string>

namespace slimfaas::actors {

caf::actor spawn_inspector(caf::actor_system& system, const std::string& node_name);

// Registers `actor` under a kind ("function", "queue", "scaler", "raft", ...)
// and a name. The actor must answer (inspect_atom) with a JSON string
// {"mailbox": n, "state": {...}}. Unregistered when it terminates.
void register_actor(const caf::actor& inspector, const std::string& kind, const std::string& name,
                    const caf::actor& actor);

}  // namespace slimfaas::actors
