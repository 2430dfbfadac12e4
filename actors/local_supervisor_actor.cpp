#include "actors/local_supervisor_actor.hpp"

#include <spdlog/spdlog.h>

namespace slimfaas::actors {
namespace {

struct SupervisorState {
  static inline const char* name = "local-supervisor";
  LocalSupervisorSetup setup;
  std::map<std::string, std::vector<k8s::Replica>> replicas;
  std::vector<caf::actor> relays;
};

using Self = caf::stateful_actor<SupervisorState>*;

caf::behavior supervisor(Self self, LocalSupervisorSetup setup) {
  auto& s = self->state;
  for (const auto& f : setup.functions) s.replicas[f.name] = f.replicas;
  s.setup = std::move(setup);
  self->set_down_handler([=](caf::down_msg& down) {
    std::erase_if(self->state.relays, [&](const caf::actor& a) { return a.address() == down.source; });
  });
  return {
      [=](join_atom, const std::string& token, caf::actor& relay) -> caf::result<LocalCatalog> {
        auto& s = self->state;
        if (token != s.setup.token) {
          spdlog::warn("local supervisor: refused a node with a wrong token");
          return caf::make_error(caf::sec::request_receiver_down);
        }
        self->monitor(relay);
        s.relays.push_back(std::move(relay));
        LocalCatalog catalog;
        for (auto f : s.setup.functions) {
          f.replicas = s.replicas[f.name];
          catalog.functions.push_back(std::move(f));
        }
        catalog.scaler = s.setup.scaler;
        return catalog;
      },
      [=](replicas_atom, const std::string& function, ReplicaList& replicas) {
        auto& s = self->state;
        s.replicas[function] = replicas;
        for (const auto& relay : s.relays) self->send(relay, replicas_atom::value, function, replicas);
      },
  };
}

}  // namespace

caf::actor spawn_local_supervisor(caf::actor_system& system, LocalSupervisorSetup setup) {
  return system.spawn(supervisor, std::move(setup));
}

}  // namespace slimfaas::actors
