// A follower rebuilds a snapshot sent in chunks (store/snapshot_assembly.hpp):
// whole and in order, or not at all.
#include <catch2/catch.hpp>

#include <string>

#include "store/snapshot_assembly.hpp"

using namespace slimfaas::store;
using Outcome = SnapshotAssembly::Outcome;

namespace {

Message header(NodeId from = 1, Index index = 40, Term term = 3) {
  Message m;
  m.type = MessageType::InstallSnapshot;
  m.from = from;
  m.to = 2;
  m.term = term;
  m.snapshot.meta.index = index;
  m.snapshot.meta.term = term;
  m.snapshot.meta.voters = {1, 2, 3};
  return m;
}

const std::string kData = "0123456789abcdefghij";  // 20 bytes, in chunks of 8: 8 + 8 + 4

}  // namespace

TEST_CASE("snapshot assembly rebuilds the message from chunks in order", "[snapshot_assembly]") {
  SnapshotAssembly a;
  CHECK_FALSE(a.in_progress());
  CHECK(a.add(header(), 0, 20, kData.substr(0, 8)) == Outcome::more);
  CHECK(a.in_progress());
  CHECK(a.add(header(), 8, 20, kData.substr(8, 8)) == Outcome::more);
  CHECK(a.add(header(), 16, 20, kData.substr(16)) == Outcome::complete);
  const Message whole = a.message();
  CHECK_FALSE(a.in_progress());
  Message expected = header();
  expected.snapshot.data = kData;
  CHECK(whole.type == MessageType::InstallSnapshot);
  CHECK(whole.from == 1);
  CHECK(whole.term == 3);
  CHECK(whole.snapshot == expected.snapshot);
}

TEST_CASE("snapshot assembly takes a snapshot of one chunk", "[snapshot_assembly]") {
  SnapshotAssembly a;
  CHECK(a.add(header(), 0, 20, kData) == Outcome::complete);
  CHECK(a.message().snapshot.data == kData);
}

TEST_CASE("snapshot assembly drops a transfer that skips, repeats or overruns", "[snapshot_assembly]") {
  SnapshotAssembly a;
  SECTION("a chunk past the expected offset") {
    REQUIRE(a.add(header(), 0, 20, kData.substr(0, 8)) == Outcome::more);
    CHECK(a.add(header(), 16, 20, kData.substr(16)) == Outcome::refused);
  }
  SECTION("a chunk sent twice") {
    REQUIRE(a.add(header(), 0, 20, kData.substr(0, 8)) == Outcome::more);
    REQUIRE(a.add(header(), 8, 20, kData.substr(8, 8)) == Outcome::more);
    CHECK(a.add(header(), 8, 20, kData.substr(8, 8)) == Outcome::refused);
  }
  SECTION("more bytes than the total") {
    REQUIRE(a.add(header(), 0, 20, kData.substr(0, 16)) == Outcome::more);
    CHECK(a.add(header(), 16, 20, kData.substr(8, 8)) == Outcome::refused);
  }
  SECTION("another total") {
    REQUIRE(a.add(header(), 0, 20, kData.substr(0, 8)) == Outcome::more);
    CHECK(a.add(header(), 8, 21, kData.substr(8, 8)) == Outcome::refused);
  }
  SECTION("another snapshot, term or sender mid-way") {
    REQUIRE(a.add(header(), 0, 20, kData.substr(0, 8)) == Outcome::more);
    const Message other = GENERATE(header(1, 41, 3), header(1, 40, 4), header(3, 40, 3));
    CHECK(a.add(other, 8, 20, kData.substr(8, 8)) == Outcome::refused);
  }
  SECTION("a chunk with no transfer started") {
    CHECK(a.add(header(), 8, 20, kData.substr(8, 8)) == Outcome::refused);
  }
  // Dropped whole: the rest of that transfer is refused too.
  CHECK_FALSE(a.in_progress());
  CHECK(a.add(header(), 16, 20, kData.substr(16)) == Outcome::refused);
}

TEST_CASE("snapshot assembly restarts when a transfer starts again at offset 0", "[snapshot_assembly]") {
  // The leader's sender stopped (a timeout, a restart) and the core sent
  // its snapshot again, maybe a newer one: the unfinished bytes are gone.
  SnapshotAssembly a;
  REQUIRE(a.add(header(), 0, 20, kData.substr(0, 8)) == Outcome::more);
  const std::string newer = "ABCDEFGHIJKL";
  CHECK(a.add(header(1, 55, 3), 0, 12, newer.substr(0, 8)) == Outcome::more);
  CHECK(a.add(header(1, 55, 3), 8, 12, newer.substr(8)) == Outcome::complete);
  const Message whole = a.message();
  CHECK(whole.snapshot.meta.index == 55);
  CHECK(whole.snapshot.data == newer);
}

TEST_CASE("snapshot assembly calls a transfer stale once no chunk came for a while", "[snapshot_assembly]") {
  // The node drops such a transfer (its sender gave up): its bytes, up to a
  // state's size, are not kept until the next transfer.
  using namespace std::chrono_literals;
  const auto t0 = SnapshotAssembly::Clock::time_point{} + 1h;
  SnapshotAssembly a;
  CHECK_FALSE(a.stale(t0 + 1h, 10s));  // nothing in progress
  REQUIRE(a.add(header(), 0, 20, kData.substr(0, 8), t0) == Outcome::more);
  CHECK_FALSE(a.stale(t0 + 10s, 10s));
  REQUIRE(a.add(header(), 8, 20, kData.substr(8, 8), t0 + 9s) == Outcome::more);
  CHECK_FALSE(a.stale(t0 + 19s, 10s));  // from the last chunk, not the first
  CHECK(a.stale(t0 + 20s, 10s));
  a.drop();
  CHECK_FALSE(a.in_progress());
  CHECK_FALSE(a.stale(t0 + 1h, 10s));
  CHECK(a.add(header(), 16, 20, kData.substr(16), t0 + 21s) == Outcome::refused);
}
