#pragma once
// What a leader tracks per follower (paper, Figure 2, "Volatile state on
// leaders": nextIndex and matchIndex), plus the flow state etcd's raft keeps
// so that a lagging or unreachable follower costs one message per heartbeat
// rather than a flood; and the vote tally of an election.
#include <cstdint>
#include <map>
#include <string_view>
#include <vector>

#include "store/raft_types.hpp"

namespace slimfaas::store {

struct PeerProgress {
  enum class State : std::uint8_t {
    // We do not know where the follower's log diverges: one AppendEntries
    // at a time, the next one after an answer or a heartbeat answer.
    Probe,
    // The follower matches up to `match`: stream entries optimistically,
    // advancing `next` as they are sent.
    Replicate,
    // The follower needs entries we compacted: a snapshot is on its way;
    // send nothing until it is acknowledged or times out.
    Snapshot,
  };

  Index match = 0;  // highest index known to be replicated on the follower
  Index next = 1;   // index of the next entry to send
  State state = State::Probe;
  bool probe_sent = false;     // Probe: an AppendEntries is unanswered
  Index pending_snapshot = 0;  // Snapshot: the index of the snapshot sent
  int snapshot_ticks = 0;      // Snapshot: ticks since it was sent
  // Check quorum: heard from the follower during this election timeout.
  bool recent_active = false;
  // Replicate: a lost last AppendEntries leaves nothing to reject, so a
  // follower whose match stays behind across heartbeat answers is probed.
  Index match_at_last_heartbeat = 0;
  int heartbeats_without_progress = 0;
  // The highest commit index any message told this follower.
  Index commit_sent = 0;
  // An AppendEntries went to the follower since the last heartbeat tick:
  // it reset the follower's election timer and carried the commit index,
  // so that tick's heartbeat would tell it nothing new.
  bool append_since_heartbeat = false;

  void become_probe();
  void become_replicate();
  void become_snapshot(Index snapshot_index);

  // Nothing may be sent right now (see State).
  bool paused() const;
  // Something sent to the follower is still unanswered: entries (Replicate),
  // a probe, or a snapshot. Its answer will come back to the leader.
  bool awaiting_answer() const;
  // The follower acknowledged entries up to `index`; false when stale.
  bool acknowledge(Index index);
  // The follower rejected AppendEntries whose previous index was `rejected`;
  // `hinted_next` comes from the fast-backtracking hint. False when the
  // answer is stale (it does not concern the current `next`).
  bool back_off(Index rejected, Index hinted_next);
};

std::string_view to_string(PeerProgress::State state);

// The highest index that a majority of `match_indices` (one per voter,
// the leader's own included) has reached.
Index quorum_index(std::vector<Index> match_indices);

// Votes (or pre-votes) received in one election.
class VoteTally {
 public:
  enum class Outcome : std::uint8_t { Pending, Won, Lost };
  explicit VoteTally(std::size_t voters = 1) : voters_(voters) {}
  // Records the first answer of each voter; later duplicates are ignored.
  void record(NodeId voter, bool granted) { answers_.emplace(voter, granted); }
  Outcome outcome() const;

 private:
  std::size_t voters_;
  std::map<NodeId, bool> answers_;
};

}  // namespace slimfaas::store
