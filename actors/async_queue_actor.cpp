#include "actors/async_queue_actor.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <deque>
#include <map>
#include <optional>
#include <set>

#include "actors/async_item.hpp"
#include "actors/async_policy.hpp"
#include "actors/attempt_inbox.hpp"
#include "actors/blob_actor.hpp"
#include "actors/inspector_actor.hpp"
#include "actors/mailbox_size.hpp"
#include "actors/messages.hpp"
#include "actors/slimdata.hpp"
#include "store/state_machine_commands.hpp"

namespace slimfaas::actors {
namespace {

using nlohmann::json;
using store::ElementId;
namespace cmd = store::commands;
namespace qry = store::queries;
namespace res = store::results;

using attempts_atom = caf::atom_constant<caf::atom("attempts")>;
using cb_wait_atom = caf::atom_constant<caf::atom("cbwait")>;
using commit_atom = caf::atom_constant<caf::atom("commit")>;
using start_atom = caf::atom_constant<caf::atom("start")>;
using ahead_atom = caf::atom_constant<caf::atom("ahead")>;

// How long to wait before asking SlimData again after it refused (no
// quorum, leadership moving): a real deadline, not a poll of the queue.
constexpr auto kRetryAfterRefusal = std::chrono::milliseconds(200);
// While the store holds leased or delayed items this node did not take (a
// previous leader's), their times are unknown here: look again this often.
constexpr auto kOrphanRecheck = std::chrono::milliseconds(1000);
constexpr int kCommitTries = 5;

store::TimeMs now_ms() {
  return static_cast<store::TimeMs>(
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::system_clock::now().time_since_epoch())
          .count());
}

struct Attempt {
  std::uint32_t try_number = 0;
  std::shared_ptr<void> slot;  // the admission slot; dropping it frees it
  Clock::time_point started;
  bool awaiting_callback = false;
  std::optional<async::CallbackStatus> early_callback;  // arrived before the 202
  std::string replica;
};

// An item taken ahead of a free slot (see pump): it waits here, leased,
// until a slot frees, or until `give_back_at`, when its lease would no
// longer cover a whole attempt and it is given back instead.
struct AheadItem {
  store::TakenItem item;
  Clock::time_point give_back_at;
};

struct QueueState {
  static inline const char* name = "async-queue";
  AsyncQueueSetup setup;
  std::string queue;
  std::string callbacks;
  bool leader = false;
  std::uint64_t generation = 0;  // bumped on each leadership change: late replies of an old reign are ignored
  bool busy = false;             // a status read or a take is out
  bool again = false;            // something happened while busy: look again after
  bool maybe_more = false;       // the last look saw ready items not yet taken
  std::uint64_t ready_hint = 0;  // how many the next take may find: the last look's count, or a full take's size
  std::uint32_t take_limit = 0;  // items the next take may ask for (async::take_limit; set at spawn)
  bool hint_exact = false;       // ready_hint is a look's count (not a guess after a full take)
  bool reading_callbacks = false;
  bool callbacks_again = false;
  bool orphan_timer = false;
  std::vector<std::string> outcomes;  // acks, requeues, callback cleanups not yet proposed
  bool committing = false;            // one outcome proposal out at a time; the rest wait for it
  Clock::time_point last_wake{};
  std::map<ElementId, Attempt> attempts;
  std::multiset<Clock::time_point> retry_times;  // own requeues still ahead
  std::deque<AheadItem> ahead;                   // taken ahead of free slots, in take order
  bool ahead_timer = false;
  double slot_hold_ms = 0;  // moving average of how long an attempt holds its slot (callback included)
  store::QueueStatus last_status;
  std::uint64_t delivered = 0, failed = 0, retried = 0, takes = 0, reads = 0, outcome_entries = 0;
  std::uint64_t taken_ahead = 0, given_back = 0;
  std::shared_ptr<AttemptInbox> inbox = std::make_shared<AttemptInbox>();
  std::vector<AttemptResult> results;  // the batch being handled (its capacity is kept)
  bool handling_results = false;       // finish() and commit() leave the pump and the proposal to the batch's end
  std::uint64_t result_batches = 0;
};

using Self = caf::stateful_actor<QueueState>*;

void pump(Self self);
void read_callbacks(Self self);

void set_gauges(Self self, const store::QueueStatus& st) {
  auto& m = self->state.setup.metrics;
  if (m.ready) m.ready->set(static_cast<double>(st.ready));
  if (m.in_flight) m.in_flight->set(static_cast<double>(st.in_flight));
  if (m.retry_pending) m.retry_pending->set(static_cast<double>(st.waiting_retry));
}

void later(Self self, Clock::duration delay) {
  self->delayed_send(self, delay, async_pump_atom::value);
}

void flush_outcomes(Self self);

// Proposes one entry of outcomes; a refusal is tried again a few times while
// this node still leads (every outcome is safe to apply twice: a second ack
// finds nothing, a second requeue is stale). Failing that, the leases end
// and the elements are delivered again (at least once).
void propose_outcomes(Self self, std::string command, std::size_t count, int tries_left) {
  auto& s = self->state;
  const auto generation = s.generation;
  ++s.outcome_entries;
  auto retry_or_give_up = [=](const std::string& why) {
    if (generation != self->state.generation) return;
    if (tries_left > 1) {
      self->delayed_send(self, kRetryAfterRefusal, commit_atom::value, generation, command, count, tries_left - 1);
      return;
    }
    spdlog::warn("async {}: {} outcome(s) could not be committed ({}); their elements will be delivered again",
                 self->state.setup.function, count, why);
    self->state.committing = false;
    flush_outcomes(self);
  };
  self->request(s.setup.slimdata, ask_local_node, propose_atom::value, command)
      .then(
          [=](const SlimDataReply& reply) {
            if (generation != self->state.generation) return;
            if (!reply.ok()) return retry_or_give_up(reply.detail);
            self->state.committing = false;
            flush_outcomes(self);
          },
          [=](caf::error& err) { retry_or_give_up(caf::to_string(err)); });
}

// Outcomes that came while the previous entry was being committed go out
// together in one batch entry: under load one entry per round trip, instead
// of one per element; an idle queue's single outcome leaves at once.
void flush_outcomes(Self self) {
  auto& s = self->state;
  if (s.committing || s.outcomes.empty()) return;
  std::vector<std::string> outcomes;
  outcomes.swap(s.outcomes);
  const auto count = outcomes.size();
  std::string command = count == 1 ? std::move(outcomes.front()) : cmd::batch(outcomes);
  s.committing = true;
  propose_outcomes(self, std::move(command), count, kCommitTries);
}

void commit(Self self, std::string command) {
  self->state.outcomes.push_back(std::move(command));
  if (!self->state.handling_results) flush_outcomes(self);  // else once the batch is handled
}

void finish(Self self, ElementId id, const async::Decision& decision) {
  auto& s = self->state;
  auto it = s.attempts.find(id);
  if (it == s.attempts.end()) return;
  Attempt attempt = std::move(it->second);
  s.attempts.erase(it);
  if (decision.verdict != async::Verdict::callback) {
    const double held_ms = std::chrono::duration<double, std::milli>(Clock::now() - attempt.started).count();
    s.slot_hold_ms = s.slot_hold_ms == 0 ? held_ms : 0.8 * s.slot_hold_ms + 0.2 * held_ms;
  }
  switch (decision.verdict) {
    case async::Verdict::done:
      ++s.delivered;
      if (s.setup.metrics.delivered) s.setup.metrics.delivered->inc();
      commit(self, cmd::queue_ack(s.queue, id));
      break;
    case async::Verdict::failed:
      ++s.failed;
      if (s.setup.metrics.failed) s.setup.metrics.failed->inc();
      spdlog::warn("async {}: element {} failed after try {} ({})", s.setup.function, id, attempt.try_number,
                   decision.reason);
      commit(self, cmd::queue_ack(s.queue, id));
      break;
    case async::Verdict::retry: {
      ++s.retried;
      if (s.setup.metrics.retried) s.setup.metrics.retried->inc();
      const auto at = now_ms() + static_cast<store::TimeMs>(decision.delay.count());
      commit(self, cmd::queue_requeue(s.queue, id, attempt.try_number, at));
      s.retry_times.insert(Clock::now() + decision.delay);
      later(self, decision.delay + std::chrono::milliseconds(5));
      break;
    }
    case async::Verdict::callback:
      break;  // not an end
  }
  attempt.slot.reset();  // the slot is free: the next element may go
  if (!s.handling_results) pump(self);
}

void on_attempt(Self self, std::uint64_t generation, ElementId id, std::uint8_t error, unsigned status,
                std::int64_t elapsed_us);

void deliver(Self self, std::uint64_t generation, ElementId id, net::ClientRequest out) {
  auto me = caf::actor_cast<caf::actor>(self);
  self->state.setup.client->send(std::move(out), [me, inbox = self->state.inbox, generation, id](net::ClientResponse r) {
    AttemptResult result{generation, id, static_cast<std::uint8_t>(r.error), r.status,
                         std::chrono::duration_cast<std::chrono::microseconds>(r.elapsed).count()};
    if (inbox->put(result)) caf::anon_send(me, attempts_atom::value);
  });
}

// Every result the inbox holds; then their outcomes go out in one entry
// (unless one is being committed: they join the next) and one pump fills
// all the slots they freed.
void on_attempts(Self self) {
  auto& s = self->state;
  s.results = s.inbox->take(std::move(s.results));
  if (s.results.empty()) return;
  ++s.result_batches;
  {
    // Reset even if a handler throws: left set, it would hold every later
    // outcome and pump back for good.
    struct Batch {
      bool& flag;
      explicit Batch(bool& f) : flag(f) { flag = true; }
      ~Batch() { flag = false; }
    } batch(s.handling_results);
    for (const auto& r : s.results) on_attempt(self, r.generation, r.id, r.error, r.status, r.elapsed_us);
  }
  flush_outcomes(self);
  pump(self);
}

void send_attempt(Self self, store::TakenItem& item, net::Admission admission) {
  auto& s = self->state;
  const auto id = item.id;
  async::QueuedRequest request;
  try {
    request = async::decode(item.payload);
  } catch (const std::exception& e) {
    spdlog::error("async {}: element {} cannot be decoded ({}); dropped", s.setup.function, id, e.what());
    ++s.failed;
    if (s.setup.metrics.failed) s.setup.metrics.failed->inc();
    commit(self, cmd::queue_ack(s.queue, id));
    return;
  }
  Attempt attempt;
  attempt.try_number = item.try_number;
  attempt.slot = std::move(admission.slot);
  attempt.started = Clock::now();
  attempt.replica = admission.replica;
  s.attempts[id] = std::move(attempt);
  s.setup.handle.board->touch();

  net::ClientRequest out;
  out.host = admission.host;
  out.port = admission.port;
  out.method = std::move(request.method);
  out.target = std::move(request.target);
  out.headers = std::move(request.headers);
  out.headers.emplace_back("SlimFaas-Element-Id", std::to_string(id));
  out.headers.emplace_back("SlimFaas-Try-Number", std::to_string(item.try_number));
  out.headers.emplace_back("Slimfaas-Last-Try", async::is_last_try(s.setup.policy, item.try_number) ? "true" : "false");
  out.body = std::move(request.body);
  out.timeout = async::attempt_timeout(s.setup.policy);
  // As many connections as the caps let run at once on the replica stay
  // open between attempts: with the configured number only, a function at
  // a higher parallelism had most of its connections closed after each
  // wave and dialed again (at parallelism 256 with 64, about 600 new
  // connections a second on a busy leader).
  out.parallel_per_host = admission.replica_parallel;
  const auto generation = s.generation;
  if (item.attachment.empty()) return deliver(self, generation, id, std::move(out));
  // A side-stored body: read from this node, else from a peer (a new leader
  // may not hold it). Unreadable everywhere reachable: a failed attempt,
  // retried as configured.
  auto pending = std::make_shared<net::ClientRequest>(std::move(out));
  fetch_blob(self, s.setup.slimdata, std::move(item.attachment), s.setup.blob_timeout,
             [self, generation, id, pending](std::shared_ptr<std::string> body) {
               auto& s = self->state;
               if (generation != s.generation || s.attempts.count(id) == 0) return;
               if (!body) {
                 spdlog::warn("async {}: element {}: its body is on no reachable node", s.setup.function, id);
                 return on_attempt(self, generation, id, static_cast<std::uint8_t>(net::ClientResponse::Error::io), 0, 0);
               }
               pending->body = std::move(*body);
               deliver(self, generation, id, std::move(*pending));
             });
}

void after_look(Self self) {
  auto& s = self->state;
  if (s.again || s.maybe_more) {
    s.again = false;
    pump(self);
  }
}

void refused(Self self, const std::string& what) {
  auto& s = self->state;
  s.busy = false;
  s.maybe_more = false;
  spdlog::debug("async {}: {}; looking again shortly", s.setup.function, what);
  later(self, kRetryAfterRefusal);
}

void look(Self self) {
  auto& s = self->state;
  s.busy = true;
  ++s.reads;
  const auto generation = s.generation;
  // The leader's own applied state is enough to size a take (the take is a
  // proposal); anything committed but not yet applied here wakes us again.
  self->request(s.setup.slimdata, ask_local_node, peek_atom::value, qry::queue_status(s.queue, now_ms()))
      .then(
          [=](const SlimDataReply& reply) {
            auto& s = self->state;
            if (generation != s.generation) return;
            if (!reply.ok()) return refused(self, "queue_status: " + reply.detail);
            store::QueueStatus st;
            try {
              st = res::queue_status(reply.value);
            } catch (const std::exception& e) {
              return refused(self, std::string("queue_status: ") + e.what());
            }
            s.busy = false;
            s.last_status = st;
            set_gauges(self, st);
            s.maybe_more = st.ready > 0;
            s.ready_hint = st.ready;
            s.hint_exact = true;
            // Items this node did not lease or delay (a previous leader's):
            // their lease or retry time ends unseen, so look again later.
            const auto now = Clock::now();
            s.retry_times.erase(s.retry_times.begin(), s.retry_times.upper_bound(now));
            if (st.in_flight + st.waiting_retry > s.attempts.size() + s.retry_times.size() && !s.orphan_timer) {
              s.orphan_timer = true;
              self->delayed_send(self, kOrphanRecheck, async_pump_atom::value, true);
            }
            after_look(self);
          },
          [=](caf::error& err) {
            if (generation != self->state.generation) return;
            refused(self, "queue_status: " + caf::to_string(err));
          });
}

// Gives an item taken ahead back to the queue, in its place and without
// counting its take as a try (it was never attempted).
void give_back(Self self, const store::TakenItem& item) {
  auto& s = self->state;
  ++s.given_back;
  // No slot freed for the whole wait: the slots are held long, so take
  // nothing ahead again until attempts show otherwise (see ahead_room).
  s.slot_hold_ms = std::max(s.slot_hold_ms, static_cast<double>(async::take_ahead_wait(s.setup.policy).count()));
  commit(self, cmd::queue_release(s.queue, item.id, item.try_number));
}

void arm_ahead_timer(Self self) {
  auto& s = self->state;
  if (s.ahead_timer || s.ahead.empty()) return;
  s.ahead_timer = true;
  const auto wait = std::max(Clock::duration::zero(), s.ahead.front().give_back_at - Clock::now());
  self->delayed_send(self, wait, ahead_atom::value, s.generation);
}

// Items taken ahead go, oldest first, into whatever slots are free; those
// whose lease ran short are given back. While some wait, the board tells
// this actor of every freed slot.
void start_ahead(Self self) {
  auto& s = self->state;
  if (s.ahead.empty()) return;
  auto& board = *s.setup.handle.board;
  board.set_async_waiting(true);  // mark, then claim
  const auto now = Clock::now();
  while (!s.ahead.empty()) {
    if (s.ahead.front().give_back_at <= now) {
      give_back(self, s.ahead.front().item);
      s.ahead.pop_front();
      continue;
    }
    auto replica = board.try_claim();
    if (!replica) break;
    auto admission = grant_admission(s.setup.handle, std::move(replica), Clock::time_point::max());
    auto next = std::move(s.ahead.front());
    s.ahead.pop_front();
    send_attempt(self, next.item, std::move(admission));
  }
  // Nothing left waiting: freed slots need not wake the queue (pump marks
  // it again when it wants slots).
  if (s.ahead.empty()) board.set_async_waiting(false);
  arm_ahead_timer(self);
}

// How many items a take may get beyond the slots it holds. Taking ahead
// keeps the function's slots busy while the next take commits (a take is a
// Raft round: without it every slot would idle for one). At most as many
// as the function has slots, so that each waits for at most one attempt;
// none while attempts hold their slots long (a slow function gains nothing
// from a head start of a few ms, and its items would only wait leased).
std::size_t ahead_room(Self self, std::size_t wanted, std::size_t claimed) {
  auto& s = self->state;
  auto& board = *s.setup.handle.board;
  const auto wait = async::take_ahead_wait(s.setup.policy);
  const int slots = board.capacity();
  if (slots <= 0 || s.slot_hold_ms * 4 > static_cast<double>(wait.count())) return 0;
  const auto limit = std::min<std::size_t>(s.take_limit, static_cast<std::size_t>(slots));
  const std::size_t room = limit > s.ahead.size() ? limit - s.ahead.size() : 0;
  return std::min(room, wanted > claimed ? wanted - claimed : 0);
}

// `all_known`: the take asks for every item the last look counted; a full
// answer then leaves nothing known, and whatever was pushed since wakes
// the queue when it is applied (no empty take to find that out).
// `extra`: items to take beyond the held slots, to wait in `ahead`.
void take(Self self, std::vector<net::Admission> admissions, std::size_t extra, bool all_known) {
  auto& s = self->state;
  s.busy = true;
  ++s.takes;
  const auto generation = s.generation;
  const auto n = static_cast<std::uint32_t>(admissions.size() + extra);
  auto held = std::make_shared<std::vector<net::Admission>>(std::move(admissions));
  const auto lease = extra ? async::take_ahead_lease(s.setup.policy) : async::take_lease(s.setup.policy);
  // The store's lease starts at the take's time or later (its clock never
  // goes back): past this, what is left of it may not cover an attempt.
  const auto give_back_at = Clock::now() + (lease - async::take_lease(s.setup.policy));
  self->request(s.setup.slimdata, ask_local_node, propose_atom::value,
                cmd::queue_take(s.queue, n, now_ms(), static_cast<std::uint64_t>(lease.count())))
      .then(
          [=](const SlimDataReply& reply) {
            auto& s = self->state;
            if (generation != s.generation) return;  // `held` goes: the slots are free
            if (!reply.ok()) return refused(self, "queue_take: " + reply.detail);
            std::vector<store::TakenItem> items;
            try {
              items = res::queue_take(reply.value);
            } catch (const std::exception& e) {
              return refused(self, std::string("queue_take: ") + e.what());
            }
            s.busy = false;
            if (!items.empty()) {
              std::uint64_t bytes = 0;
              for (const auto& item : items) bytes += item.payload.size();
              s.take_limit = async::take_limit(s.setup.max_take, s.setup.take_budget_bytes, bytes / items.size());
            }
            // A full take may have left more: the next one asks for as
            // many as it may (the count seen by the last look is stale).
            s.maybe_more = items.size() == n && !all_known;
            s.ready_hint = s.maybe_more ? s.take_limit : 0;
            s.hint_exact = false;
            // Slots were claimed only while nothing waited ahead (pump), so
            // these items are the oldest: they go first.
            std::size_t i = 0;
            for (; i < items.size() && i < held->size(); ++i) send_attempt(self, items[i], std::move((*held)[i]));
            held->clear();  // slots not used go back
            for (; i < items.size(); ++i) {
              s.ahead.push_back({std::move(items[i]), give_back_at});
              ++s.taken_ahead;
            }
            start_ahead(self);  // slots freed while the take committed
            after_look(self);
          },
          [=](caf::error& err) {
            if (generation != self->state.generation) return;
            refused(self, "queue_take: " + caf::to_string(err));
          });
}

void wake_function(Self self) {
  auto& s = self->state;
  const auto now = Clock::now();
  if (now - s.last_wake < std::chrono::seconds(1)) return;
  s.last_wake = now;
  self->send(s.setup.handle.actor, wake_atom::value);
}

void pump(Self self) {
  auto& s = self->state;
  if (!s.leader) return;
  start_ahead(self);
  if (s.busy) {
    s.again = true;
    return;
  }
  if (!s.maybe_more) return look(self);
  auto& board = *s.setup.handle.board;
  // No more than the function has slots, claimed and ahead together: a
  // round's worth. More (up to twice its slots) cost 64 B calls at 64
  // connections about 5% in 5 alternated pairs.
  const int slots = board.capacity();
  const std::uint64_t limit =
      slots > 0 ? std::min<std::uint64_t>(s.take_limit, static_cast<std::uint64_t>(slots)) : s.take_limit;
  const auto wanted =
      static_cast<std::size_t>(std::min<std::uint64_t>(limit, std::max<std::uint64_t>(1, s.ready_hint)));
  // Mark, then claim: a release that races the claims sees the mark.
  board.set_async_waiting(true);
  std::vector<net::Admission> admissions;
  // Free slots go to items already taken first (start_ahead used them all).
  while (s.ahead.empty() && admissions.size() < wanted) {
    auto replica = board.try_claim();
    if (!replica) break;
    admissions.push_back(grant_admission(s.setup.handle, std::move(replica), Clock::time_point::max()));
  }
  const std::size_t extra = ahead_room(self, wanted, admissions.size());
  if (admissions.empty() && extra == 0) {
    // At the cap, or no ready replica: the board tells us when that changes.
    if (board.ready_replicas() == 0) wake_function(self);
    return;
  }
  // Items waiting ahead, or about to: hear of every freed slot.
  board.set_async_waiting(!s.ahead.empty() || extra > 0);
  const bool all_known = s.hint_exact && admissions.size() + extra >= s.ready_hint;
  take(self, std::move(admissions), extra, all_known);
}

void read_callbacks(Self self) {
  auto& s = self->state;
  if (!s.leader) return;
  if (s.reading_callbacks) {
    s.callbacks_again = true;
    return;
  }
  bool waiting = false;
  for (const auto& [_, a] : s.attempts) waiting = waiting || a.awaiting_callback;
  if (!waiting) return;
  s.reading_callbacks = true;
  const auto generation = s.generation;
  self->request(s.setup.slimdata, ask_local_node, read_atom::value, qry::hash_get_all(s.callbacks))
      .then(
          [=](const SlimDataReply& reply) {
            auto& s = self->state;
            if (generation != s.generation) return;
            s.reading_callbacks = false;
            std::map<std::string, std::string> outcomes;
            if (reply.ok()) {
              try {
                outcomes = res::hash_get_all(reply.value);
              } catch (const std::exception& e) {
                spdlog::warn("async {}: callbacks: {}", s.setup.function, e.what());
              }
            }
            for (const auto& [field, word] : outcomes) {
              // Seen once is enough: the outcome is acted on (or it is for an
              // element this node does not run, a previous reign's).
              commit(self, cmd::hash_delete(s.callbacks, field));
              auto id = net::parse_positive_integer(field);
              auto status = async::parse_callback_status(word);
              if (!id || !status) continue;
              auto it = s.attempts.find(*id);
              if (it == s.attempts.end()) continue;
              if (it->second.awaiting_callback) finish(self, *id, async::callback_received(*status));
              else it->second.early_callback = *status;
            }
            if (s.callbacks_again) {
              s.callbacks_again = false;
              read_callbacks(self);
            }
          },
          [=](caf::error&) {
            if (generation != self->state.generation) return;
            self->state.reading_callbacks = false;
            self->state.callbacks_again = true;
          });
}

void on_attempt(Self self, std::uint64_t generation, ElementId id, std::uint8_t error, unsigned status,
                std::int64_t elapsed_us) {
  auto& s = self->state;
  if (generation != s.generation) return;
  auto it = s.attempts.find(id);
  if (it == s.attempts.end()) return;
  if (s.setup.metrics.attempt_seconds) s.setup.metrics.attempt_seconds->observe(static_cast<double>(elapsed_us) / 1e6);
  async::AttemptResult result;
  switch (static_cast<net::ClientResponse::Error>(error)) {
    case net::ClientResponse::Error::none: result.transport = async::AttemptResult::Transport::ok; break;
    case net::ClientResponse::Error::timeout: result.transport = async::AttemptResult::Transport::timeout; break;
    case net::ClientResponse::Error::connect: result.transport = async::AttemptResult::Transport::connect; break;
    case net::ClientResponse::Error::io: result.transport = async::AttemptResult::Transport::io; break;
  }
  result.status = status;
  auto decision = async::classify(s.setup.policy, it->second.try_number, result);
  if (decision.verdict != async::Verdict::callback) return finish(self, id, decision);
  if (it->second.early_callback) return finish(self, id, async::callback_received(*it->second.early_callback));
  it->second.awaiting_callback = true;
  self->delayed_send(self, async::callback_timeout(s.setup.policy), cb_wait_atom::value, generation, id,
                     it->second.try_number);
  read_callbacks(self);  // the callback may have been committed before the 202 came back
}

void on_leadership(Self self, bool leads) {
  auto& s = self->state;
  if (leads == s.leader) return;
  s.leader = leads;
  ++s.generation;
  s.busy = s.again = s.maybe_more = false;
  s.reading_callbacks = s.callbacks_again = false;
  s.orphan_timer = false;
  s.outcomes.clear();  // a new reign starts from what the store says
  s.committing = false;
  s.attempts.clear();  // their slots are freed; late answers are ignored
  s.retry_times.clear();
  // Their leases end in the store; the next leader takes them again (that
  // take counts as a try, as for the attempts cut short).
  s.ahead.clear();
  s.ahead_timer = false;
  s.setup.handle.board->set_async_waiting(false);
  set_gauges(self, store::QueueStatus{});
  if (leads) {
    spdlog::info("async {}: this node leads; delivering the queue", s.setup.function);
    pump(self);
  }
}

json summary(Self self) {
  auto& s = self->state;
  int awaiting = 0;
  for (const auto& [_, a] : s.attempts) awaiting += a.awaiting_callback ? 1 : 0;
  return {{"function", s.setup.function},
          {"leader", s.leader},
          {"attempts", s.attempts.size()},
          {"awaiting_callback", awaiting},
          {"ready", s.last_status.ready},
          {"in_flight", s.last_status.in_flight},
          {"waiting_retry", s.last_status.waiting_retry},
          {"delivered", s.delivered},
          {"failed", s.failed},
          {"retried", s.retried},
          {"takes", s.takes},
          {"ahead", s.ahead.size()},
          {"taken_ahead", s.taken_ahead},
          {"take_limit", s.take_limit},
          {"given_back", s.given_back},
          {"outcome_entries", s.outcome_entries},
          {"result_batches", s.result_batches},
          {"reads", s.reads}};
}

caf::behavior queue_behavior(Self self, AsyncQueueSetup setup) {
  auto& s = self->state;
  s.setup = std::move(setup);
  s.take_limit = std::clamp<std::uint32_t>(s.setup.first_take, 1, std::max<std::uint32_t>(1, s.setup.max_take));
  s.queue = async::queue_name(s.setup.function);
  s.callbacks = async::callback_hash(s.setup.function);
  return {
      [=](start_atom) {
        self->send(self->state.setup.slimdata, subscribe_atom::value, caf::actor_cast<caf::actor>(self));
      },
      [=](leader_atom, bool leads, std::uint64_t) { on_leadership(self, leads); },
      [=](applied_atom, std::uint64_t) {
        if (!self->state.leader) return;
        self->state.again = self->state.busy;  // something was committed: look again
        pump(self);
        read_callbacks(self);
      },
      [=](async_pump_atom) { pump(self); },
      [=](ahead_atom, std::uint64_t generation) {
        auto& s = self->state;
        if (generation != s.generation) return;
        s.ahead_timer = false;
        start_ahead(self);  // gives back those whose time came
      },
      [=](async_pump_atom, bool) {
        self->state.orphan_timer = false;
        pump(self);
      },
      [=](attempts_atom) { on_attempts(self); },
      [=](cb_wait_atom, std::uint64_t generation, ElementId id, std::uint32_t try_number) {
        auto& s = self->state;
        if (generation != s.generation) return;
        auto it = s.attempts.find(id);
        if (it == s.attempts.end() || !it->second.awaiting_callback || it->second.try_number != try_number) return;
        finish(self, id, async::callback_timed_out(s.setup.policy, try_number));
      },
      [=](commit_atom, std::uint64_t generation, std::string& command, std::size_t count, int tries_left) {
        if (generation != self->state.generation) return;
        propose_outcomes(self, std::move(command), count, tries_left);
      },
      [=](inspect_atom) -> std::string {
        json out{{"mailbox", mailbox_size(self)}, {"state", summary(self)}};
        return out.dump();
      },
  };
}

}  // namespace

std::function<AsyncQueueMetrics(const std::string&)> async_queue_metrics(net::metrics::Registry& registry) {
  const std::vector<std::string> labels{"function"};
  auto& ready = registry.gauge("slimfaas_function_queue_ready_items", "Async calls ready for delivery, by function.", labels);
  auto& in_flight = registry.gauge("slimfaas_function_queue_in_flight_items",
                                   "Async calls being delivered (leased), by function.", labels);
  auto& retry_pending = registry.gauge("slimfaas_function_queue_retry_pending_items",
                                       "Async calls waiting for their retry delay, by function.", labels);
  auto& delivered = registry.counter("slimfaas_async_delivered_total",
                                     "Async calls completed (2xx other than 202, or a success callback), by function.",
                                     labels);
  auto& failed = registry.counter(
      "slimfaas_async_failed_total",
      "Async calls given up (last try failed, a non-retryable status, an error callback), by function.", labels);
  auto& retried = registry.counter("slimfaas_async_retries_total", "Async attempts scheduled for a retry, by function.",
                                   labels);
  auto& attempt_seconds = registry.histogram("slimfaas_async_attempt_duration_seconds",
                                             "Duration of one async delivery attempt, by function.", labels);
  // The families live as long as the registry: hold them by address.
  return [ready = &ready, in_flight = &in_flight, retry_pending = &retry_pending, delivered = &delivered,
          failed = &failed, retried = &retried, attempt_seconds = &attempt_seconds](const std::string& function) {
    AsyncQueueMetrics m;
    m.ready = &ready->with({function});
    m.in_flight = &in_flight->with({function});
    m.retry_pending = &retry_pending->with({function});
    m.delivered = &delivered->with({function});
    m.failed = &failed->with({function});
    m.retried = &retried->with({function});
    m.attempt_seconds = &attempt_seconds->with({function}, net::metrics::latency_buckets());
    return m;
  };
}

caf::actor spawn_async_queue(caf::actor_system& system, AsyncQueueSetup setup) {
  auto board = setup.handle.board;
  auto actor = system.spawn(queue_behavior, std::move(setup));
  // Set before the actor starts (it subscribes on `start`): the board reads
  // the notifier only once the actor has marked itself waiting.
  board->set_async_notifier([actor] { caf::anon_send(actor, async_pump_atom::value); });
  caf::anon_send(actor, start_atom::value);
  return actor;
}

void AsyncQueues::stop() {
  for (auto& actor : actors) caf::anon_send_exit(actor, caf::exit_reason::user_shutdown);
  actors.clear();
  if (client) client->stop();
}

AsyncQueues start_async_queues(caf::actor_system& system, const FunctionTable& functions,
                               const std::vector<k8s::FunctionDefinition>& definitions, caf::actor slimdata,
                               net::metrics::Registry& registry, const AsyncDeliveryOptions& options,
                               caf::actor inspector) {
  AsyncQueues queues;
  queues.client =
      std::make_shared<net::HttpClient>(options.idle_connections_per_replica, options.idle_connection_timeout);
  auto metrics = async_queue_metrics(registry);
  for (const auto& definition : definitions) {
    auto it = functions.find(definition.name);
    if (it == functions.end()) continue;
    AsyncQueueSetup setup;
    setup.function = definition.name;
    setup.policy = definition.config.calls.async;
    setup.handle = it->second;
    setup.slimdata = slimdata;
    setup.client = queues.client;
    setup.metrics = metrics(definition.name);
    setup.blob_timeout = options.blob_timeout;
    auto actor = spawn_async_queue(system, std::move(setup));
    register_actor(inspector, "queue", definition.name, actor);
    queues.actors.push_back(std::move(actor));
  }
  return queues;
}

}  // namespace slimfaas::actors
