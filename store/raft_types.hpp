#pragma once
// Value types shared by the Raft core (store/raft_core), its durable log
// (store/raft_log, RocksDB) and the replicated state machine
// (store/state_machine). Plain data: no I/O, no threads.
#include <cstdint>
#include <string>
#include <vector>

#include "store/shared_bytes.hpp"

namespace slimfaas::store {

using Term = std::uint64_t;
using Index = std::uint64_t;
using NodeId = std::uint64_t;  // 0 means "none" (no vote, no known leader)

struct Entry {
  enum class Kind : std::uint8_t {
    Command = 0,  // `data` is a state-machine command (store/state_machine)
    Noop = 1,     // appended by a new leader to commit entries of earlier terms
  };
  Term term = 0;
  Index index = 0;
  Kind kind = Kind::Command;
  SharedBytes data;  // shared, not copied, by every holder of the entry

  friend bool operator==(const Entry&, const Entry&) = default;
};

// What Raft must have on stable storage before it answers a vote or
// acknowledges entries (paper, Figure 2: currentTerm, votedFor; commit is
// kept too so a restart re-applies no more than needed).
struct HardState {
  Term term = 0;
  NodeId vote = 0;
  Index commit = 0;

  friend bool operator==(const HardState&, const HardState&) = default;
};

struct SnapshotMeta {
  Index index = 0;  // last entry the snapshot covers
  Term term = 0;    // term of that entry
  std::vector<NodeId> voters;

  friend bool operator==(const SnapshotMeta&, const SnapshotMeta&) = default;
};

struct Snapshot {
  SnapshotMeta meta;
  std::string data;  // the state machine's serialized state at meta.index

  friend bool operator==(const Snapshot&, const Snapshot&) = default;
};

}  // namespace slimfaas::store
