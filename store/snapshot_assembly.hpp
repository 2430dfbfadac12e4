#pragma once
// A follower's side of a snapshot sent in chunks: the InstallSnapshot
// message rebuilt from its pieces, in order, before the Raft core sees it.
//
// Why chunks: sent whole, a snapshot was one CAF message as large as the
// state. The leader read the file on its node actor and CAF's network
// thread serialized it in one go, into memory faulted in for it: with a
// 128 MiB state, 0.25 s on the actor and the rest on the network thread,
// every write to the cluster stalled 0.7-1.0 s, and once the other
// follower heard no heartbeat for an election timeout (docs/slimdata.md,
// "Snapshots"). In chunks, the leader's node actor reads nothing and each
// network write is one chunk; the next goes once the follower has taken
// the last (the sender waits for each answer).
//
// The transfer is below Raft: the core sent one InstallSnapshot and gets
// one. A transfer cut short (a restart, a lost connection, a newer
// snapshot) is dropped when the next one starts at offset 0, or once no
// chunk came for a while (stale(): its sender gave up; its bytes, up to a
// state's size, are not kept waiting); the core sends its snapshot again
// after its own timeout, as for a lost message.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>

#include "store/raft_core.hpp"  // Message

namespace slimfaas::store {

class SnapshotAssembly {
 public:
  using Clock = std::chrono::steady_clock;
  enum class Outcome : std::uint8_t {
    more,      // taken; the next chunk is expected
    complete,  // taken, and the message is whole: take it with message()
    refused,   // out of order or inconsistent: the transfer is dropped
  };

  // `header` is the InstallSnapshot without its data; `chunk` the bytes at
  // `offset` of a snapshot of `total` bytes. A chunk at offset 0 starts a
  // new transfer (dropping any unfinished one).
  Outcome add(const Message& header, std::uint64_t offset, std::uint64_t total, std::string_view chunk,
              Clock::time_point now = Clock::now()) {
    last_chunk_at_ = now;
    if (offset == 0) {
      assembling_ = header;
      assembling_->snapshot.data.clear();
      assembling_->snapshot.data.reserve(total);
      total_ = total;
    }
    if (!assembling_ || offset != assembling_->snapshot.data.size() || total != total_ ||
        chunk.size() > total_ - offset || header.from != assembling_->from ||
        header.snapshot.meta.index != assembling_->snapshot.meta.index ||
        header.snapshot.meta.term != assembling_->snapshot.meta.term || header.term != assembling_->term) {
      assembling_.reset();
      return Outcome::refused;
    }
    assembling_->snapshot.data.append(chunk);
    return assembling_->snapshot.data.size() == total_ ? Outcome::complete : Outcome::more;
  }

  // The whole message, once add() said complete; the assembly is then empty.
  Message message() {
    Message whole = std::move(*assembling_);
    assembling_.reset();
    return whole;
  }

  bool in_progress() const { return assembling_.has_value(); }

  // An unfinished transfer whose last chunk came over `idle` before `now`.
  bool stale(Clock::time_point now, Clock::duration idle) const {
    return assembling_.has_value() && now - last_chunk_at_ > idle;
  }
  void drop() { assembling_.reset(); }

 private:
  std::optional<Message> assembling_;
  std::uint64_t total_ = 0;
  Clock::time_point last_chunk_at_{};
};

}  // namespace slimfaas::store
