#pragma once
// The vocabulary actors speak (CAF 0.17 atoms and message types). Types that
// carry callbacks only ever travel between actors of one node, so they are
// allowed as local-only ("unsafe") message types.
#include <caf/all.hpp>
#include <cstdint>
#include <string>
#include <vector>

#include "k8s/replica_backend.hpp"
#include "net/gateway.hpp"

namespace slimfaas::k8s {

// Replica lists cross nodes in local mode with several nodes.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Replica& x) {
  return f(caf::meta::type_name("slimfaas.replica"), x.name, x.host, x.port, x.ready);
}

}  // namespace slimfaas::k8s

namespace slimfaas::actors {

using acquire_atom = caf::atom_constant<caf::atom("acquire")>;
using release_atom = caf::atom_constant<caf::atom("release")>;
using cancel_atom = caf::atom_constant<caf::atom("cancel")>;
using expire_atom = caf::atom_constant<caf::atom("expire")>;
using replicas_atom = caf::atom_constant<caf::atom("replicas")>;
using wake_atom = caf::atom_constant<caf::atom("wake")>;
using status_atom = caf::atom_constant<caf::atom("status")>;
using inspect_atom = caf::atom_constant<caf::atom("inspect")>;
using register_atom = caf::atom_constant<caf::atom("register")>;
using api_atom = caf::atom_constant<caf::atom("api")>;
using slot_freed_atom = caf::atom_constant<caf::atom("slotfreed")>;
// Scaling: function actor -> scaler (demand), backend -> scaler (ready),
// scaler -> itself (tick, drained), scaler -> function actor (drain, undrain).
using demand_atom = caf::atom_constant<caf::atom("demand")>;
using ready_atom = caf::atom_constant<caf::atom("ready")>;
using tick_atom = caf::atom_constant<caf::atom("tick")>;
using drain_atom = caf::atom_constant<caf::atom("drain")>;
using undrain_atom = caf::atom_constant<caf::atom("undrain")>;
using drained_atom = caf::atom_constant<caf::atom("drained")>;
// scaler -> function actor: {idle milliseconds (-1: never called), callers held}.
using activity_atom = caf::atom_constant<caf::atom("activity")>;

struct AcquireRequest {
  std::uint64_t ticket = 0;
  net::AdmissionCallback reply;
};

struct ApiCall {
  net::ApiRequest request;
  net::ApiCallback reply;
};

using ReplicaList = std::vector<k8s::Replica>;


}  // namespace slimfaas::actors

CAF_ALLOW_UNSAFE_MESSAGE_TYPE(slimfaas::actors::AcquireRequest)
CAF_ALLOW_UNSAFE_MESSAGE_TYPE(slimfaas::actors::ApiCall)
