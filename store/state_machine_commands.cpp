#include "store/state_machine_commands.hpp"

#include "store/state_machine_codec.hpp"

namespace slimfaas::store {
namespace {

using codec::kMaxVarintBytes;
using codec::Reader;
using codec::Writer;

// Room for the opcode and a few varints besides the strings' own bytes.
constexpr std::size_t kOverhead = 1 + 6 * kMaxVarintBytes;

Writer start(Opcode op, std::size_t payload_bytes) {
  Writer w(kOverhead + payload_bytes);
  w.u8(static_cast<std::uint8_t>(op));
  return w;
}

// A reader positioned after an ok status; throws CommandError otherwise.
Reader ok_body(std::string_view result) {
  Reader r(result);
  std::uint8_t status = 0;
  try {
    status = r.u8();
  } catch (const codec::MalformedError&) {
    throw CommandError("state machine result is empty");
  }
  switch (static_cast<results::Status>(status)) {
    case results::Status::Ok:
      return r;
    case results::Status::Error:
      throw CommandError("state machine refused the command: " + std::string(r.bytes()));
    case results::Status::AlreadyApplied:
      throw CommandError("state machine entry was applied before; its result is gone");
  }
  throw CommandError("state machine result has unknown status " + std::to_string(status));
}

// Decodes a result with `read`, turning malformed bytes into CommandError.
template <typename Read>
auto decode(std::string_view result, Read read) {
  Reader r = ok_body(result);
  try {
    auto value = read(r);
    r.expect_end();
    return value;
  } catch (const codec::MalformedError& e) {
    throw CommandError(std::string("state machine result is malformed: ") + e.what());
  }
}

std::optional<std::string> optional_bytes(Reader& r) {
  if (r.u8() == 0) return std::nullopt;
  return std::string(r.bytes());
}

}  // namespace

namespace commands {

std::string kv_set(std::string_view key, std::string_view value, TimeMs now_ms,
                   std::optional<std::uint64_t> ttl_ms) {
  Writer w = start(Opcode::KvSet, key.size() + value.size());
  w.bytes(key).bytes(value).varint(now_ms).varint(ttl_ms.value_or(0));
  return std::move(w).take();
}
std::string kv_delete(std::string_view key) {
  Writer w = start(Opcode::KvDelete, key.size());
  w.bytes(key);
  return std::move(w).take();
}
std::string hash_set(std::string_view hash, std::string_view field, std::string_view value) {
  Writer w = start(Opcode::HashSet, hash.size() + field.size() + value.size());
  w.bytes(hash).bytes(field).bytes(value);
  return std::move(w).take();
}
std::string hash_delete(std::string_view hash, std::string_view field) {
  Writer w = start(Opcode::HashDelete, hash.size() + field.size());
  w.bytes(hash).bytes(field);
  return std::move(w).take();
}
std::string hash_clear(std::string_view hash) {
  Writer w = start(Opcode::HashClear, hash.size());
  w.bytes(hash);
  return std::move(w).take();
}
std::string queue_push(std::string_view queue, std::string_view payload) {
  Writer w = start(Opcode::QueuePush, queue.size() + payload.size());
  w.bytes(queue).bytes(payload);
  return std::move(w).take();
}
std::string queue_push(std::string_view queue, std::string_view payload, std::string_view attachment) {
  Writer w = start(Opcode::QueuePushAttached, queue.size() + payload.size() + attachment.size());
  w.bytes(queue).bytes(payload).bytes(attachment);
  return std::move(w).take();
}
std::string queue_push(std::string_view queue, std::string_view payload, std::string_view attachment,
                       const QueueLimits& limits) {
  Writer w = start(Opcode::QueuePushBounded, queue.size() + payload.size() + attachment.size() + 2 * kMaxVarintBytes);
  w.bytes(queue).bytes(payload).bytes(attachment).varint(limits.max_items).varint(limits.max_bytes);
  return std::move(w).take();
}
std::string queue_take(std::string_view queue, std::uint32_t max_items, TimeMs now_ms,
                       std::uint64_t lease_ms) {
  Writer w = start(Opcode::QueueTake, queue.size());
  w.bytes(queue).varint(max_items).varint(now_ms).varint(lease_ms);
  return std::move(w).take();
}
std::string queue_ack(std::string_view queue, ElementId id) {
  Writer w = start(Opcode::QueueAck, queue.size());
  w.bytes(queue).varint(id);
  return std::move(w).take();
}
std::string queue_requeue(std::string_view queue, ElementId id, std::uint32_t try_number,
                          TimeMs visible_at_ms) {
  Writer w = start(Opcode::QueueRequeue, queue.size());
  w.bytes(queue).varint(id).varint(try_number).varint(visible_at_ms);
  return std::move(w).take();
}
std::string queue_release(std::string_view queue, ElementId id, std::uint32_t try_number) {
  Writer w = start(Opcode::QueueRelease, queue.size());
  w.bytes(queue).varint(id).varint(try_number);
  return std::move(w).take();
}
std::string counter_add(std::string_view counter, std::int64_t delta) {
  Writer w = start(Opcode::CounterAdd, counter.size());
  w.bytes(counter).zigzag(delta);
  return std::move(w).take();
}

std::string batch(const std::vector<std::string>& commands) {
  std::size_t bytes = 0;
  for (const auto& command : commands) bytes += kMaxVarintBytes + command.size();
  Writer w = start(Opcode::Batch, bytes);
  w.varint(commands.size());
  for (const auto& command : commands) w.bytes(command);
  return std::move(w).take();
}

bool is_batch(std::string_view command) {
  return !command.empty() && static_cast<Opcode>(command[0]) == Opcode::Batch;
}

}  // namespace commands

namespace queries {

std::string kv_get(std::string_view key, TimeMs now_ms) {
  Writer w = start(Opcode::KvGet, key.size());
  w.bytes(key).varint(now_ms);
  return std::move(w).take();
}
std::string hash_get(std::string_view hash, std::string_view field) {
  Writer w = start(Opcode::HashGet, hash.size() + field.size());
  w.bytes(hash).bytes(field);
  return std::move(w).take();
}
std::string hash_get_all(std::string_view hash) {
  Writer w = start(Opcode::HashGetAll, hash.size());
  w.bytes(hash);
  return std::move(w).take();
}
std::string queue_status(std::string_view queue, TimeMs now_ms) {
  Writer w = start(Opcode::QueueStatus, queue.size());
  w.bytes(queue).varint(now_ms);
  return std::move(w).take();
}
std::string queue_item(std::string_view queue, ElementId id, TimeMs now_ms) {
  Writer w = start(Opcode::QueueItem, queue.size());
  w.bytes(queue).varint(id).varint(now_ms);
  return std::move(w).take();
}
std::string counter_get(std::string_view counter) {
  Writer w = start(Opcode::CounterGet, counter.size());
  w.bytes(counter);
  return std::move(w).take();
}

std::string attachment_live(std::string_view attachment) {
  Writer w = start(Opcode::AttachmentLive, attachment.size());
  w.bytes(attachment);
  return std::move(w).take();
}

}  // namespace queries

namespace results {

Status status(std::string_view result) {
  if (result.empty()) throw CommandError("state machine result is empty");
  auto s = static_cast<std::uint8_t>(result[0]);
  if (s > static_cast<std::uint8_t>(Status::AlreadyApplied))
    throw CommandError("state machine result has unknown status " + std::to_string(s));
  return static_cast<Status>(s);
}

void kv_set(std::string_view result) {
  decode(result, [](Reader&) { return 0; });
}
bool kv_delete(std::string_view result) {
  return decode(result, [](Reader& r) { return r.u8() != 0; });
}
bool hash_set(std::string_view result) {
  return decode(result, [](Reader& r) { return r.u8() != 0; });
}
bool hash_delete(std::string_view result) {
  return decode(result, [](Reader& r) { return r.u8() != 0; });
}
std::uint64_t hash_clear(std::string_view result) {
  return decode(result, [](Reader& r) { return r.varint(); });
}
ElementId queue_push(std::string_view result) {
  return decode(result, [](Reader& r) { return r.varint(); });
}
PushOutcome queue_push_bounded(std::string_view result) {
  return decode(result, [](Reader& r) {
    PushOutcome outcome;
    if (r.u8() != 0) {
      outcome.id = r.varint();
    } else {
      outcome.items = r.varint();
      outcome.bytes = r.varint();
    }
    return outcome;
  });
}
std::vector<TakenItem> queue_take(std::string_view result) {
  return decode(result, [](Reader& r) {
    std::vector<TakenItem> items(r.varint());
    for (TakenItem& item : items) {
      item.id = r.varint();
      item.try_number = static_cast<std::uint32_t>(r.varint());
      item.payload = std::string(r.bytes());
      item.attachment = std::string(r.bytes());
    }
    return items;
  });
}
bool queue_ack(std::string_view result) {
  return decode(result, [](Reader& r) { return r.u8() != 0; });
}
RequeueOutcome queue_requeue(std::string_view result) {
  return decode(result, [](Reader& r) {
    std::uint8_t v = r.u8();
    if (v > static_cast<std::uint8_t>(RequeueOutcome::Stale))
      throw codec::MalformedError("unknown requeue outcome");
    return static_cast<RequeueOutcome>(v);
  });
}
std::int64_t counter_add(std::string_view result) {
  return decode(result, [](Reader& r) { return r.zigzag(); });
}
std::vector<std::string> batch(std::string_view result) {
  return decode(result, [](Reader& r) {
    std::vector<std::string> results(r.varint());
    for (auto& one : results) one = std::string(r.bytes());
    return results;
  });
}
std::optional<std::string> kv_get(std::string_view result) {
  return decode(result, [](Reader& r) { return optional_bytes(r); });
}
std::optional<std::string> hash_get(std::string_view result) {
  return decode(result, [](Reader& r) { return optional_bytes(r); });
}
std::map<std::string, std::string> hash_get_all(std::string_view result) {
  return decode(result, [](Reader& r) {
    std::map<std::string, std::string> fields;
    for (std::uint64_t n = r.varint(); n > 0; --n) {
      std::string field(r.bytes());
      fields.emplace(std::move(field), std::string(r.bytes()));
    }
    return fields;
  });
}
QueueStatus queue_status(std::string_view result) {
  return decode(result, [](Reader& r) {
    QueueStatus s;
    s.ready = r.varint();
    s.in_flight = r.varint();
    s.waiting_retry = r.varint();
    return s;
  });
}
std::optional<QueueItemState> queue_item(std::string_view result) {
  return decode(result, [](Reader& r) -> std::optional<QueueItemState> {
    if (r.u8() == 0) return std::nullopt;
    QueueItemState s;
    std::uint8_t phase = r.u8();
    if (phase > static_cast<std::uint8_t>(QueueItemState::Phase::WaitingRetry))
      throw codec::MalformedError("unknown item phase");
    s.phase = static_cast<QueueItemState::Phase>(phase);
    s.takes = static_cast<std::uint32_t>(r.varint());
    s.available_at = r.varint();
    return s;
  });
}
std::int64_t counter_get(std::string_view result) {
  return decode(result, [](Reader& r) { return r.zigzag(); });
}
bool attachment_live(std::string_view result) {
  return decode(result, [](Reader& r) { return r.u8() != 0; });
}

}  // namespace results
}  // namespace slimfaas::store
