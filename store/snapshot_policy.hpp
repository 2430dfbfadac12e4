#pragma once
// When a SlimData node takes its next snapshot (log compaction).
//
// A snapshot rewrites the whole state, so its cost grows with the state,
// not with the traffic. Taking one every fixed amount of log would make the
// bytes written for snapshots grow with the state times the traffic: a
// queue with a 400 MiB backlog of 4 KiB calls rewrote 400 MiB every 64 MiB
// of log, and spent a third of the nodes' CPU on it. So, like Redis's AOF
// rewrite at 100% growth, the next snapshot waits until the log written
// since the last one is at least as large as that snapshot was: snapshot
// writes never exceed the log's own bytes (amortized), whatever the state's
// size, and the log kept in memory and replayed at a restart stays within
// about one state's size. Never before `min_entries` entries (or
// `min_log_bytes` of log), so a tiny state does not snapshot every few
// entries.
#include <cstddef>
#include <cstdint>

namespace slimfaas::store {

struct SnapshotProgress {
  std::uint64_t entries_since = 0;       // applied since the last snapshot
  std::size_t log_bytes_since = 0;       // their command bytes
  std::size_t last_snapshot_bytes = 0;   // the last snapshot's size (0: none yet)
};

// However few its entries, `min_log_bytes` of log since the last snapshot
// is enough (with the growth rule above): an entry may carry many commands
// (the leader merges a burst's small proposals into one), and counting
// entries alone would let the log kept in memory grow by that factor. The
// default, 16 MiB: every byte of log is held in memory until the next
// snapshot, and memory that grows is memory the kernel must hand out and
// zero, page by page (docs/slimdata.md, "Memory under load").
constexpr std::size_t kDefaultSnapshotLogBytes = 16u << 20;

constexpr bool snapshot_due(const SnapshotProgress& progress, std::uint64_t min_entries,
                            std::size_t min_log_bytes) noexcept {
  return (progress.entries_since >= min_entries || progress.log_bytes_since >= min_log_bytes) &&
         progress.log_bytes_since >= progress.last_snapshot_bytes;
}

}  // namespace slimfaas::store
