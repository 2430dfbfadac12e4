#pragma once
// SlimData's replicated state machine: what every replica computes from the
// committed log. Key/value with TTL, hashsets, lease-based FIFO queues and
// counters, for the async queue, the activity history and jobs. Commands,
// queries and results are built and decoded with state_machine_commands.hpp.
//
// Determinism: the state after entry N depends only on entries 1..N (or a
// snapshot at M and entries M+1..N). Nothing reads the applier's clock;
// time comes from the commands: kv_set and queue_take carry the proposer's
// `now_ms`, and the machine keeps `clock_ms` = the largest such time applied
// so far. The clock never goes back (a proposer with a slower clock cannot
// revive expired keys or end leases early); TTLs, leases and retry times
// are compared with it. Every change of the clock purges the keys that
// expired by then, so expired keys do not pile up, on every replica alike.
//
// Idempotent by log index: `apply` skips entries at or below
// `last_applied()` (a replay after restart, or a duplicate delivery) and
// answers "already applied"; an entry that would leave a gap is a logic
// error in the caller.
//
// Queues: items are taken in push order (element id order); a requeued item
// keeps its place, so once visible again it goes before newer items. A
// take leases each item until now + lease; an expired lease makes it
// visible again (the next take counts as the next try: at-least-once).
//
// Costs: kv/hash/counter operations O(log n); take O(k log n) for k items
// plus the leases that ended since the last take; status O(items in flight
// or waiting); snapshot/restore O(state); freeze O(entries and items).
// Payloads are copied once into the state and once into a take's result.
#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "store/raft_types.hpp"
#include "store/shared_bytes.hpp"
#include "store/state_machine_commands.hpp"

namespace slimfaas::store {

namespace codec {
class Reader;
}

class StateMachine {
 public:
  // Whether the caller reads apply()'s result. Only the node whose
  // proposer waits for an entry does; the others (followers, mostly) need
  // the state change alone.
  enum class ResultUse { read, unread };

  // Applies one committed entry and returns its encoded result (decode with
  // results::<operation>). A malformed command changes nothing and answers
  // an error result: every replica answers the same, none stops. Throws
  // std::logic_error if entry.index > last_applied() + 1.
  // With ResultUse::unread the state changes the same way, but a queue
  // take's result leaves out the taken items (ids and bodies): copying
  // every taken body into a result nobody reads was a follower's largest
  // copy of an async call (an item count still comes back).
  std::string apply(const Entry& entry, ResultUse use = ResultUse::read);
  // Like apply(), for an entry whose callers each wait for one command of a
  // batch (a leader merges a burst's proposals into one entry): one result
  // per command, in order, the ones results::batch(apply(entry)) would
  // split out, but never encoded into the batch's result and copied out of
  // it again (a queue take's result carries the bodies it took). An entry
  // that is not a well-formed batch gives one result, apply()'s.
  std::vector<std::string> apply_split(const Entry& entry, ResultUse use = ResultUse::read);

  // Answers a read from the current state (the Raft layer makes it
  // linearizable by waiting for its read index to be applied). Malformed
  // or unknown queries answer an error result.
  std::string query(std::string_view query) const;

  // The whole state, including last_applied() and the clock. Equal states
  // give equal bytes. restore() replaces the state with a snapshot's; it
  // throws codec::MalformedError (a std::runtime_error) and keeps the
  // current state when the bytes do not decode.
  std::string snapshot() const;
  void restore(std::string_view snapshot);
  // The state as it is now, for a snapshot written while the machine goes
  // on (by the node's snapshot writer, on its own thread). Freezing copies
  // the keys, the queues' item records and the small fields; bodies and
  // values are shared, not copied (they never change once stored), so it
  // costs time in the number of entries, not in their bytes. A snapshot
  // used to be serialized in the node actor (a pause of about 1 ms a MiB)
  // or, above a size, by a forked child; a fork write-protects every page
  // of the node, and each page the node wrote while the child lived then
  // faulted (about 11 µs each on paravirtualized hosts). With a backlog of
  // 4 KiB async calls, 1-2.2 faults a call on every node, and the nodes
  // accepted half as many calls (docs/slimdata.md, "Snapshots").
  class Frozen {
   public:
    // snapshot()'s bytes as of the freeze, handed to `sink` in consecutive
    // pieces of about `piece_bytes` as they are encoded: a snapshot
    // streamed to a file never exists whole in memory. Any thread; the
    // machine may change meanwhile.
    void write_to(const std::function<void(std::string_view)>& sink, std::size_t piece_bytes = 1u << 20) const;

   private:
    friend class StateMachine;
    struct Kv {
      std::string key;
      SharedBytes value;
      TimeMs expires_at = 0;
    };
    struct Item {
      ElementId id = 0;
      TimeMs visible_at = 0, lease_until = 0;
      std::uint32_t takes = 0;
      SharedBytes payload;
      std::string attachment;
    };
    // A queue's items in chunks of at most kItemsPerChunk: one vector of
    // 100,000 items (8 MiB) was a fresh mapping from the allocator, each of
    // its pages faulted in during the freeze (25 ms; 3.8-5.1 ms in chunks,
    // which come from memory the allocator recycles).
    static constexpr std::size_t kItemsPerChunk = 1024;
    struct Queue {
      std::string name;
      std::size_t items = 0;
      std::vector<std::vector<Item>> chunks;
    };
    Index last_applied_ = 0;
    TimeMs clock_ms_ = 0;
    ElementId next_element_id_ = 0;
    std::vector<Kv> kv_;
    std::vector<std::pair<std::string, std::vector<std::pair<std::string, SharedBytes>>>> hashes_;
    std::vector<Queue> queues_;
    std::vector<std::pair<std::string, std::int64_t>> counters_;
  };
  Frozen freeze() const;

  // The result apply() would give `command` now, when that result refuses
  // it and changes nothing: a bounded push into a queue that is already
  // full (without a side-stored body, whose copies only the applied
  // refusal releases). nullopt for every other command, a push that fits,
  // and anything malformed. A node answers such a command at once instead
  // of committing a log entry, replicated and fsynced on every node, that
  // only refuses it: when a function's queue is full, its callers would
  // otherwise cost the cluster as much as accepted calls.
  std::optional<std::string> refusal(std::string_view command) const;

  Index last_applied() const noexcept { return last_applied_; }

  // Attachments of the items acked since the last call (every replica
  // reports the same ones, at the same entries): the node deletes its copy
  // of each blob. Not part of the state: a restore forgets them (the blob
  // sweep finds what they named).
  std::vector<std::string> take_released_attachments() { return std::exchange(released_, {}); }
  TimeMs clock_ms() const noexcept { return clock_ms_; }

 private:
  struct KvValue {
    SharedBytes value;
    TimeMs expires_at = 0;  // 0: never
  };
  struct QueueItem {
    SharedBytes payload;
    std::string attachment;  // empty: none
    TimeMs visible_at = 0;   // retry time; 0 when pushed
    TimeMs lease_until = 0;  // 0: not leased since the last requeue or push
    std::uint32_t takes = 0;
    TimeMs available_at() const { return lease_until != 0 ? lease_until : visible_at; }
    // What the item counts for against QueueLimits::max_bytes.
    std::uint64_t bytes() const { return payload.size() + attachment.size(); }
  };
  struct Queue {
    std::map<ElementId, QueueItem> items;
    std::uint64_t bytes = 0;  // of its items
    // Every item is in exactly one of these. `ready`: available at or before
    // the clock, in push order. `pending`: by (available_at, id), waiting for
    // a lease to end or a retry time; moved to `ready` by the next take once
    // the clock passes it.
    std::set<ElementId> ready;
    std::set<std::pair<TimeMs, ElementId>> pending;

    void index(ElementId id, const QueueItem& item, TimeMs clock);
    void unindex(ElementId id, const QueueItem& item);
  };

  std::string execute(std::string_view command, ResultUse use);
  // A batch command's commands, after its opcode; its framing is read whole
  // (throws codec::MalformedError) before any of them runs.
  static std::vector<std::string_view> batch_commands(codec::Reader& r);
  // Each command's result, in order; a nested batch or a malformed command
  // answers an error result and the others still run.
  std::vector<std::string> execute_each(const std::vector<std::string_view>& commands, ResultUse use);
  static std::optional<std::string> full_queue_refusal(const Queue& queue, const QueueLimits& limits,
                                                       std::size_t push_bytes);
  void advance_clock(TimeMs now_ms);
  void erase_kv(std::map<std::string, KvValue, std::less<>>::iterator it);
  const KvValue* live_kv(std::string_view key, TimeMs now_ms) const;

  Index last_applied_ = 0;
  TimeMs clock_ms_ = 0;
  ElementId next_element_id_ = 1;
  std::map<std::string, KvValue, std::less<>> kv_;
  std::set<std::pair<TimeMs, std::string>> kv_expiry_;  // keys with a TTL, by expiry
  std::map<std::string, std::map<std::string, SharedBytes, std::less<>>, std::less<>> hashes_;
  std::map<std::string, Queue, std::less<>> queues_;
  std::map<std::string, std::int64_t, std::less<>> counters_;
  std::multiset<std::string, std::less<>> attachments_;  // of live items
  std::vector<std::string> released_;
};

}  // namespace slimfaas::store
