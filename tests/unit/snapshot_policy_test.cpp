#include <catch2/catch.hpp>

#include "store/snapshot_policy.hpp"

using slimfaas::store::kDefaultSnapshotLogBytes;
using slimfaas::store::snapshot_due;
using slimfaas::store::SnapshotProgress;

TEST_CASE("snapshot policy: never before the minimum number of entries unless the log is large", "[snapshot]") {
  const std::size_t mib = 1u << 20;
  CHECK_FALSE(snapshot_due(SnapshotProgress{9'999, 63 * mib, 0}, 10'000, 64 * mib));
  CHECK(snapshot_due(SnapshotProgress{10'000, 0, 0}, 10'000, 64 * mib));  // no snapshot yet: any log will do
  // Few entries carrying many commands each (merged proposals): the log's
  // bytes bound what is kept in memory between snapshots.
  CHECK(snapshot_due(SnapshotProgress{600, 64 * mib, 0}, 10'000, 64 * mib));
  // ...and the growth rule still holds for a large state.
  CHECK_FALSE(snapshot_due(SnapshotProgress{600, 64 * mib, 400 * mib}, 10'000, 64 * mib));
}

TEST_CASE("snapshot policy: the log bytes that make a snapshot due are the caller's", "[snapshot]") {
  const std::size_t mib = 1u << 20;
  CHECK(kDefaultSnapshotLogBytes == 16 * mib);
  CHECK_FALSE(snapshot_due(SnapshotProgress{600, 16 * mib - 1, 0}, 10'000, 16 * mib));
  CHECK(snapshot_due(SnapshotProgress{600, 16 * mib, 0}, 10'000, 16 * mib));
  CHECK(snapshot_due(SnapshotProgress{1, 64 * 1024, 0}, 10'000, 64 * 1024));
  // The growth rule is not the caller's to waive.
  CHECK_FALSE(snapshot_due(SnapshotProgress{600, 16 * mib, 32 * mib}, 10'000, 16 * mib));
}

TEST_CASE("snapshot policy: waits for a log as large as the last snapshot", "[snapshot]") {
  const std::size_t mib = 1u << 20;
  CHECK_FALSE(snapshot_due(SnapshotProgress{50'000, 2 * mib - 1, 2 * mib}, 10'000, 64 * mib));
  CHECK(snapshot_due(SnapshotProgress{50'000, 2 * mib, 2 * mib}, 10'000, 64 * mib));
}

TEST_CASE("snapshot policy: a large state is not rewritten every fixed amount of log", "[snapshot]") {
  // 400 MiB of state: 64 MiB of log (the old fixed step) is not enough.
  const std::size_t mib = 1u << 20;
  CHECK_FALSE(snapshot_due(SnapshotProgress{100'000, 64 * mib, 400 * mib}, 10'000, 64 * mib));
  CHECK(snapshot_due(SnapshotProgress{100'000, 400 * mib, 400 * mib}, 10'000, 64 * mib));
}

TEST_CASE("snapshot policy: bytes written for snapshots stay below the log's own", "[snapshot]") {
  // A state that grows by what is logged (a backlog that is never drained):
  // every snapshot is as large as all the log so far.
  const std::size_t entry_bytes = 4096;
  std::size_t state = 0, log_total = 0, snapshot_total = 0;
  SnapshotProgress progress;
  for (int i = 0; i < 1'000'000; ++i) {
    state += entry_bytes;
    log_total += entry_bytes;
    ++progress.entries_since;
    progress.log_bytes_since += entry_bytes;
    if (snapshot_due(progress, 10'000, kDefaultSnapshotLogBytes)) {
      snapshot_total += state;
      progress = SnapshotProgress{0, 0, state};
    }
  }
  CHECK(snapshot_total > 0);
  CHECK(snapshot_total <= 2 * log_total);
}
