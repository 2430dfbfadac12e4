#pragma once
// SlimData's Raft node: one actor per process driving the deterministic core
// (store/raft_core.hpp) over the RocksDB log (store/raft_log.hpp) and the
// replicated state machine (store/state_machine.hpp). Its behaviors are the
// Raft roles: follower, candidate and leader differ in what a proposal does
// (the leader appends it; the others forward it to the leader), and the actor
// switches with `become` whenever the core's role changes.
//
// Nothing blocks in it: fsyncs run on a detached log-writer actor (while one
// runs, new proposals gather into the next Ready: group commit), and
// connecting to a peer runs on a detached connector actor per peer.
//
// Peers are reached through CAF's io middleman: the node is published on its
// SlimData port and every node connects to every other (remote_actor, retried
// with backoff). The first message on a connection is a hello carrying the
// cluster id and the shared secret; a node drops every message from a sender
// that has not said a valid hello, so a stray process cannot take part.
#include <caf/all.hpp>
#include <chrono>
#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

#include "actors/slimdata.hpp"
#include "store/raft_log.hpp"
#include "store/raft_types.hpp"
#include "store/snapshot_policy.hpp"

namespace slimfaas::actors {

struct RaftPeerAddress {
  std::string host;
  std::uint16_t port = 0;
};

struct RaftNodeSetup {
  store::NodeId id = 1;
  std::map<store::NodeId, RaftPeerAddress> peers;  // every other voter
  std::filesystem::path directory;                 // the RocksDB log
  std::string cluster_id = "slimfaas";
  std::string secret;
  std::chrono::milliseconds tick{50};
  int election_ticks = 10;  // election timeout in [10, 20) ticks
  std::chrono::milliseconds request_timeout{5000};
  // A one-voter cluster elects itself only when this is set (contract:
  // SLIMDATA_ALLOW_COLD_START).
  bool allow_cold_start = false;
  bool sync = true;  // fsync every write (off only for benchmarks of everything but the disk)
  std::size_t snapshot_interval_entries = 10000;
  // ...or this much log since the last snapshot (store/snapshot_policy.hpp).
  std::size_t snapshot_log_bytes = store::kDefaultSnapshotLogBytes;
  // The RocksDB memtable of the log (store::RaftLogOptions).
  std::size_t write_buffer_bytes = store::RaftLogOptions{}.write_buffer_bytes;
  std::size_t max_entry_bytes = 16u << 20;
  std::size_t max_pending_requests = 100000;
  // Large async bodies kept beside the log, in <directory>.blobs/
  // (actors/blob_actor.hpp).
  std::uint64_t max_blob_bytes = 1u << 30;
  std::uint64_t seed = 0;  // election timeouts; 0: from the node id and the clock
};

// Opens and recovers the log (throws store::StorageError with the path and
// the reason) and spawns the node with its writer and connectors.
caf::actor spawn_raft_node(caf::actor_system& system, RaftNodeSetup setup);

}  // namespace slimfaas::actors
