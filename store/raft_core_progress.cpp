#include "store/raft_core_progress.hpp"

#include <algorithm>
#include <functional>

namespace slimfaas::store {

void PeerProgress::become_probe() {
  // After a snapshot, probing resumes right after it.
  if (state == State::Snapshot) {
    next = std::max(match + 1, pending_snapshot + 1);
  } else {
    next = match + 1;
  }
  state = State::Probe;
  probe_sent = false;
  pending_snapshot = 0;
  snapshot_ticks = 0;
  heartbeats_without_progress = 0;
}

void PeerProgress::become_replicate() {
  state = State::Replicate;
  next = std::max(next, match + 1);
  probe_sent = false;
  pending_snapshot = 0;
  snapshot_ticks = 0;
  heartbeats_without_progress = 0;
}

void PeerProgress::become_snapshot(Index snapshot_index) {
  state = State::Snapshot;
  pending_snapshot = snapshot_index;
  snapshot_ticks = 0;
  probe_sent = false;
}

bool PeerProgress::awaiting_answer() const {
  switch (state) {
    case State::Probe: return probe_sent;
    case State::Replicate: return next > match + 1;
    case State::Snapshot: return true;
  }
  return true;
}

bool PeerProgress::paused() const {
  switch (state) {
    case State::Probe: return probe_sent;
    case State::Replicate: return false;
    case State::Snapshot: return true;
  }
  return true;
}

bool PeerProgress::acknowledge(Index index) {
  probe_sent = false;
  if (index <= match) return false;
  match = index;
  next = std::max(next, index + 1);
  return true;
}

bool PeerProgress::back_off(Index rejected, Index hinted_next) {
  if (state == State::Replicate) {
    // Entries up to `match` are known to be there: a reject at or below
    // it is an old message.
    if (rejected <= match) return false;
    next = std::max(match + 1, std::min(hinted_next, rejected));
    return true;
  }
  // Probe: only the answer to the AppendEntries we sent counts.
  if (next == 0 || next - 1 != rejected) return false;
  next = std::max(match + 1, std::min(hinted_next, rejected));
  probe_sent = false;
  return true;
}

std::string_view to_string(PeerProgress::State state) {
  switch (state) {
    case PeerProgress::State::Probe: return "probe";
    case PeerProgress::State::Replicate: return "replicate";
    case PeerProgress::State::Snapshot: return "snapshot";
  }
  return "unknown";
}

Index quorum_index(std::vector<Index> match_indices) {
  if (match_indices.empty()) return 0;
  std::sort(match_indices.begin(), match_indices.end(), std::greater<>());
  // Sorted high to low, the entry at position (n/2) is reached by n/2+1 voters.
  return match_indices[match_indices.size() / 2];
}

VoteTally::Outcome VoteTally::outcome() const {
  std::size_t granted = 0;
  std::size_t rejected = 0;
  for (const auto& [voter, yes] : answers_) (yes ? granted : rejected) += 1;
  const std::size_t quorum = voters_ / 2 + 1;
  if (granted >= quorum) return Outcome::Won;
  if (rejected > voters_ - quorum) return Outcome::Lost;
  return Outcome::Pending;
}

}  // namespace slimfaas::store
