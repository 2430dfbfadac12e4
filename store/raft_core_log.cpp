#include "store/raft_core_log.hpp"

#include <algorithm>
#include <stdexcept>
#include <string>

namespace slimfaas::store {

namespace {
[[noreturn]] void broken(const std::string& what) { throw std::logic_error("raft log invariant: " + what); }
}  // namespace

RaftCoreLog::RaftCoreLog(Index snapshot_index, Term snapshot_term, std::vector<Entry> entries, Index commit)
    : snapshot_index_(snapshot_index), snapshot_term_(snapshot_term), commit_(commit) {
  Index expected = snapshot_index + 1;
  for (auto& entry : entries) {
    if (entry.index != expected) broken("recovered entries are not contiguous after the snapshot");
    entries_.push_back(std::move(entry));
    ++expected;
  }
  if (commit_ < snapshot_index_) commit_ = snapshot_index_;
  if (commit_ > last_index()) broken("recovered commit index is past the last recovered entry");
  unstable_from_ = last_index() + 1;
  persisted_last_ = last_index();
  handed_out_last_ = last_index();
}

std::optional<Term> RaftCoreLog::term_at(Index index) const {
  if (index == snapshot_index_) return snapshot_term_;
  if (index < snapshot_index_ || index > last_index()) return std::nullopt;
  return entries_[index - snapshot_index_ - 1].term;
}

const Entry& RaftCoreLog::at(Index index) const {
  if (index <= snapshot_index_ || index > last_index()) broken("entry " + std::to_string(index) + " is not in memory");
  return entries_[index - snapshot_index_ - 1];
}

std::vector<Entry> RaftCoreLog::slice(Index from, Index to, std::size_t max_count, std::size_t max_bytes) const {
  std::vector<Entry> out;
  std::size_t bytes = 0;
  for (Index i = from; i <= to && i <= last_index() && out.size() < max_count; ++i) {
    const Entry& entry = at(i);
    // Always make progress: the first entry goes even when it is larger
    // than the byte budget.
    if (!out.empty() && bytes + entry.data.size() > max_bytes) break;
    bytes += entry.data.size();
    out.push_back(entry);
  }
  return out;
}

bool RaftCoreLog::is_up_to_date(Index last, Term term) const {
  return term > last_term() || (term == last_term() && last >= last_index());
}

Index RaftCoreLog::first_index_of_term_at(Index index) const {
  const auto term = term_at(index);
  if (!term) return index;
  while (index > snapshot_index_ && term_at(index - 1) == term) --index;
  return index;
}

std::optional<Index> RaftCoreLog::last_index_of_term(Term term, Index at_or_below) const {
  if (at_or_below > last_index()) at_or_below = last_index();
  // Terms never decrease along a log: scan down until we pass below `term`.
  for (Index i = at_or_below; i >= snapshot_index_ && i > 0; --i) {
    const Term here = *term_at(i);
    if (here == term) return i;
    if (here < term) return std::nullopt;
  }
  return std::nullopt;
}

void RaftCoreLog::append(Entry entry) {
  if (entry.index != last_index() + 1) broken("append out of order");
  if (entry.term < last_term()) broken("append with a term lower than the last entry's");
  entries_.push_back(std::move(entry));
}

Index RaftCoreLog::append_after(Index prev_index, const std::vector<Entry>& entries) {
  Index index = prev_index;
  for (const Entry& entry : entries) {
    ++index;
    if (entry.index != index) broken("AppendEntries with non-contiguous entries");
    if (index <= snapshot_index_) continue;  // covered by our snapshot, hence committed and equal
    if (index <= last_index()) {
      if (at(index).term == entry.term) continue;
      // Step 3: an existing entry conflicts with a new one: delete it and
      // all that follow. A committed entry can never conflict (that would
      // break State Machine Safety), so this is an invariant, not a case.
      if (index <= commit_) broken("conflict at committed index " + std::to_string(index));
      truncate_from(index);
    }
    entries_.push_back(entry);  // step 4
  }
  return index;
}

void RaftCoreLog::commit_to(Index index) {
  if (index <= commit_) return;
  if (index > last_index()) broken("commit past the last entry");
  commit_ = index;
}

void RaftCoreLog::compact(Index upto) {
  if (upto <= snapshot_index_) return;
  if (upto > commit_) broken("compacting uncommitted entries");
  if (upto >= unstable_from_) broken("compacting entries not yet handed out for persisting");
  const Term term = at(upto).term;
  entries_.erase(entries_.begin(), entries_.begin() + static_cast<std::ptrdiff_t>(upto - snapshot_index_));
  snapshot_index_ = upto;
  snapshot_term_ = term;
}

void RaftCoreLog::restore(Index index, Term term) {
  entries_.clear();
  snapshot_index_ = index;
  snapshot_term_ = term;
  commit_ = index;
  unstable_from_ = index + 1;
  persisted_last_ = std::min(persisted_last_, index);
  handed_out_last_ = std::min(handed_out_last_, index);
  // The snapshot in the same Ready replaces the whole stored log.
  truncate_from_ = 0;
}

void RaftCoreLog::truncate_from(Index index) {
  // Entries before unstable_from_ were handed out: the driver may hold
  // them on disk, so it must delete them too.
  if (index < unstable_from_) {
    truncate_from_ = truncate_from_ == 0 ? index : std::min(truncate_from_, index);
    unstable_from_ = index;
  }
  persisted_last_ = std::min(persisted_last_, index - 1);
  handed_out_last_ = std::min(handed_out_last_, index - 1);
  entries_.erase(entries_.begin() + static_cast<std::ptrdiff_t>(index - snapshot_index_ - 1), entries_.end());
}

std::vector<Entry> RaftCoreLog::take_unstable() {
  std::vector<Entry> out;
  for (Index i = std::max(unstable_from_, first_index()); i <= last_index(); ++i) out.push_back(at(i));
  unstable_from_ = last_index() + 1;
  handed_out_last_ = last_index();
  return out;
}

void RaftCoreLog::mark_handed_out_persisted() { persisted_last_ = std::max(persisted_last_, handed_out_last_); }

Index RaftCoreLog::take_truncate_from() {
  const Index index = truncate_from_;
  truncate_from_ = 0;
  return index;
}

}  // namespace slimfaas::store
