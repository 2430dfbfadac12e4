#include "actors/function_actor.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#include "actors/mailbox_size.hpp"
#include "actors/messages.hpp"

namespace slimfaas::actors {
namespace {

using nlohmann::json;

struct FunctionState {
  static inline const char* name = "function";
  FunctionSetup setup;
  FunctionHandle self_handle;
  std::unique_ptr<WaitingLine<net::AdmissionCallback>> line;
  std::optional<Clock::time_point> timer_for;  // deadline of the armed expiry message
  std::uint64_t wakes = 0;
  std::uint64_t rejected = 0;
  std::uint64_t queued_total = 0;
  // A scale-down in progress: replicas at positions >= drain_keep take no new
  // calls; the scaler hears back once they are idle or the grace is over.
  std::optional<std::size_t> drain_keep;
  std::optional<caf::response_promise> drain_reply;
  std::uint64_t drain_generation = 0;
};

using Self = caf::stateful_actor<FunctionState>*;
using Line = WaitingLine<net::AdmissionCallback>;

std::vector<ReplicaSpec> to_specs(const std::vector<k8s::Replica>& replicas) {
  std::vector<ReplicaSpec> specs;
  for (const auto& r : replicas) specs.push_back(ReplicaSpec{r.name, r.host, r.port, r.ready});
  return specs;
}

void admit_waiting(Self self) {
  auto& s = self->state;
  s.line->admit(*s.setup.board, [&](Line::Waiter& waiter, std::shared_ptr<ReplicaLoad> replica) {
    waiter.reply(grant_admission(s.self_handle, std::move(replica), waiter.deadline));
  });
}

// Tells the scaler that callers wait and nothing can serve them.
void signal_demand(Self self) {
  auto& s = self->state;
  if (s.setup.scaler && !s.line->empty() && s.setup.board->ready_replicas() == 0)
    self->send(s.setup.scaler, demand_atom::value, s.setup.definition.name);
}

void finish_drain(Self self, bool drained) {
  auto& s = self->state;
  if (!s.drain_reply) return;
  s.drain_reply->deliver(drained);
  s.drain_reply.reset();
  if (!drained) {
    s.drain_keep.reset();
    s.setup.board->clear_draining();
  }
}

void check_drain(Self self) {
  auto& s = self->state;
  if (s.drain_reply && s.setup.board->draining_in_flight() == 0) finish_drain(self, true);
}

void arm_expiry(Self self) {
  auto& s = self->state;
  auto next = s.line->next_deadline();
  if (!next || (s.timer_for && *s.timer_for <= *next)) return;
  s.timer_for = *next;
  auto delay = std::max(Clock::duration::zero(), *next - Clock::now());
  self->delayed_send(self, delay, expire_atom::value);
}

net::Admission refusal(net::AdmissionResult result, std::string detail) {
  net::Admission a;
  a.result = result;
  a.detail = std::move(detail);
  return a;
}

json state_summary(Self self) {
  auto& s = self->state;
  auto& board = *s.setup.board;
  json replicas = json::array();
  for (const auto& r : board.replicas()) {
    replicas.push_back({{"name", r->name},
                        {"address", r->host + ":" + std::to_string(r->port)},
                        {"ready", r->ready.load()},
                        {"draining", r->draining.load()},
                        {"in_flight", r->in_flight.load()}});
  }
  return {{"ready_replicas", board.ready_replicas()},
          {"in_flight", board.in_flight()},
          {"waiting", s.line->size()},
          {"parallel", board.parallel()},
          {"parallel_per_pod", board.per_pod()},
          {"max_waiting", s.line->capacity()},
          {"sync_timeout_seconds", board.sync_timeout().count()},
          {"queued_total", s.queued_total},
          {"rejected_total", s.rejected},
          {"wakes", s.wakes},
          {"replicas", replicas}};
}

json status_object(Self self) {
  auto& s = self->state;
  const auto& def = s.setup.definition;
  const auto& cfg = def.config;
  auto& board = *s.setup.board;
  json pods = json::array();
  for (const auto& r : board.replicas()) {
    bool ready = r->ready.load();
    pods.push_back({{"Name", r->name}, {"Status", ready ? "Running" : "Pending"}, {"Ready", ready}, {"Ip", r->host}});
  }
  json paths = json::array();
  for (const auto& p : cfg.paths_visibility) paths.push_back(std::string(k8s::to_string(p.visibility)) + ":" + p.prefix);
  return {{"NumberReady", board.ready_replicas()},
          {"NumberRequested", static_cast<int>(board.replicas().size())},
          {"PodType", def.pod_type},
          {"Visibility", k8s::to_string(cfg.default_visibility)},
          {"Name", def.name},
          {"Trust", k8s::to_string(cfg.default_trust)},
          {"ReplicasMin", cfg.replicas_min},
          {"ReplicasAtStart", cfg.replicas_at_start},
          {"TimeoutSecondBeforeSetReplicasMin", cfg.timeout_seconds_before_min},
          {"NumberParallelRequest", cfg.parallel},
          {"NumberParallelRequestPerPod", cfg.parallel_per_pod},
          {"Schedule", cfg.schedule_json.empty() ? json(nullptr) : json::parse(cfg.schedule_json)},
          {"Scale", cfg.scale_json.empty() ? json(nullptr) : json::parse(cfg.scale_json)},
          {"SubscribeEvents", cfg.subscribe_events},
          {"PathsStartWithVisibility", paths},
          {"DependsOn", cfg.depends_on},
          {"Pods", pods},
          {"Problems", cfg.problems}};
}

caf::behavior function_behavior(Self self, FunctionSetup setup) {
  auto& s = self->state;
  s.setup = std::move(setup);
  s.self_handle = FunctionHandle{s.setup.definition.name, caf::actor_cast<caf::actor>(self), s.setup.board};
  s.line = std::make_unique<Line>(s.setup.max_waiting);
  for (const auto& problem : s.setup.definition.config.problems) {
    spdlog::warn("function {}: annotation problem: {}", s.setup.definition.name, problem);
  }

  return {
      // A call that found no free slot, or found callers already waiting.
      [=](acquire_atom, AcquireRequest& request) {
        auto& s = self->state;
        auto& board = *s.setup.board;
        board.touch();
        if (s.line->full()) {
          ++s.rejected;
          auto a = refusal(net::AdmissionResult::queue_full,
                           "function " + s.setup.definition.name + " already has " + std::to_string(s.line->size()) +
                               " calls waiting for a slot");
          a.retry_after_seconds = 1;
          request.reply(std::move(a));
          return;
        }
        ++s.queued_total;
        s.line->push(Line::Waiter{request.ticket, Clock::now() + board.sync_timeout(), std::move(request.reply)});
        board.set_waiters(static_cast<int>(s.line->size()));
        admit_waiting(self);
        if (!s.line->empty()) {
          signal_demand(self);
          arm_expiry(self);
        }
      },
      [=](slot_freed_atom) {
        admit_waiting(self);
        check_drain(self);
      },
      [=](cancel_atom, std::uint64_t ticket) {
        auto& s = self->state;
        if (auto waiter = s.line->remove(ticket)) {
          s.setup.board->set_waiters(static_cast<int>(s.line->size()));
          waiter->reply(refusal(net::AdmissionResult::cancelled, "the caller went away"));
        }
      },
      [=](expire_atom) {
        auto& s = self->state;
        s.timer_for.reset();
        for (auto& waiter : s.line->expire(Clock::now())) {
          waiter.reply(refusal(net::AdmissionResult::timed_out,
                               "no slot or ready replica of function " + s.setup.definition.name + " within " +
                                   std::to_string(s.setup.board->sync_timeout().count()) +
                                   " s (DefaultSync.HttpTimeout)"));
        }
        s.setup.board->set_waiters(static_cast<int>(s.line->size()));
        arm_expiry(self);
      },
      [=](replicas_atom, ReplicaList& replicas) {
        auto& s = self->state;
        s.setup.board->set_replicas(to_specs(replicas));
        // The drained replicas are gone: later replicas at those positions
        // are new ones. Until then, one restarted during a drain comes back
        // with a new address and must stay out of service too.
        if (s.drain_keep && !s.drain_reply && replicas.size() <= *s.drain_keep) s.drain_keep.reset();
        if (s.drain_keep) s.setup.board->mark_draining(*s.drain_keep);
        admit_waiting(self);
        check_drain(self);
        if (s.setup.scaler) {
          self->send(s.setup.scaler, ready_atom::value, s.setup.definition.name, s.setup.board->ready_replicas());
          signal_demand(self);
        }
      },
      [=](wake_atom) {
        auto& s = self->state;
        s.setup.board->touch();
        ++s.wakes;
        if (s.setup.scaler) self->send(s.setup.scaler, demand_atom::value, s.setup.definition.name);
      },
      // The scaler will remove the replicas at positions >= keep: route no
      // new call to them and answer once their calls are done (true), or
      // when the grace period is over (true: the backend still stops them
      // gracefully), or false if the drain was called off.
      [=](drain_atom, int keep, std::int64_t grace_ms) -> caf::result<bool> {
        auto& s = self->state;
        finish_drain(self, false);  // a newer drain supersedes an older one
        s.drain_keep = static_cast<std::size_t>(std::max(0, keep));
        s.setup.board->mark_draining(*s.drain_keep);
        s.drain_reply = self->make_response_promise();
        auto promise = *s.drain_reply;
        const auto generation = ++s.drain_generation;
        self->delayed_send(self, std::chrono::milliseconds(grace_ms), drain_atom::value, generation);
        check_drain(self);
        return promise;
      },
      [=](drain_atom, std::uint64_t generation) {
        auto& s = self->state;
        if (generation != s.drain_generation || !s.drain_reply) return;
        spdlog::warn("function {}: {} call(s) still running on draining replicas after the grace period",
                     s.setup.definition.name, s.setup.board->draining_in_flight());
        finish_drain(self, true);
      },
      [=](undrain_atom) {
        auto& s = self->state;
        finish_drain(self, false);
        s.drain_keep.reset();
        s.setup.board->clear_draining();
        admit_waiting(self);
      },
      // For the scaler: how long since the last call, and whether callers are held.
      [=](activity_atom) -> std::vector<std::int64_t> {
        auto& board = *self->state.setup.board;
        const auto last = board.last_activity();
        const std::int64_t idle_ms =
            last.time_since_epoch().count() == 0
                ? -1
                : std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - last).count();
        return {idle_ms, static_cast<std::int64_t>(board.waiters())};
      },
      [=](status_atom) -> std::string { return status_object(self).dump(); },
      [=](inspect_atom) -> std::string {
        json out{{"mailbox", mailbox_size(self)}, {"state", state_summary(self)}};
        return out.dump();
      },
  };
}

}  // namespace

struct SlotLease {
  SlotLease(std::shared_ptr<AdmissionBoard> board, std::shared_ptr<ReplicaLoad> replica, caf::actor owner)
      : board(std::move(board)), replica(std::move(replica)), owner(std::move(owner)) {}
  SlotLease(const SlotLease&) = delete;
  SlotLease& operator=(const SlotLease&) = delete;
  std::shared_ptr<AdmissionBoard> board;
  std::shared_ptr<ReplicaLoad> replica;
  caf::actor owner;
  ~SlotLease() {
    if (board->release(*replica)) caf::anon_send(owner, slot_freed_atom::value);
  }
};

std::shared_ptr<AdmissionBoard> make_board(const k8s::FunctionDefinition& definition) {
  const auto& cfg = definition.config;
  auto board = std::make_shared<AdmissionBoard>(cfg.parallel, cfg.parallel_per_pod);
  board->set_sync_timeout(std::chrono::seconds(cfg.calls.sync_http_timeout_seconds));
  board->set_replicas(to_specs(definition.replicas));
  return board;
}

net::Admission grant_admission(const FunctionHandle& function, std::shared_ptr<ReplicaLoad> replica,
                               Clock::time_point deadline) {
  net::Admission a;
  a.host = replica->host;
  a.port = replica->port;
  a.replica = replica->name;
  const auto& board = *function.board;
  a.replica_parallel = static_cast<std::size_t>(std::max(1, std::min(board.parallel(), board.per_pod())));
  a.deadline = deadline;
  a.slot = std::make_shared<SlotLease>(function.board, std::move(replica), function.actor);
  return a;
}

caf::actor spawn_function_actor(caf::actor_system& system, FunctionSetup setup) {
  return system.spawn(function_behavior, std::move(setup));
}

}  // namespace slimfaas::actors
