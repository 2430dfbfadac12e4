#pragma once
// SlimData as the rest of the node sees it: one Raft node actor per process
// (actors/raft_node_actor.hpp) that any local actor asks with a request:
//
//   self->request(slimdata, timeout, propose_atom::value, std::string command)
//       .then([](const SlimDataReply& r) { ... });   // command: store::commands::*
//   self->request(slimdata, timeout, read_atom::value, std::string query)
//       .then([](const SlimDataReply& r) { ... });   // query: store::queries::*
//   self->request(slimdata, timeout, peek_atom::value, std::string query)
//       .then([](const SlimDataReply& r) { ... });   // this node's applied
//       // state at once: no quorum round, not linearizable; for hints whose
//       // follow-up is itself a proposal (the leader's queue sizing a take)
//   self->request(slimdata, timeout, status_atom::value)
//       .then([](const std::string& json) { ... });  // /debug/raft
//   self->send(slimdata, subscribe_atom::value, self);  // local actors only
//       // then: (leader_atom, bool this_node_leads, std::uint64_t term) at once
//       // and on every change, and (applied_atom, std::uint64_t last_applied)
//       // after each batch of entries applied on this node: a commit wakes
//       // whoever delivers what it added (the async queues) at once.
//
// A proposal is answered once its entry is committed and applied on this
// node (on a follower: forwarded to the leader, answered when the leader
// applied it). A read is linearizable (ReadIndex) from any node. Neither
// hangs: with no leader or no quorum the reply says so within the node's
// request timeout (SlimData__RequestTimeoutMilliseconds).
#include <caf/all.hpp>
#include <cstdint>
#include <string>

#include "actors/messages.hpp"

namespace slimfaas::actors {

using propose_atom = caf::atom_constant<caf::atom("propose")>;
using read_atom = caf::atom_constant<caf::atom("read")>;
using peek_atom = caf::atom_constant<caf::atom("peek")>;
using subscribe_atom = caf::atom_constant<caf::atom("subscribe")>;
using leader_atom = caf::atom_constant<caf::atom("leader")>;
using applied_atom = caf::atom_constant<caf::atom("applied")>;

// Local actors ask the local node without a CAF request timer: the node
// answers every proposal and read within its own request timeout
// (SlimData__RequestTimeoutMilliseconds, checked on its tick), and a request
// to a node actor that is gone fails at once. A timer per request would only
// duplicate that, at the price of two trips through CAF's clock thread per
// request (measurable on the async hot path).
inline const caf::duration ask_local_node = caf::infinite;

struct SlimDataReply {
  enum class Status : std::uint8_t {
    ok = 0,
    no_quorum = 1,    // no leader known, or the leader could not commit/confirm in time (HTTP 503)
    too_large = 2,    // the command exceeds SlimData's entry limit (HTTP 413)
    overloaded = 3,   // too many proposals waiting (HTTP 429)
    failed = 4,       // anything else (HTTP 500); `detail` says what
  };
  Status status = Status::ok;
  std::string value;   // the state machine's encoded result (store::results::*) when ok
  std::string detail;  // for people, when not ok

  bool ok() const { return status == Status::ok; }
};

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SlimDataReply& x) {
  return f(caf::meta::type_name("slimfaas.slimdata_reply"), x.status, x.value, x.detail);
}

}  // namespace slimfaas::actors
