#pragma once
// A leader's side of a snapshot sent in chunks (store/snapshot_assembly.hpp
// says why): a detached actor reads the snapshot file a chunk at a time and
// sends each to the follower's node actor, the next once that one is
// answered, and quits at the end or at the first failure.
//
//   request(follower node, t, snapshot_chunk_atom, header, offset, total, chunk) -> bool (taken)
//
// Whoever spawns it watches it end (the leader's node: snapshot_sent_atom).
#include <caf/all.hpp>

#include <chrono>
#include <cstddef>
#include <filesystem>
#include <memory>
#include <string>

#include "store/raft_core.hpp"  // Message

namespace slimfaas::actors {

using snapshot_chunk_atom = caf::atom_constant<caf::atom("snapchunk")>;
using snapshot_sent_atom = caf::atom_constant<caf::atom("snapsent")>;

// 1 MiB: large next to a chunk's round trip (hundreds of µs), small next
// to what a network write may hold up the node's other messages for.
constexpr std::size_t kSnapshotChunkBytes = 1u << 20;

// Where the snapshot's bytes are: this node's snapshot file, or in memory
// (a snapshot this node received and has not yet replaced by its own).
struct SnapshotSource {
  std::filesystem::path file;                 // used when `data` is null
  std::shared_ptr<const std::string> data;
};

// `header` is the core's InstallSnapshot (its data is ignored). A read
// error or a refused or unanswered chunk ends the transfer early (logged):
// the core sends the snapshot again later.
caf::behavior snapshot_sender(caf::event_based_actor* self, caf::actor follower, store::Message header,
                              SnapshotSource source, std::chrono::milliseconds timeout, std::size_t chunk_bytes);

}  // namespace slimfaas::actors
