#pragma once
// One actor per function: owns admission (parallelism caps, FIFO waiting,
// replica choice), the sync timeout, and the function's live state. It
// decides; the HTTP layer moves the bytes.
#include <caf/all.hpp>
#include <memory>

#include "actors/admission.hpp"
#include "k8s/replica_backend.hpp"
#include "net/metrics.hpp"

namespace slimfaas::actors {

struct FunctionMetrics {
  explicit FunctionMetrics(net::metrics::Registry& registry);
  net::metrics::Family<net::metrics::Gauge>& in_flight;
  net::metrics::Family<net::metrics::Gauge>& waiting;
  net::metrics::Family<net::metrics::Gauge>& ready;
  net::metrics::Family<net::metrics::Counter>& rejected;
};

struct FunctionSetup {
  k8s::FunctionDefinition definition;
  std::size_t max_waiting = 1000;
  k8s::ReplicaBackend* backend = nullptr;
  FunctionMetrics* metrics = nullptr;
};

caf::actor spawn_function_actor(caf::actor_system& system, FunctionSetup setup);

}  // namespace slimfaas::actors
