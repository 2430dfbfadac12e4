#pragma once
// SlimData's durable Raft log: hard state (term, vote, commit), log entries
// and the latest snapshot, in one RocksDB database.
//
// Every change is one RocksDB WriteBatch, which RocksDB applies atomically
// (all of it or none of it, also across a crash), fsynced before `write`
// returns when `RaftLogOptions::sync` is set. Raft needs exactly that: a node
// may answer a vote or acknowledge entries only once they are on stable
// storage, and a crash must never leave half of a Ready on disk. Group
// commit is the caller batching many proposals (or several Readies) into one
// `persist`/`write` call, so one fsync covers all of them.
//
// On-disk format (format version 1), one column family, keys by prefix so
// that each kind sorts together:
//
//   "Mformat"            u32 LE format version (1); written when created.
//   "Mhard_state"        u64 LE term | u64 LE vote | u64 LE commit.
//   'L' u64 BE index     u8 kind (Entry::Kind) | u64 LE term | data bytes.
//                        Big-endian index: RocksDB's bytewise order is the
//                        index order, so a range scan reads entries in order
//                        and a range delete removes a contiguous run.
//   "S"                  u64 LE index | u64 LE term | u32 LE voter count |
//                        voters (u64 LE each) | snapshot data bytes.
//
// Invariant kept by every write: the stored entries are contiguous, and the
// first one (if any) is snapshot.index + 1 (entries the snapshot covers are
// deleted in the same batch that stores it).
//
// Not thread-safe: one owner (the Raft node's storage thread) calls it.
// Every method throws `StorageError` when RocksDB fails, and
// `std::invalid_argument` when asked to break the invariant above (a caller
// bug: a gap in the log, or a snapshot older than the stored one).
#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <vector>

#include "store/raft_types.hpp"

namespace rocksdb {
class DB;
class WriteBatch;
}  // namespace rocksdb

namespace slimfaas::store {

// RocksDB failed (open, read, write), or the files on disk are not a valid
// log of this format. The message names the path and RocksDB's status.
class StorageError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

struct RaftLogOptions {
  // fsync every write before it returns. Off only for tests and benchmarks
  // that measure everything but the disk: without it a process crash keeps
  // the data (it is in the OS page cache) but a machine crash may not.
  bool sync = true;
  bool create_if_missing = true;
  // RocksDB memtable size. Larger absorbs bursts of MiB entries between
  // flushes; but a memtable is filled anew after each flush, in memory
  // the process must fault in again, and the log's entries are deleted
  // at the next snapshot anyway (docs/slimdata.md, "Memory under load").
  std::size_t write_buffer_bytes = 16u << 20;
};

class RaftLog {
 public:
  using Options = RaftLogOptions;

  // What a restarting node needs: its hard state, the last snapshot and the
  // entries after it (contiguous, starting at snapshot index + 1, or at 1
  // when there is no snapshot).
  struct Recovered {
    HardState hard_state;
    std::optional<Snapshot> snapshot;
    std::vector<Entry> entries;
  };

  // Changes written together by `write`: one RocksDB WriteBatch. Steps apply
  // in the order they are added (an append after a truncation wins), and
  // each step is checked against the log as the earlier steps leave it.
  // A batch is built against the log's state when `batch()` was called;
  // writing it after another write to the same log is a logic error.
  class Batch {
   public:
    Batch(Batch&&) noexcept;
    Batch& operator=(Batch&&) noexcept;
    ~Batch();

    Batch& set_hard_state(const HardState& hard_state);
    // Deletes every entry with index >= `from` (Raft: a conflicting suffix).
    Batch& truncate_from(Index from);
    // Appends contiguous entries. The first may start at or before the
    // current last index + 1; entries at and after it are replaced (the
    // conflicting suffix goes in the same batch).
    Batch& append(std::span<const Entry> entries);
    // Stores the snapshot and deletes every entry it covers (<= its index).
    // Entries after its index stay: when they do not continue the snapshot
    // (Raft §7: no entry at meta.index with meta.term), the caller also
    // calls truncate_from(meta.index + 1).
    Batch& save_snapshot(const Snapshot& snapshot);

    bool empty() const noexcept;
    // What the write will hand RocksDB, its own header included.
    std::size_t bytes() const noexcept;

   private:
    friend class RaftLog;
    Batch(const RaftLog& log, std::size_t reserve_bytes);

    struct Shape {  // the log's shape as the batch leaves it
      SnapshotMeta snapshot;
      Index last_index = 0;
      HardState hard_state;
    };
    std::unique_ptr<rocksdb::WriteBatch> rocks_batch_;
    Shape shape_;
    std::uint64_t base_generation_ = 0;
  };

  // Opens (or creates) the log in directory `path`. Throws StorageError with
  // the path and the reason (locked by another process, not a log, ...).
  static RaftLog open(const std::filesystem::path& path, Options options = {});

  // How RocksDB computes the CRC32C of every record and block (start-up log).
  static std::string checksum_implementation();

  RaftLog(RaftLog&&) noexcept;
  RaftLog& operator=(RaftLog&&) noexcept;
  ~RaftLog();

  // Reads everything back (a restart). Checks that the entries are
  // contiguous and follow the snapshot; throws StorageError if not.
  Recovered recover() const;

  // One Ready in one atomic, fsynced write: the hard state if it changed,
  // the truncation of a conflicting suffix (0 = none), then the new entries.
  void persist(const std::optional<HardState>& hard_state, Index truncate_from,
               std::span<const Entry> entries);

  // Stores the snapshot and compacts the log up to its index, atomically.
  void save_snapshot(const Snapshot& snapshot);

  // Several Readies (or any mix of steps) in one atomic, fsynced write.
  // `reserve_bytes` (see append_bytes) is allocated up front: a batch that
  // grows copies all it holds at every doubling, into fresh pages that
  // fault, which was a fifth of a follower's log writer at 4 KiB calls.
  Batch batch(std::size_t reserve_bytes = 0) const;
  // At least what Batch::append adds for `entries`, with the hard state.
  static std::size_t append_bytes(std::span<const Entry> entries) noexcept;
  void write(Batch&& batch);
  // The same, fsynced only when `sync` (and Options::sync): for changes
  // Raft may lose in a crash (a commit index alone). A later synced write
  // makes this one durable too (one WAL, synced in order).
  void write(Batch&& batch, bool sync);

  // Entries with lo <= index < hi (for followers catching up), stopping
  // once their data passes `max_bytes` (always at least one entry when any
  // exists in range). `lo` must be >= first_index().
  std::vector<Entry> entries(Index lo, Index hi,
                             std::size_t max_bytes = std::numeric_limits<std::size_t>::max()) const;
  // Term of the entry at `index`: the snapshot's term at its index, nullopt
  // outside [snapshot index, last_index()].
  std::optional<Term> term(Index index) const;

  Index first_index() const noexcept;  // snapshot index + 1
  Index last_index() const noexcept;   // last entry, or the snapshot index when none
  const HardState& hard_state() const noexcept;
  SnapshotMeta snapshot_meta() const;  // index 0 when there is no snapshot
  std::optional<Snapshot> snapshot() const;

 private:
  struct Impl;
  explicit RaftLog(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

}  // namespace slimfaas::store
