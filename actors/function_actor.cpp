#include "actors/function_actor.hpp"

#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>
#include <unordered_map>

#include "actors/messages.hpp"

namespace slimfaas::actors {
namespace {

using nlohmann::json;

struct FunctionState {
  static inline const char* name = "function";
  FunctionSetup setup;
  std::unique_ptr<AdmissionQueue> queue;
  std::unordered_map<std::uint64_t, std::pair<net::AdmissionCallback, Clock::time_point>> waiting;
  std::optional<Clock::time_point> timer_for;  // deadline of the armed expiry message
  net::metrics::Gauge* in_flight_gauge = nullptr;
  net::metrics::Gauge* waiting_gauge = nullptr;
  net::metrics::Gauge* ready_gauge = nullptr;
  net::metrics::Counter* rejected_counter = nullptr;
  Clock::time_point last_activity{};
  std::uint64_t wakes = 0;
};

using Self = caf::stateful_actor<FunctionState>*;

std::vector<ReplicaSlot> to_slots(const std::vector<k8s::Replica>& replicas) {
  std::vector<ReplicaSlot> slots;
  slots.reserve(replicas.size());
  for (const auto& r : replicas) slots.push_back(ReplicaSlot{r.name, r.host, r.port, r.ready, false, 0});
  return slots;
}

std::chrono::seconds sync_timeout(Self self) {
  return std::chrono::seconds(self->state.setup.definition.config.calls.sync_http_timeout_seconds);
}

void publish_gauges(Self self) {
  auto& s = self->state;
  s.in_flight_gauge->set(s.queue->in_flight());
  s.waiting_gauge->set(static_cast<double>(s.queue->waiting()));
  s.ready_gauge->set(s.queue->ready_replicas());
}

net::Admission granted(Self self, const Grant& grant, Clock::time_point deadline) {
  const auto& replica = self->state.queue->replicas()[grant.replica];
  net::Admission a;
  a.ticket = grant.ticket;
  a.host = replica.host;
  a.port = replica.port;
  a.replica = replica.name;
  a.deadline = deadline;
  return a;
}

// Waiting callers were admitted: tell them, with the time left of their
// deadline (the sync timeout covers the wait plus the call).
void deliver(Self self, const std::vector<Grant>& grants) {
  auto& s = self->state;
  for (const auto& grant : grants) {
    auto it = s.waiting.find(grant.ticket);
    if (it == s.waiting.end()) continue;
    auto reply = std::move(it->second.first);
    auto deadline = it->second.second;
    s.waiting.erase(it);
    reply(granted(self, grant, deadline));
  }
}

void arm_expiry(Self self) {
  auto& s = self->state;
  auto next = s.queue->next_deadline();
  if (!next || (s.timer_for && *s.timer_for <= *next)) return;
  s.timer_for = *next;
  auto delay = std::max(Clock::duration::zero(), *next - Clock::now());
  self->delayed_send(self, delay, expire_atom::value);
}

json state_summary(Self self) {
  auto& s = self->state;
  const auto& cfg = s.setup.definition.config;
  json replicas = json::array();
  for (const auto& r : s.queue->replicas()) {
    replicas.push_back({{"name", r.name},
                        {"address", r.host + ":" + std::to_string(r.port)},
                        {"ready", r.ready},
                        {"draining", r.draining},
                        {"in_flight", r.in_flight}});
  }
  return {{"ready_replicas", s.queue->ready_replicas()},
          {"in_flight", s.queue->in_flight()},
          {"waiting", s.queue->waiting()},
          {"parallel", cfg.parallel},
          {"parallel_per_pod", cfg.parallel_per_pod},
          {"max_waiting", s.queue->limits().max_waiting},
          {"sync_timeout_seconds", cfg.calls.sync_http_timeout_seconds},
          {"wakes", s.wakes},
          {"replicas", replicas}};
}

json status_object(Self self) {
  auto& s = self->state;
  const auto& def = s.setup.definition;
  const auto& cfg = def.config;
  json pods = json::array();
  for (const auto& r : s.queue->replicas()) {
    pods.push_back({{"Name", r.name}, {"Status", r.ready ? "Running" : "Pending"}, {"Ready", r.ready}, {"Ip", r.host}});
  }
  json paths = json::array();
  for (const auto& p : cfg.paths_visibility) paths.push_back(std::string(k8s::to_string(p.visibility)) + ":" + p.prefix);
  return {{"NumberReady", s.queue->ready_replicas()},
          {"NumberRequested", static_cast<int>(s.queue->replicas().size())},
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
  const auto& cfg = s.setup.definition.config;
  s.queue = std::make_unique<AdmissionQueue>(AdmissionQueue::Limits{cfg.parallel, cfg.parallel_per_pod, s.setup.max_waiting});
  s.queue->set_replicas(to_slots(s.setup.definition.replicas));
  const auto& name = s.setup.definition.name;
  s.in_flight_gauge = &s.setup.metrics->in_flight.with({name});
  s.waiting_gauge = &s.setup.metrics->waiting.with({name});
  s.ready_gauge = &s.setup.metrics->ready.with({name});
  s.rejected_counter = &s.setup.metrics->rejected.with({name});
  for (const auto& problem : cfg.problems) spdlog::warn("function {}: {}", name, problem);
  publish_gauges(self);

  return {
      [=](acquire_atom, AcquireRequest& request) {
        auto& s = self->state;
        s.last_activity = Clock::now();
        auto deadline = s.last_activity + sync_timeout(self);
        Grant grant;
        switch (s.queue->offer(request.ticket, deadline, grant)) {
          case AdmissionQueue::Offer::granted:
            request.reply(granted(self, grant, deadline));
            break;
          case AdmissionQueue::Offer::queued:
            s.waiting.emplace(request.ticket, std::make_pair(std::move(request.reply), deadline));
            arm_expiry(self);
            break;
          case AdmissionQueue::Offer::queue_full: {
            s.rejected_counter->inc();
            net::Admission a;
            a.result = net::AdmissionResult::queue_full;
            a.detail = "function " + s.setup.definition.name + " already has " +
                       std::to_string(s.queue->waiting()) + " calls waiting for a slot";
            a.retry_after_seconds = 1;
            request.reply(std::move(a));
            break;
          }
        }
        publish_gauges(self);
      },
      [=](release_atom, std::uint64_t ticket, std::uint32_t) {
        deliver(self, self->state.queue->release(ticket));
        publish_gauges(self);
      },
      [=](cancel_atom, std::uint64_t ticket) {
        auto& s = self->state;
        std::vector<Grant> grants;
        if (s.queue->cancel(ticket, grants)) {
          auto it = s.waiting.find(ticket);
          if (it != s.waiting.end()) {
            auto reply = std::move(it->second.first);
            s.waiting.erase(it);
            net::Admission a;
            a.result = net::AdmissionResult::cancelled;
            a.detail = "the caller went away";
            reply(std::move(a));
          }
        }
        deliver(self, grants);
        publish_gauges(self);
      },
      [=](expire_atom) {
        auto& s = self->state;
        s.timer_for.reset();
        for (auto ticket : s.queue->expire(Clock::now())) {
          auto it = s.waiting.find(ticket);
          if (it == s.waiting.end()) continue;
          auto reply = std::move(it->second.first);
          s.waiting.erase(it);
          net::Admission a;
          a.result = net::AdmissionResult::timed_out;
          a.detail = "no slot or ready replica of function " + s.setup.definition.name + " within " +
                     std::to_string(sync_timeout(self).count()) + " s (DefaultSync.HttpTimeout)";
          reply(std::move(a));
        }
        arm_expiry(self);
        publish_gauges(self);
      },
      [=](replicas_atom, ReplicaList& replicas) {
        deliver(self, self->state.queue->set_replicas(to_slots(replicas)));
        publish_gauges(self);
      },
      [=](wake_atom) {
        auto& s = self->state;
        s.last_activity = Clock::now();
        ++s.wakes;
        if (s.setup.backend && s.queue->ready_replicas() == 0) {
          s.setup.backend->scale(s.setup.definition.name, std::max(1, s.setup.definition.config.replicas_at_start));
        }
      },
      [=](status_atom) -> std::string { return status_object(self).dump(); },
      [=](inspect_atom) -> std::string {
        json out{{"mailbox", self->mailbox().size()}, {"state", state_summary(self)}};
        return out.dump();
      },
  };
}

}  // namespace

FunctionMetrics::FunctionMetrics(net::metrics::Registry& registry)
    : in_flight(registry.gauge("slimfaas_function_in_flight_requests",
                               "Synchronous calls currently running, by function.", {"function"})),
      waiting(registry.gauge("slimfaas_function_waiting_requests",
                             "Synchronous calls waiting for a slot or a ready replica, by function.", {"function"})),
      ready(registry.gauge("slimfaas_function_ready_replicas", "Ready replicas, by function.", {"function"})),
      rejected(registry.counter("slimfaas_function_rejected_requests_total",
                                "Calls refused because the waiting queue was full, by function.", {"function"})) {}

caf::actor spawn_function_actor(caf::actor_system& system, FunctionSetup setup) {
  return system.spawn(function_behavior, std::move(setup));
}

}  // namespace slimfaas::actors
