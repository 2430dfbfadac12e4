#pragma once
// The Raft core's in-memory view of the log: the (index, term) of the last
// snapshot, every entry after it, the commit index, and which suffix has not
// been handed to the driver for persisting yet.
//
// The core keeps the whole uncompacted log in memory (the driver bounds it by
// calling RaftCore::compact); the durable copy lives in the driver's store
// (store/raft_log, RocksDB). Two indices tie the two together:
//  - unstable_from: entries at or after it were appended since the last
//    Ready and still have to be persisted;
//  - truncate_from: a conflict (paper, Figure 2, AppendEntries receiver step
//    3) removed entries that had already been handed out, so the driver must
//    delete stored entries from that index before appending the new ones.
#include <algorithm>
#include <cstddef>
#include <deque>
#include <optional>
#include <vector>

#include "store/raft_types.hpp"

namespace slimfaas::store {

class RaftCoreLog {
 public:
  RaftCoreLog() = default;
  // Restart: the recovered snapshot point and the entries after it, all of
  // them already durable. `entries` must be contiguous from
  // snapshot_index + 1.
  RaftCoreLog(Index snapshot_index, Term snapshot_term, std::vector<Entry> entries, Index commit);

  Index snapshot_index() const { return snapshot_index_; }
  Term snapshot_term() const { return snapshot_term_; }
  Index first_index() const { return snapshot_index_ + 1; }
  Index last_index() const { return snapshot_index_ + entries_.size(); }
  Term last_term() const { return entries_.empty() ? snapshot_term_ : entries_.back().term; }
  Index commit() const { return commit_; }

  // The term of the entry at `index`; nullopt when it was compacted away
  // (index < snapshot_index) or is past the end. The snapshot point itself
  // still has a known term.
  std::optional<Term> term_at(Index index) const;
  bool matches(Index index, Term term) const { return term_at(index) == term; }
  // first_index() <= index <= last_index().
  const Entry& at(Index index) const;
  // Entries [from, to], at most max_count and, past the first entry, at most
  // max_bytes of data. first_index() <= from.
  std::vector<Entry> slice(Index from, Index to, std::size_t max_count, std::size_t max_bytes) const;

  // Election restriction (paper §5.4.1): a candidate whose last entry is
  // (last_index, last_term) is at least as up to date as this log.
  bool is_up_to_date(Index last_index, Term last_term) const;

  // Fast backtracking (thesis §5.3): the first index holding the same term
  // as `index` (stops at the snapshot point, whose term is known).
  Index first_index_of_term_at(Index index) const;
  // The last index whose entry has `term`, searching at or below `at_or_below`;
  // nullopt if this log holds no such entry (or it was compacted).
  std::optional<Index> last_index_of_term(Term term, Index at_or_below) const;

  // Leader: append one entry at the end (entry.index == last_index() + 1).
  void append(Entry entry);
  // Follower, AppendEntries receiver steps 3 and 4. The caller has checked
  // that (prev_index, term) matches. Entries already present with the same
  // term are kept; from the first conflict on, the log is replaced. Returns
  // the index of the last entry of the message (prev_index + entries.size()).
  Index append_after(Index prev_index, const std::vector<Entry>& entries);

  // Raises commit to `index` if higher. index <= last_index().
  void commit_to(Index index);

  // Driver's compaction after applying: forget entries up to `upto`
  // (commit >= upto >= snapshot_index, entries up to `upto` handed out).
  void compact(Index upto);
  // Follower installing a snapshot that its log does not match: the whole
  // log is replaced by the snapshot point, and the commit index moves to it.
  void restore(Index index, Term term);

  // Ready plumbing: the entries appended since the last call (moved out, the
  // driver now owns persisting them), and the truncation the driver must
  // apply first (0 when none).
  bool has_unstable() const { return unstable_from_ <= last_index() || truncate_from_ != 0; }
  std::vector<Entry> take_unstable();
  Index take_truncate_from();
  // The driver persisted what the last take_unstable() handed out.
  void mark_handed_out_persisted();
  // The last index whose entry is durable and still in this log: a leader
  // counts itself towards a quorum only up to here (thesis §10.2.1).
  Index persisted_last() const { return persisted_last_; }
  // The last index handed out for persisting (durable once the driver says
  // so): entries past it are not in the driver's store yet.
  Index handed_out_last() const { return std::max(persisted_last_, handed_out_last_); }

 private:
  void truncate_from(Index index);

  Index snapshot_index_ = 0;
  Term snapshot_term_ = 0;
  std::deque<Entry> entries_;  // entries_[i] has index snapshot_index_ + 1 + i
  Index commit_ = 0;
  Index unstable_from_ = 1;
  Index truncate_from_ = 0;
  Index persisted_last_ = 0;
  Index handed_out_last_ = 0;  // last index of the outstanding take_unstable()
};

}  // namespace slimfaas::store
