#pragma once
// Local mode with several nodes: the `slimfaas local up` process (the
// supervisor) owns the function processes and the scaler; the nodes are
// `slimfaas serve` processes that join it through CAF's middleman. This
// actor is what they join: it hands each node the function catalog and the
// scaler, and pushes every replica change to every node.
#include <caf/all.hpp>
#include <map>
#include <string>
#include <vector>

#include "actors/messages.hpp"
#include "k8s/replica_backend.hpp"

namespace slimfaas::actors {

using join_atom = caf::atom_constant<caf::atom("join")>;

struct CatalogFunction {
  std::string name;
  std::map<std::string, std::string> annotations;
  std::vector<k8s::Replica> replicas;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, CatalogFunction& x) {
  return f(caf::meta::type_name("slimfaas.catalog_function"), x.name, x.annotations, x.replicas);
}

struct LocalCatalog {
  std::vector<CatalogFunction> functions;
  caf::actor scaler;
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, LocalCatalog& x) {
  return f(caf::meta::type_name("slimfaas.local_catalog"), x.functions, x.scaler);
}

inline void register_local_supervisor_types(caf::actor_system_config& config) {
  config.add_message_type<k8s::Replica>("slimfaas.replica");
  config.add_message_type<std::vector<k8s::Replica>>("slimfaas.replicas");
  config.add_message_type<CatalogFunction>("slimfaas.catalog_function");
  config.add_message_type<std::vector<CatalogFunction>>("slimfaas.catalog_functions");
  config.add_message_type<LocalCatalog>("slimfaas.local_catalog");
}

struct LocalSupervisorSetup {
  std::vector<CatalogFunction> functions;  // replicas as the backend first reports them
  caf::actor scaler;
  std::string token;  // a node must present it to join
};

// Messages: (join_atom, token, caf::actor node_relay) -> LocalCatalog, then
// (replicas_atom, function, ReplicaList) to every relay on each change; the
// backend's listener sends (replicas_atom, function, ReplicaList) here.
caf::actor spawn_local_supervisor(caf::actor_system& system, LocalSupervisorSetup setup);

}  // namespace slimfaas::actors
