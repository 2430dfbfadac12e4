#pragma once
// One actor per function: owns admission (caps, replica set, the FIFO of
// waiting callers, the sync deadline, wake-ups) and the function's live
// state. It decides; the HTTP layer moves the bytes.
#include <caf/all.hpp>
#include <memory>

#include "actors/admission.hpp"
#include "k8s/replica_backend.hpp"
#include "net/gateway.hpp"

namespace slimfaas::actors {

struct FunctionSetup {
  k8s::FunctionDefinition definition;
  std::size_t max_waiting = 1000;
  std::shared_ptr<AdmissionBoard> board;
  // Hears demand (a call held with no ready replica, a wake) and readiness;
  // null when the backend cannot scale (static replicas).
  caf::actor scaler;
};

// What the gateway needs to reach a function.
struct FunctionHandle {
  std::string name;
  caf::actor actor;
  std::shared_ptr<AdmissionBoard> board;
};

std::shared_ptr<AdmissionBoard> make_board(const k8s::FunctionDefinition& definition);

caf::actor spawn_function_actor(caf::actor_system& system, FunctionSetup setup);

// A granted admission for `replica`; the returned Admission's slot gives
// the replica back when dropped.
net::Admission grant_admission(const FunctionHandle& function, std::shared_ptr<ReplicaLoad> replica,
                               Clock::time_point deadline);

}  // namespace slimfaas::actors
