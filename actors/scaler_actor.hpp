#pragma once
// The scaler: one actor that owns the desired replica count of every
// function (contract §6) and tells the backend. It hears demand from the
// function actors (a call held at zero, a wake request), readiness from the
// backend, and reads each function's last activity from its admission board
// when a deadline comes; between inputs it sleeps on one timer set to the
// earliest instant a decision can change. The decisions themselves are
// ScalerCore's (actors/scaler_core.hpp).
//
// Scale-down drains: the replicas that will go stop receiving new calls, the
// calls they run finish (up to `drain_grace`), then the backend removes them.
#include <caf/all.hpp>
#include <chrono>
#include <functional>

#include "actors/gateway.hpp"
#include "actors/scaler_core.hpp"
#include "actors/schedule.hpp"
#include "k8s/replica_backend.hpp"

namespace slimfaas::actors {

struct ScalerSetup {
  std::vector<ScaledFunction> functions;
  const ActorGateway* gateway = nullptr;  // the function table (actors and boards)
  k8s::ReplicaBackend* backend = nullptr;
  bool pod_scaled_up_by_default_when_never_called = false;
  std::chrono::milliseconds drain_grace{30000};
  // Injectable for tests; the wall clock otherwise.
  std::function<WallClock::time_point()> now = [] { return WallClock::now(); };
};

caf::actor spawn_scaler_actor(caf::actor_system& system, ScalerSetup setup);

}  // namespace slimfaas::actors
