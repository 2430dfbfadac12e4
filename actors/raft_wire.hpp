#pragma once
// How SlimData's Raft traffic crosses nodes through CAF's middleman: inspect
// overloads for the store's plain value types (CAF serializes them with its
// binary serializer) and the registration every node's actor system needs
// before it publishes or connects.
#include <caf/all.hpp>
#include <string>
#include <type_traits>
#include <vector>

#include "actors/slimdata.hpp"
#include "store/raft_core.hpp"

namespace slimfaas::store {

// On the wire exactly as the std::string it replaced (a length, then the
// bytes), written straight from the shared buffer and read into a new one.
template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SharedBytes& x) {
  if constexpr (std::is_base_of_v<caf::serializer, Inspector>) {
    std::size_t size = x.size();
    return caf::error::eval([&] { return f.begin_sequence(size); },
                            [&] { return size > 0 ? f.apply_raw(size, const_cast<char*>(x.data())) : caf::error{}; },
                            [&] { return f.end_sequence(); });
  } else if constexpr (std::is_base_of_v<caf::deserializer, Inspector>) {
    std::string bytes;
    auto err = f(bytes);
    if (!err) x = SharedBytes(std::move(bytes));
    return err;
  } else {  // CAF's other inspectors (to_string): a copy does
    std::string bytes = x.str();
    return f(bytes);
  }
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Entry& x) {
  return f(caf::meta::type_name("slimfaas.raft.entry"), x.term, x.index, x.kind, x.data);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, SnapshotMeta& x) {
  return f(caf::meta::type_name("slimfaas.raft.snapshot_meta"), x.index, x.term, x.voters);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Snapshot& x) {
  return f(caf::meta::type_name("slimfaas.raft.snapshot"), x.meta, x.data);
}

template <class Inspector>
typename Inspector::result_type inspect(Inspector& f, Message& x) {
  return f(caf::meta::type_name("slimfaas.raft.message"), x.type, x.from, x.to, x.term, x.log_term, x.index,
           x.entries, x.commit, x.reject, x.reject_hint, x.snapshot, x.context);
}

}  // namespace slimfaas::store

namespace slimfaas::actors {

// Raft messages between node actors: one CAF message per peer per Ready.
using raft_atom = caf::atom_constant<caf::atom("raft")>;
// First message on every connection: cluster id, shared secret, node id
// and the SlimData protocol the node speaks.
using hello_atom = caf::atom_constant<caf::atom("hello")>;

// What a node's Raft traffic and log entries mean: the Raft messages above
// and the state machine's commands and results (store/state_machine_commands).
// Every replica must apply every entry alike, and a node that does not know
// a command answers an error without changing its state: nodes of two
// protocols in one cluster would drift apart silently. So a node refuses the
// hello of a peer that speaks another protocol (or says none: the versions
// before 2), and a cluster is upgraded one node at a time, the majority's
// protocol going on. Bump it with any change an older node would apply
// differently (a new opcode, a changed encoding).
//   2: queue pushes bounded by QueueLimits (opcode 13).
//   3: a taken item given back without counting a try (QueueRelease, 14).
//   4: snapshots travel in chunks (snapshot_chunk_atom, actors/snapshot_sender.hpp).
constexpr std::uint32_t slimdata_protocol = 4;

using RaftMessages = std::vector<store::Message>;

// Registers the types above (and SlimDataReply) with a node's actor system.
inline void register_slimdata_types(caf::actor_system_config& config) {
  config.add_message_type<store::Message>("slimfaas.raft.message");
  config.add_message_type<RaftMessages>("slimfaas.raft.messages");
  config.add_message_type<SlimDataReply>("slimfaas.slimdata_reply");
}

}  // namespace slimfaas::actors
