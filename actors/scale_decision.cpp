#include "actors/scale_decision.hpp"

#include <algorithm>
#include <vector>

namespace slimfaas::actors {
namespace {

using TimePoint = WallClock::time_point;
using std::chrono::seconds;

// How many local days of ScaleDownTimeout changes to look at: enough to pass
// activity + the largest timeout, at most a year.
constexpr int kMaxHorizonDays = 366;

struct Changes {
  std::vector<TimeoutChange> list;
  bool capped = false;  // the horizon was cut at kMaxHorizonDays
};

Changes timeout_changes(const Schedule* schedule, int timeout_now, TimePoint activity, TimePoint now) {
  Changes changes;
  if (!schedule || schedule->scale_down_timeout.empty()) return changes;
  int largest = timeout_now;
  for (const auto& entry : schedule->scale_down_timeout) largest = std::max(largest, entry.value_seconds);
  auto span = activity + seconds(largest) - now;
  long long days = span.count() <= 0 ? 0 : std::chrono::ceil<std::chrono::hours>(span).count() / 24 + 1;
  days += 2;  // local days vs UTC offsets and DST
  changes.capped = days >= kMaxHorizonDays;
  changes.list = scale_down_timeout_changes(*schedule, now, static_cast<int>(std::min<long long>(days, kMaxHorizonDays)));
  return changes;
}

// Active at `now` (now < activity + timeout): the first instant t > now with
// t >= activity + timeout(t), following ScaleDownTimeout changes.
TimePoint idle_from(const Schedule* schedule, int timeout_now, TimePoint activity, TimePoint now) {
  Changes changes = timeout_changes(schedule, timeout_now, activity, now);
  TimePoint start = now;
  int timeout = timeout_now;
  for (const auto& change : changes.list) {
    TimePoint candidate = std::max(start, activity + seconds(timeout));
    if (candidate < change.at) return candidate;
    start = change.at;
    timeout = change.value_seconds;
  }
  TimePoint candidate = std::max(start, activity + seconds(timeout));
  // Past a cut horizon, an unseen change could come first: check earlier.
  if (changes.capped && start > now && candidate > start) return start;
  return candidate;
}

// Idle at `now`: the first ScaleDownTimeout change after `now` that makes the
// same activity recent again (a longer timeout), if any.
std::optional<TimePoint> active_again_from(const Schedule* schedule, int timeout_now, TimePoint activity,
                                           TimePoint now) {
  Changes changes = timeout_changes(schedule, timeout_now, activity, now);
  for (const auto& change : changes.list) {
    if (change.at < activity + seconds(change.value_seconds)) return change.at;
  }
  if (changes.capped && !changes.list.empty()) return changes.list.back().at;
  return std::nullopt;
}

long long whole_seconds(std::chrono::system_clock::duration d) {
  return std::chrono::floor<seconds>(d).count();
}

std::string replicas_text(int n) { return std::to_string(n) + (n == 1 ? " replica" : " replicas"); }

}  // namespace

int scale_down_timeout_seconds(const k8s::FunctionConfig& config, const Schedule* schedule, TimePoint now) {
  if (schedule) {
    if (auto scheduled = scale_down_timeout(*schedule, now)) return *scheduled;
  }
  return config.timeout_seconds_before_min;
}

ScaleDecision decide_scale(const k8s::FunctionConfig& config, const Schedule* schedule, const ScaleInputs& in) {
  const TimePoint now = in.now;
  const int min = config.replicas_min;
  const int max = config.max_replicas();
  // Never above the maximum, never below ReplicasMin; ReplicasMin wins a conflict.
  auto bounded = [&](int n) { return std::max(min, std::min(n, max)); };

  const std::optional<int> scheduled_timeout = schedule ? scale_down_timeout(*schedule, now) : std::nullopt;
  const int timeout = scheduled_timeout.value_or(config.timeout_seconds_before_min);
  const std::string timeout_text =
      scheduled_timeout ? "ScaleDownTimeout " + std::to_string(timeout) + "s from SlimFaas/Schedule"
                        : "TimeoutSecondBeforeSetReplicasMin " + std::to_string(timeout) + "s";

  const bool never_called_default =
      in.pod_scaled_up_by_default_when_infrastructure_has_never_called && in.never_called_since_start;
  const bool forced = in.pending_demand || never_called_default;

  const std::optional<TimePoint> last_wake = schedule ? last_wake_up(*schedule, now) : std::nullopt;
  std::optional<TimePoint> activity = in.last_activity;
  if (last_wake && (!activity || *last_wake > *activity)) activity = last_wake;
  if (forced && (!activity || now > *activity)) activity = now;

  const bool idle = !forced && (!activity || now >= *activity + seconds(timeout));
  const bool wake_passed =
      last_wake && (!in.previous_evaluation || *last_wake > *in.previous_evaluation) && !idle;
  const int current = std::max(0, in.requested_replicas);
  const bool trigger = forced || wake_passed;  // wakes a function at 0

  ScaleDecision decision;

  // The earliest instant the decision can change without new input.
  std::optional<TimePoint> next = schedule ? next_wake_up(*schedule, now) : std::nullopt;
  auto consider = [&](std::optional<TimePoint> t) {
    if (t && *t > now && (!next || *t < *next)) next = t;
  };
  std::optional<TimePoint> idle_at;
  if (!forced && !idle) {
    idle_at = idle_from(schedule, timeout, *activity, now);
    // At 0 the deadline only matters while a wake-up is waking it.
    if (current > 0 || trigger) consider(idle_at);
  }
  if (idle && activity && current > 0) consider(active_again_from(schedule, timeout, *activity, now));
  decision.next_check = next;

  if (current == 0) {
    if (!trigger && min == 0) {
      decision.desired = 0;
      decision.reason = "no demand: stays at 0";
      return decision;
    }
    std::string why;
    if (in.pending_demand) why = "pending demand";
    else if (never_called_default) why = "never called since start and PodScaledUpByDefaultWhenInfrastructureHasNeverCalled";
    else if (wake_passed) why = "scheduled wake-up at " + format_local_time(*schedule, *last_wake) + " " + schedule->time_zone_id;
    else why = "ReplicasMin " + std::to_string(min);

    const int target = trigger ? bounded(config.replicas_at_start) : bounded(min);
    if (target <= 0) {
      decision.desired = 0;
      decision.reason = why + ": cannot wake, " +
                        (config.replicas_at_start <= 0 ? std::string("ReplicasAtStart is 0") : std::string("ReplicaMax is 0"));
      return decision;
    }
    std::vector<std::string> waiting;
    for (const auto& name : config.depends_on) {
      auto it = in.dependencies.find(name);
      if (it != in.dependencies.end() && !(it->second.ready && it->second.at_min)) waiting.push_back(name);
    }
    if (!waiting.empty()) {
      std::string names;
      for (const auto& name : waiting) names += (names.empty() ? "" : ", ") + name;
      decision.desired = 0;
      decision.reason = why + ": waiting for dependency " + names + " to be ready at its minimum";
      return decision;
    }
    decision.desired = target;
    decision.reason = why + ": start from 0 to " + replicas_text(target);
    return decision;
  }

  if (idle) {
    decision.desired = min;
    if (min == current) {
      decision.reason = "idle at ReplicasMin " + std::to_string(min);
    } else {
      std::string since = in.last_activity || last_wake
                              ? "no activity for " + std::to_string(whole_seconds(now - *activity)) + "s"
                              : "no activity since start";
      decision.reason = since + " (" + timeout_text + "): scale from " + std::to_string(current) +
                        " to ReplicasMin " + std::to_string(min);
    }
    return decision;
  }

  decision.desired = bounded(current);
  std::string state = replicas_text(current) + " (" + std::to_string(in.ready_replicas) + " ready)";
  if (current > max && decision.desired < current) {
    decision.reason = state + " above the maximum " + std::to_string(max) +
                      (config.replica_max ? " (SlimFaas/Scale ReplicaMax)" : " (max of ReplicasMin, ReplicasAtStart)") +
                      ": scale down to " + std::to_string(decision.desired);
  } else if (current < min) {
    decision.reason = state + " below ReplicasMin: scale up to " + std::to_string(decision.desired);
  } else if (forced) {
    decision.reason = "active (" + std::string(in.pending_demand ? "pending demand" : "never called since start") +
                      "): keep " + state;
  } else {
    decision.reason = "active: keep " + state + "; idle in " + std::to_string(whole_seconds(*idle_at - now)) + "s (" +
                      timeout_text + ")";
  }
  return decision;
}

std::set<std::string> functions_to_wake(const std::map<std::string, k8s::FunctionConfig>& functions,
                                        const std::string& called) {
  std::set<std::string> woken;
  std::vector<std::string> pending;
  auto add = [&](const std::string& name) {
    if (name != called && functions.count(name) != 0 && woken.insert(name).second) pending.push_back(name);
  };
  for (const auto& [name, config] : functions) {
    if (config.start_when_any_function_called) add(name);
  }
  if (auto it = functions.find(called); it != functions.end()) {
    for (const auto& dependency : it->second.depends_on) add(dependency);
  }
  while (!pending.empty()) {
    std::string name = pending.back();
    pending.pop_back();
    for (const auto& dependency : functions.at(name).depends_on) add(dependency);
  }
  return woken;
}

}  // namespace slimfaas::actors
