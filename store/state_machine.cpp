#include "store/state_machine.hpp"

#include <algorithm>
#include <limits>
#include <stdexcept>

#include "store/state_machine_codec.hpp"

// Result layouts (after the status byte) are the ones results:: decodes in
// state_machine_commands.cpp; the unit tests round-trip every operation.
//
// Snapshot format, version 1:
//   u8 version | varint last_applied | varint clock_ms | varint next_element_id
//   varint kv count      { bytes key | bytes value | varint expires_at }
//   varint hash count    { bytes name | varint field count { bytes field | bytes value } }
//   varint queue count   { bytes name | varint item count
//                          { varint id | varint visible_at | varint lease_until |
//                            varint takes | bytes payload } }
//   varint counter count { bytes name | zigzag value }
// Maps are written in key order, so equal states give equal bytes.

namespace slimfaas::store {
namespace {

using codec::kMaxVarintBytes;
using codec::MalformedError;
using codec::Reader;
using codec::Writer;

// 2: queue items carry their attachment. Version 1 snapshots still load.
constexpr std::uint8_t kSnapshotVersion = 2;

Writer ok(std::size_t reserve = 0) {
  Writer w(1 + reserve);
  w.u8(static_cast<std::uint8_t>(results::Status::Ok));
  return w;
}
std::string ok_flag(bool flag) { return std::move(ok(1).u8(flag ? 1 : 0)).take(); }
std::string error(std::string_view message) {
  Writer w(1 + kMaxVarintBytes + message.size());
  w.u8(static_cast<std::uint8_t>(results::Status::Error)).bytes(message);
  return std::move(w).take();
}
std::string already_applied() {
  return std::string(1, static_cast<char>(results::Status::AlreadyApplied));
}

TimeMs saturating_add(TimeMs a, std::uint64_t b) {
  return b > std::numeric_limits<TimeMs>::max() - a ? std::numeric_limits<TimeMs>::max() : a + b;
}

}  // namespace

// --- queue indexes ---------------------------------------------------------

void StateMachine::Queue::index(ElementId id, const QueueItem& item, TimeMs clock) {
  if (item.available_at() <= clock)
    ready.insert(id);
  else
    pending.emplace(item.available_at(), id);
}

void StateMachine::Queue::unindex(ElementId id, const QueueItem& item) {
  if (ready.erase(id) == 0) pending.erase({item.available_at(), id});
}

// --- apply -----------------------------------------------------------------

std::string StateMachine::apply(const Entry& entry, ResultUse use) {
  if (entry.index <= last_applied_) return already_applied();
  if (entry.index != last_applied_ + 1)
    throw std::logic_error("state machine: entry " + std::to_string(entry.index) +
                           " applied after " + std::to_string(last_applied_) +
                           " (entries skipped)");
  last_applied_ = entry.index;
  if (entry.kind == Entry::Kind::Noop) return std::move(ok()).take();
  try {
    return execute(entry.data, use);
  } catch (const MalformedError& e) {
    return error(std::string("malformed command: ") + e.what());
  }
}

std::vector<std::string> StateMachine::apply_split(const Entry& entry, ResultUse use) {
  std::vector<std::string_view> commands;
  if (entry.kind == Entry::Kind::Command && entry.index == last_applied_ + 1 && commands::is_batch(entry.data)) {
    try {
      Reader r(entry.data);
      r.u8();
      commands = batch_commands(r);
    } catch (const MalformedError&) {
      commands.clear();  // apply() answers it
    }
  }
  if (commands.empty()) {
    std::vector<std::string> one;
    one.push_back(apply(entry, use));
    return one;
  }
  last_applied_ = entry.index;
  return execute_each(commands, use);
}

std::vector<std::string_view> StateMachine::batch_commands(Reader& r) {
  // The framing is read whole first: a truncated batch changes nothing.
  std::vector<std::string_view> commands(r.varint());
  for (auto& command : commands) command = r.bytes();
  r.expect_end();
  return commands;
}

std::vector<std::string> StateMachine::execute_each(const std::vector<std::string_view>& commands, ResultUse use) {
  std::vector<std::string> results;
  results.reserve(commands.size());
  for (auto command : commands) {
    if (commands::is_batch(command)) {
      results.push_back(error("a batch may not contain a batch"));
      continue;
    }
    try {
      results.push_back(execute(command, use));
    } catch (const MalformedError& e) {
      results.push_back(error(std::string("malformed command: ") + e.what()));
    }
  }
  return results;
}

void StateMachine::advance_clock(TimeMs now_ms) {
  if (now_ms <= clock_ms_) return;
  clock_ms_ = now_ms;
  while (!kv_expiry_.empty() && kv_expiry_.begin()->first <= clock_ms_) {
    auto it = kv_.find(kv_expiry_.begin()->second);
    kv_expiry_.erase(kv_expiry_.begin());
    if (it != kv_.end()) kv_.erase(it);
  }
}

void StateMachine::erase_kv(std::map<std::string, KvValue, std::less<>>::iterator it) {
  if (it->second.expires_at != 0) kv_expiry_.erase({it->second.expires_at, it->first});
  kv_.erase(it);
}

// The result of a bounded push that `queue` cannot take, or nullopt.
std::optional<std::string> StateMachine::full_queue_refusal(const Queue& queue, const QueueLimits& limits,
                                                            std::size_t push_bytes) {
  const bool full = (limits.max_items != 0 && queue.items.size() >= limits.max_items) ||
                    (limits.max_bytes != 0 && queue.bytes + push_bytes > limits.max_bytes);
  if (!full) return std::nullopt;
  return std::move(ok(1 + 2 * kMaxVarintBytes).u8(0).varint(queue.items.size()).varint(queue.bytes)).take();
}

std::optional<std::string> StateMachine::refusal(std::string_view command) const {
  try {
    Reader r(command);
    if (static_cast<Opcode>(r.u8()) != Opcode::QueuePushBounded) return std::nullopt;
    std::string_view name = r.bytes();
    std::string_view payload = r.bytes();
    std::string_view attachment = r.bytes();
    QueueLimits limits;
    limits.max_items = r.varint();
    limits.max_bytes = r.varint();
    r.expect_end();
    if (!attachment.empty()) return std::nullopt;
    auto q = queues_.find(name);
    if (q == queues_.end()) return std::nullopt;
    return full_queue_refusal(q->second, limits, payload.size());
  } catch (const codec::MalformedError&) {
    return std::nullopt;  // apply() answers it (with an error result)
  }
}

// Every case reads all its fields (and checks nothing trails) before it
// changes anything: a malformed command leaves the state as it was.
std::string StateMachine::execute(std::string_view command, ResultUse use) {
  Reader r(command);
  const auto op = static_cast<Opcode>(r.u8());
  switch (op) {
    case Opcode::KvSet: {
      std::string_view key = r.bytes();
      std::string_view value = r.bytes();
      TimeMs now = r.varint();
      std::uint64_t ttl = r.varint();
      r.expect_end();
      advance_clock(now);
      auto it = kv_.find(key);
      if (it == kv_.end()) {
        it = kv_.emplace(std::string(key), KvValue{}).first;
      } else if (it->second.expires_at != 0) {
        kv_expiry_.erase({it->second.expires_at, it->first});
      }
      it->second.value = SharedBytes(std::string(value));
      // From the machine's clock, not the proposer's: a lagging proposer's
      // key still lives its whole TTL.
      it->second.expires_at = ttl == 0 ? 0 : saturating_add(clock_ms_, ttl);
      if (it->second.expires_at != 0) kv_expiry_.emplace(it->second.expires_at, it->first);
      return std::move(ok()).take();
    }
    case Opcode::KvDelete: {
      std::string_view key = r.bytes();
      r.expect_end();
      auto it = kv_.find(key);
      if (it == kv_.end()) return ok_flag(false);
      erase_kv(it);
      return ok_flag(true);
    }
    case Opcode::HashSet: {
      std::string_view hash = r.bytes();
      std::string_view field = r.bytes();
      std::string_view value = r.bytes();
      r.expect_end();
      auto h = hashes_.find(hash);
      if (h == hashes_.end()) h = hashes_.emplace(std::string(hash), decltype(h->second){}).first;
      auto f = h->second.find(field);
      if (f != h->second.end()) {
        f->second = SharedBytes(std::string(value));
        return ok_flag(false);
      }
      h->second.emplace(std::string(field), SharedBytes(std::string(value)));
      return ok_flag(true);
    }
    case Opcode::HashDelete: {
      std::string_view hash = r.bytes();
      std::string_view field = r.bytes();
      r.expect_end();
      auto h = hashes_.find(hash);
      if (h == hashes_.end()) return ok_flag(false);
      auto f = h->second.find(field);
      if (f == h->second.end()) return ok_flag(false);
      h->second.erase(f);
      if (h->second.empty()) hashes_.erase(h);
      return ok_flag(true);
    }
    case Opcode::HashClear: {
      std::string_view hash = r.bytes();
      r.expect_end();
      auto h = hashes_.find(hash);
      std::uint64_t removed = 0;
      if (h != hashes_.end()) {
        removed = h->second.size();
        hashes_.erase(h);
      }
      return std::move(ok(kMaxVarintBytes).varint(removed)).take();
    }
    case Opcode::QueuePush:
    case Opcode::QueuePushAttached:
    case Opcode::QueuePushBounded: {
      std::string_view name = r.bytes();
      std::string_view payload = r.bytes();
      std::string_view attachment = op != Opcode::QueuePush ? r.bytes() : std::string_view{};
      QueueLimits limits;
      if (op == Opcode::QueuePushBounded) {
        limits.max_items = r.varint();
        limits.max_bytes = r.varint();
      }
      r.expect_end();
      auto q = queues_.find(name);
      if (q != queues_.end()) {
        if (auto refused = full_queue_refusal(q->second, limits, payload.size() + attachment.size())) {
          // Nothing names the blob now: every node drops its copy.
          if (!attachment.empty() && attachments_.count(attachment) == 0) released_.emplace_back(attachment);
          return std::move(*refused);
        }
      } else {
        q = queues_.emplace(std::string(name), Queue{}).first;
      }
      ElementId id = next_element_id_++;
      auto item = q->second.items.emplace(id, QueueItem{SharedBytes(std::string(payload)), std::string(attachment), 0, 0, 0}).first;
      q->second.bytes += item->second.bytes();
      q->second.ready.insert(id);
      if (!attachment.empty()) attachments_.emplace(attachment);
      if (op == Opcode::QueuePushBounded) return std::move(ok(1 + kMaxVarintBytes).u8(1).varint(id)).take();
      return std::move(ok(kMaxVarintBytes).varint(id)).take();
    }
    case Opcode::QueueTake: {
      std::string_view name = r.bytes();
      std::uint64_t max_items = r.varint();
      TimeMs now = r.varint();
      std::uint64_t lease = r.varint();
      r.expect_end();
      advance_clock(now);
      auto q = queues_.find(name);
      if (q == queues_.end() || max_items == 0) return std::move(ok(1).varint(0)).take();
      Queue& queue = q->second;
      // Leases that ended and retry times that came: visible again.
      while (!queue.pending.empty() && queue.pending.begin()->first <= clock_ms_) {
        queue.ready.insert(queue.pending.begin()->second);
        queue.pending.erase(queue.pending.begin());
      }
      const std::size_t count = std::min<std::uint64_t>(max_items, queue.ready.size());
      // A zero lease would hand the item out again at once; one ms at least.
      const TimeMs lease_until = saturating_add(clock_ms_, std::max<std::uint64_t>(lease, 1));
      // Sized first: the bodies go in without the result growing.
      const bool carries_items = use == ResultUse::read;
      std::size_t bytes = kMaxVarintBytes;
      auto it = queue.ready.begin();
      for (std::size_t i = 0; carries_items && i < count; ++i, ++it)
        bytes += 4 * kMaxVarintBytes + queue.items.at(*it).payload.size() + queue.items.at(*it).attachment.size();
      Writer w = ok(bytes);
      w.varint(count);
      for (std::size_t i = 0; i < count; ++i) {
        ElementId id = *queue.ready.begin();
        queue.ready.erase(queue.ready.begin());
        QueueItem& item = queue.items.at(id);
        item.lease_until = lease_until;
        if (carries_items) w.varint(id).varint(item.takes).bytes(item.payload).bytes(item.attachment);
        ++item.takes;
        queue.pending.emplace(lease_until, id);
      }
      return std::move(w).take();
    }
    case Opcode::QueueAck: {
      std::string_view name = r.bytes();
      ElementId id = r.varint();
      r.expect_end();
      auto q = queues_.find(name);
      if (q == queues_.end()) return ok_flag(false);
      auto item = q->second.items.find(id);
      if (item == q->second.items.end()) return ok_flag(false);
      q->second.unindex(id, item->second);
      if (const std::string& attachment = item->second.attachment; !attachment.empty()) {
        attachments_.erase(attachments_.find(attachment));
        // Released once no live item names it any more.
        if (attachments_.count(attachment) == 0) released_.push_back(attachment);
      }
      q->second.bytes -= item->second.bytes();
      q->second.items.erase(item);
      if (q->second.items.empty()) queues_.erase(q);
      return ok_flag(true);
    }
    case Opcode::QueueRequeue:
    case Opcode::QueueRelease: {
      const bool release = op == Opcode::QueueRelease;
      std::string_view name = r.bytes();
      ElementId id = r.varint();
      std::uint64_t try_number = r.varint();
      TimeMs visible_at = release ? 0 : r.varint();
      r.expect_end();
      auto outcome = [](RequeueOutcome o) {
        return std::move(ok(1).u8(static_cast<std::uint8_t>(o))).take();
      };
      auto q = queues_.find(name);
      if (q == queues_.end()) return outcome(RequeueOutcome::NotFound);
      auto item = q->second.items.find(id);
      if (item == q->second.items.end()) return outcome(RequeueOutcome::NotFound);
      // Only the latest take may requeue (never-taken items have no take).
      if (item->second.takes == 0 || item->second.takes - 1 != try_number)
        return outcome(RequeueOutcome::Stale);
      // A release gives back a lease its take still holds: requeued since,
      // there is nothing to give back.
      if (release && item->second.lease_until == 0) return outcome(RequeueOutcome::Stale);
      q->second.unindex(id, item->second);
      item->second.lease_until = 0;
      if (release) --item->second.takes;  // never attempted: the take was not a try
      else item->second.visible_at = visible_at;
      q->second.index(id, item->second, clock_ms_);
      return outcome(RequeueOutcome::Requeued);
    }
    case Opcode::CounterAdd: {
      std::string_view name = r.bytes();
      std::int64_t delta = r.zigzag();
      r.expect_end();
      auto c = counters_.find(name);
      if (c == counters_.end()) c = counters_.emplace(std::string(name), 0).first;
      // Wraps on overflow (unsigned arithmetic) instead of undefined behavior.
      c->second = static_cast<std::int64_t>(static_cast<std::uint64_t>(c->second) +
                                            static_cast<std::uint64_t>(delta));
      return std::move(ok(kMaxVarintBytes).zigzag(c->second)).take();
    }
    case Opcode::Batch: {
      const std::vector<std::string> results = execute_each(batch_commands(r), use);
      std::size_t bytes = kMaxVarintBytes;
      for (const auto& result : results) bytes += kMaxVarintBytes + result.size();
      Writer w = ok(bytes);
      w.varint(results.size());
      for (const auto& result : results) w.bytes(result);
      return std::move(w).take();
    }
    case Opcode::KvGet:
    case Opcode::HashGet:
    case Opcode::HashGetAll:
    case Opcode::QueueStatus:
    case Opcode::QueueItem:
    case Opcode::CounterGet:
    case Opcode::AttachmentLive:
      return error("a query was proposed as a command (opcode " + std::to_string(int(op)) + ")");
  }
  return error("unknown command opcode " + std::to_string(int(op)));
}

// --- query -----------------------------------------------------------------

const StateMachine::KvValue* StateMachine::live_kv(std::string_view key, TimeMs now_ms) const {
  auto it = kv_.find(key);
  if (it == kv_.end()) return nullptr;
  if (it->second.expires_at != 0 && it->second.expires_at <= std::max(now_ms, clock_ms_)) return nullptr;
  return &it->second;
}

std::string StateMachine::query(std::string_view query) const {
  try {
    Reader r(query);
    const auto op = static_cast<Opcode>(r.u8());
    switch (op) {
      case Opcode::KvGet: {
        std::string_view key = r.bytes();
        TimeMs now = r.varint();
        r.expect_end();
        const KvValue* value = live_kv(key, now);
        if (value == nullptr) return ok_flag(false);
        return std::move(ok(1 + kMaxVarintBytes + value->value.size()).u8(1).bytes(value->value)).take();
      }
      case Opcode::HashGet: {
        std::string_view hash = r.bytes();
        std::string_view field = r.bytes();
        r.expect_end();
        auto h = hashes_.find(hash);
        if (h == hashes_.end()) return ok_flag(false);
        auto f = h->second.find(field);
        if (f == h->second.end()) return ok_flag(false);
        return std::move(ok(1 + kMaxVarintBytes + f->second.size()).u8(1).bytes(f->second)).take();
      }
      case Opcode::HashGetAll: {
        std::string_view hash = r.bytes();
        r.expect_end();
        auto h = hashes_.find(hash);
        if (h == hashes_.end()) return std::move(ok(1).varint(0)).take();
        std::size_t bytes = kMaxVarintBytes;
        for (const auto& [field, value] : h->second) bytes += 2 * kMaxVarintBytes + field.size() + value.size();
        Writer w = ok(bytes);
        w.varint(h->second.size());
        for (const auto& [field, value] : h->second) w.bytes(field).bytes(value);
        return std::move(w).take();
      }
      case Opcode::QueueStatus: {
        std::string_view name = r.bytes();
        TimeMs now = std::max(r.varint(), clock_ms_);
        r.expect_end();
        QueueStatus status;
        auto q = queues_.find(name);
        if (q != queues_.end()) {
          status.ready = q->second.ready.size();
          for (const auto& [available_at, id] : q->second.pending) {
            if (available_at <= now)
              ++status.ready;
            else if (q->second.items.at(id).lease_until != 0)
              ++status.in_flight;
            else
              ++status.waiting_retry;
          }
        }
        return std::move(ok(3 * kMaxVarintBytes).varint(status.ready).varint(status.in_flight).varint(status.waiting_retry))
            .take();
      }
      case Opcode::QueueItem: {
        std::string_view name = r.bytes();
        ElementId id = r.varint();
        TimeMs now = std::max(r.varint(), clock_ms_);
        r.expect_end();
        auto q = queues_.find(name);
        if (q == queues_.end()) return ok_flag(false);
        auto item = q->second.items.find(id);
        if (item == q->second.items.end()) return ok_flag(false);
        const QueueItem& i = item->second;
        auto phase = i.available_at() <= now ? QueueItemState::Phase::Ready
                     : i.lease_until != 0    ? QueueItemState::Phase::InFlight
                                             : QueueItemState::Phase::WaitingRetry;
        return std::move(ok(2 + 2 * kMaxVarintBytes)
                             .u8(1)
                             .u8(static_cast<std::uint8_t>(phase))
                             .varint(i.takes)
                             .varint(i.available_at()))
            .take();
      }
      case Opcode::CounterGet: {
        std::string_view name = r.bytes();
        r.expect_end();
        auto c = counters_.find(name);
        return std::move(ok(kMaxVarintBytes).zigzag(c == counters_.end() ? 0 : c->second)).take();
      }
      case Opcode::AttachmentLive: {
        std::string_view attachment = r.bytes();
        r.expect_end();
        return ok_flag(attachments_.find(attachment) != attachments_.end());
      }
      default:
        return error("not a query opcode " + std::to_string(int(op)));
    }
  } catch (const MalformedError& e) {
    return error(std::string("malformed query: ") + e.what());
  }
}

// --- snapshot --------------------------------------------------------------

std::string StateMachine::snapshot() const {
  std::string out;
  freeze().write_to([&out](std::string_view piece) { out.append(piece); });
  return out;
}

StateMachine::Frozen StateMachine::freeze() const {
  Frozen f;
  f.last_applied_ = last_applied_;
  f.clock_ms_ = clock_ms_;
  f.next_element_id_ = next_element_id_;
  f.kv_.reserve(kv_.size());
  for (const auto& [key, v] : kv_) f.kv_.push_back({key, v.value, v.expires_at});
  f.hashes_.reserve(hashes_.size());
  for (const auto& [name, fields] : hashes_)
    f.hashes_.emplace_back(name, std::vector<std::pair<std::string, SharedBytes>>(fields.begin(), fields.end()));
  f.queues_.reserve(queues_.size());
  for (const auto& [name, queue] : queues_) {
    auto& frozen = f.queues_.emplace_back(Frozen::Queue{name, queue.items.size(), {}});
    frozen.chunks.reserve((queue.items.size() + Frozen::kItemsPerChunk - 1) / Frozen::kItemsPerChunk);
    for (const auto& [id, item] : queue.items) {
      if (frozen.chunks.empty() || frozen.chunks.back().size() == Frozen::kItemsPerChunk)
        frozen.chunks.emplace_back().reserve(Frozen::kItemsPerChunk);
      frozen.chunks.back().push_back({id, item.visible_at, item.lease_until, item.takes, item.payload, item.attachment});
    }
  }
  f.counters_.assign(counters_.begin(), counters_.end());
  return f;
}

void StateMachine::Frozen::write_to(const std::function<void(std::string_view)>& sink, std::size_t piece_bytes) const {
  Writer w(piece_bytes + 64 * 1024);
  // Hands over what is encoded once it reaches a piece (items are small
  // next to a piece, so pieces stay about piece_bytes).
  const auto maybe_flush = [&] {
    if (w.size() < piece_bytes) return;
    sink(w.view());
    w.clear();
  };
  w.u8(kSnapshotVersion).varint(last_applied_).varint(clock_ms_).varint(next_element_id_);
  w.varint(kv_.size());
  for (const auto& kv : kv_) {
    w.bytes(kv.key).bytes(kv.value).varint(kv.expires_at);
    maybe_flush();
  }
  w.varint(hashes_.size());
  for (const auto& [name, fields] : hashes_) {
    w.bytes(name).varint(fields.size());
    for (const auto& [field, value] : fields) {
      w.bytes(field).bytes(value);
      maybe_flush();
    }
  }
  w.varint(queues_.size());
  for (const auto& queue : queues_) {
    w.bytes(queue.name).varint(queue.items);
    for (const auto& chunk : queue.chunks) {
      for (const auto& item : chunk) {
        w.varint(item.id).varint(item.visible_at).varint(item.lease_until).varint(item.takes).bytes(item.payload).bytes(
            item.attachment);
        maybe_flush();
      }
    }
  }
  w.varint(counters_.size());
  for (const auto& [name, value] : counters_) w.bytes(name).zigzag(value);
  if (w.size() > 0) sink(w.view());
}

void StateMachine::restore(std::string_view snapshot) {
  Reader r(snapshot);
  const std::uint8_t version = r.u8();
  if (version != 1 && version != kSnapshotVersion) throw MalformedError("unsupported state machine snapshot version");
  StateMachine restored;
  restored.last_applied_ = r.varint();
  restored.clock_ms_ = r.varint();
  restored.next_element_id_ = r.varint();
  for (std::uint64_t n = r.varint(); n > 0; --n) {
    std::string key(r.bytes());
    KvValue value{SharedBytes(std::string(r.bytes())), r.varint()};
    if (value.expires_at != 0) restored.kv_expiry_.emplace(value.expires_at, key);
    restored.kv_.insert_or_assign(std::move(key), std::move(value));
  }
  for (std::uint64_t n = r.varint(); n > 0; --n) {
    auto& fields = restored.hashes_[std::string(r.bytes())];
    for (std::uint64_t f = r.varint(); f > 0; --f) {
      std::string field(r.bytes());
      fields.insert_or_assign(std::move(field), SharedBytes(std::string(r.bytes())));
    }
  }
  for (std::uint64_t n = r.varint(); n > 0; --n) {
    Queue& queue = restored.queues_[std::string(r.bytes())];
    for (std::uint64_t i = r.varint(); i > 0; --i) {
      ElementId id = r.varint();
      QueueItem item;
      item.visible_at = r.varint();
      item.lease_until = r.varint();
      item.takes = static_cast<std::uint32_t>(r.varint());
      item.payload = SharedBytes(std::string(r.bytes()));
      if (version >= 2) item.attachment = std::string(r.bytes());
      if (!item.attachment.empty()) restored.attachments_.insert(item.attachment);
      if (id >= restored.next_element_id_) throw MalformedError("queue item id past the next id");
      queue.bytes += item.bytes();
      if (!queue.items.emplace(id, std::move(item)).second) throw MalformedError("duplicate queue item id");
    }
    for (const auto& [id, item] : queue.items) queue.index(id, item, restored.clock_ms_);
  }
  for (std::uint64_t n = r.varint(); n > 0; --n) {
    std::string name(r.bytes());
    restored.counters_.insert_or_assign(std::move(name), r.zigzag());
  }
  r.expect_end();
  *this = std::move(restored);
}

}  // namespace slimfaas::store
