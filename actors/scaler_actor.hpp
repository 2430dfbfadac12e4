#pragma once
// The scaler: one actor that owns the desired replica count of every
// function (contract §6) and tells the backend. The function actors that
// serve a function register with it (one per node: local actors, or actors
// of other nodes through the middleman). It hears demand from them (a call
// held at zero, a wake request) and readiness; before each decision it asks
// every registered function actor for its last activity and held callers
// (calls on the fast path only stamp the board, so the call path sends
// nothing); between inputs it sleeps on one timer set to the earliest
// instant a decision can change. The decisions themselves are ScalerCore's
// (actors/scaler_core.hpp).
//
// Scale-down drains: every node's function actor stops routing new calls to
// the replicas that will go and answers once its calls on them are done (up
// to `drain_grace`); then the backend removes them.
#include <caf/all.hpp>
#include <chrono>
#include <functional>

#include "actors/scaler_core.hpp"
#include "actors/schedule.hpp"
#include "k8s/replica_backend.hpp"

namespace slimfaas::actors {

struct ScalerSetup {
  std::vector<ScaledFunction> functions;
  k8s::ReplicaBackend* backend = nullptr;
  bool pod_scaled_up_by_default_when_never_called = false;
  std::chrono::milliseconds drain_grace{30000};
  // Injectable for tests; the wall clock otherwise.
  std::function<WallClock::time_point()> now = [] { return WallClock::now(); };
};

caf::actor spawn_scaler_actor(caf::actor_system& system, ScalerSetup setup);

}  // namespace slimfaas::actors
