#pragma once
// The typed API of SlimData's state machine: build commands (proposed
// through Raft, change state) and queries (linearizable reads, change
// nothing), and decode their results. Callers never touch the bytes.
//
//   std::string cmd = commands::queue_push("fibonacci", body);
//   ElementId id = results::queue_push(propose(cmd));   // propose: Raft layer
//   auto items = results::queue_take(propose(commands::queue_take("fibonacci", 8, now_ms, 30'000)));
//
// Wire format (compact binary; primitives in state_machine_codec.hpp: varint
// = unsigned LEB128, zigzag = signed varint, bytes = varint length + bytes):
//
//   command / query = u8 opcode, then the opcode's fields in the order of the
//                     builder's parameters. Times are milliseconds since the
//                     Unix epoch on the PROPOSER's clock (see state_machine.hpp).
//   result          = u8 status (0 ok, 1 error, 2 already applied), then for
//                     ok the operation's fields, for error a message (bytes),
//                     for already applied nothing.
//
// A 4 KiB value costs ~4 KiB + a dozen bytes; a MiB body is copied once into
// the command and never again until the state keeps it.
#include <cstdint>
#include <map>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace slimfaas::store {

using ElementId = std::uint64_t;  // unique across all queues of a cluster, never reused
using TimeMs = std::uint64_t;     // milliseconds since the Unix epoch

// A result that is not a success: the command was malformed (a bug in the
// proposer), or the entry had been applied before and its result is gone.
class CommandError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// One queue item handed out by queue_take.
struct TakenItem {
  ElementId id = 0;
  std::uint32_t try_number = 0;  // 0 on the first take, +1 on each later take
  std::string payload;
  std::string attachment;  // a blob kept beside the log (store/blob_store.hpp), or empty

  friend bool operator==(const TakenItem&, const TakenItem&) = default;
};

// Counts of a queue's items at the query's time.
struct QueueStatus {
  std::uint64_t ready = 0;          // visible: take would hand them out
  std::uint64_t in_flight = 0;      // taken, lease not yet expired
  std::uint64_t waiting_retry = 0;  // requeued to a time still ahead
  std::uint64_t total() const { return ready + in_flight + waiting_retry; }

  friend bool operator==(const QueueStatus&, const QueueStatus&) = default;
};

enum class RequeueOutcome : std::uint8_t {
  Requeued = 0,
  NotFound = 1,  // acked (or never pushed)
  Stale = 2,     // taken again since the take this requeue answers: left alone
};

// One queue item's state, for callbacks that name an element id.
struct QueueItemState {
  enum class Phase : std::uint8_t { Ready = 0, InFlight = 1, WaitingRetry = 2 };
  Phase phase = Phase::Ready;
  std::uint32_t takes = 0;  // how many times it was taken so far
  TimeMs available_at = 0;  // when it is (or was) visible: lease end or retry time

  friend bool operator==(const QueueItemState&, const QueueItemState&) = default;
};

// How much one queue may hold (0: no bound). Bytes count the items'
// payloads and blob ids as the state keeps them (a body stored beside the
// log counts by its id only: it is on disk, not in memory).
struct QueueLimits {
  std::uint64_t max_items = 0;
  std::uint64_t max_bytes = 0;

  friend bool operator==(const QueueLimits&, const QueueLimits&) = default;
};

// What a bounded push did: the new item's id, or nothing when the queue was
// full (then its size at that point).
struct PushOutcome {
  std::optional<ElementId> id;
  std::uint64_t items = 0;
  std::uint64_t bytes = 0;

  friend bool operator==(const PushOutcome&, const PushOutcome&) = default;
};

namespace commands {

// Sets `key`. With ttl_ms > 0 the key expires at now_ms + ttl_ms; now_ms is
// also the state machine's clock advance (see state_machine.hpp).
std::string kv_set(std::string_view key, std::string_view value, TimeMs now_ms,
                   std::optional<std::uint64_t> ttl_ms = std::nullopt);
std::string kv_delete(std::string_view key);

std::string hash_set(std::string_view hash, std::string_view field, std::string_view value);
std::string hash_delete(std::string_view hash, std::string_view field);
std::string hash_clear(std::string_view hash);

// Appends to the queue's tail; visible at once.
std::string queue_push(std::string_view queue, std::string_view payload);
// The same, with the id of a blob kept beside the log (a large body): the
// item carries it, and once the item is acked every replica reports it
// released (StateMachine::take_released_attachments), so each node deletes
// its copy. Results decode with results::queue_push.
std::string queue_push(std::string_view queue, std::string_view payload, std::string_view attachment);
// The same within `limits`: a queue that already holds max_items items, or
// whose bytes would pass max_bytes, refuses the item and keeps its state (an
// empty queue takes any item, so one larger than max_bytes is not refused
// forever). A refused item's attachment is reported released at once, as
// for an ack, so every node deletes the blob. Results decode with
// results::queue_push_bounded. `attachment` may be empty.
std::string queue_push(std::string_view queue, std::string_view payload, std::string_view attachment,
                       const QueueLimits& limits);
// Takes up to max_items visible items in push order, leased until
// now_ms + lease_ms: invisible to other takes until acked, requeued, or the
// lease ends (then visible again; the next take is the next try).
std::string queue_take(std::string_view queue, std::uint32_t max_items, TimeMs now_ms,
                       std::uint64_t lease_ms);
// Removes the item (delivered, or given up).
std::string queue_ack(std::string_view queue, ElementId id);
// Makes the item visible again at visible_at_ms (a retry), ending its lease.
// try_number is the one its take returned: if it was taken again since,
// the requeue is stale and changes nothing.
std::string queue_requeue(std::string_view queue, ElementId id, std::uint32_t try_number,
                          TimeMs visible_at_ms);
// Gives back an item taken but never attempted (a take ahead whose lease
// ran short before a slot freed): visible again in its place, and its take
// does not count as a try. Stale when taken again or requeued since.
// Answers a RequeueOutcome.
std::string queue_release(std::string_view queue, ElementId id, std::uint32_t try_number);

std::string counter_add(std::string_view counter, std::int64_t delta);

// Several commands in one log entry, applied in order, each with its own
// result (a malformed or refused one does not stop the others; a batch
// inside a batch is refused). For callers that produce many small commands
// at once (the async queue's outcomes): one entry costs one append, one
// replication and one apply instead of n.
std::string batch(const std::vector<std::string>& commands);

// Whether `command` is a batch (which may not go inside another one).
bool is_batch(std::string_view command);

}  // namespace commands

namespace queries {

std::string kv_get(std::string_view key, TimeMs now_ms);
std::string hash_get(std::string_view hash, std::string_view field);
std::string hash_get_all(std::string_view hash);
std::string queue_status(std::string_view queue, TimeMs now_ms);
std::string queue_item(std::string_view queue, ElementId id, TimeMs now_ms);
std::string counter_get(std::string_view counter);
// Whether a live queue item carries this attachment (the blob sweep asks
// before it deletes an old blob).
std::string attachment_live(std::string_view attachment);

}  // namespace queries

// Decoders, one per command and query, named alike. Each throws
// CommandError for an error or already-applied result.
namespace results {

enum class Status : std::uint8_t { Ok = 0, Error = 1, AlreadyApplied = 2 };
Status status(std::string_view result);

void kv_set(std::string_view result);
bool kv_delete(std::string_view result);  // true if the key existed
bool hash_set(std::string_view result);   // true if the field is new
bool hash_delete(std::string_view result);  // true if the field existed
std::uint64_t hash_clear(std::string_view result);  // fields removed
ElementId queue_push(std::string_view result);
PushOutcome queue_push_bounded(std::string_view result);
std::vector<TakenItem> queue_take(std::string_view result);
bool queue_ack(std::string_view result);  // true if the item existed
RequeueOutcome queue_requeue(std::string_view result);
std::int64_t counter_add(std::string_view result);  // the new value
// One result per command of the batch, in order; decode each with its own
// decoder.
std::vector<std::string> batch(std::string_view result);

std::optional<std::string> kv_get(std::string_view result);
std::optional<std::string> hash_get(std::string_view result);
std::map<std::string, std::string> hash_get_all(std::string_view result);
QueueStatus queue_status(std::string_view result);
std::optional<QueueItemState> queue_item(std::string_view result);
std::int64_t counter_get(std::string_view result);
bool attachment_live(std::string_view result);

}  // namespace results

// Opcodes: the first byte of a command or query. Values are the wire
// format; never renumber.
enum class Opcode : std::uint8_t {
  KvSet = 1,
  KvDelete = 2,
  HashSet = 3,
  HashDelete = 4,
  HashClear = 5,
  QueuePush = 6,
  QueueTake = 7,
  QueueAck = 8,
  QueueRequeue = 9,
  CounterAdd = 10,
  Batch = 11,
  QueuePushAttached = 12,
  QueuePushBounded = 13,
  QueueRelease = 14,
  // queries
  KvGet = 64,
  HashGet = 65,
  HashGetAll = 66,
  QueueStatus = 67,
  QueueItem = 68,
  CounterGet = 69,
  AttachmentLive = 70,
};

}  // namespace slimfaas::store
