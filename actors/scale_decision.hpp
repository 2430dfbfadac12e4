#pragma once
// The 0 -> N / N -> ReplicasMin decision for one function (contract §6), as a
// pure function: no actor, no thread, no clock. The caller passes the time
// in, applies `desired`, and arms one timer for `next_check` instead of
// polling. Metric-driven N -> M scaling (SlimFaas/Scale triggers) is not
// decided here; it only runs while replicas > 0 and stays within
// [ReplicasMin, max_replicas()].
//
// Rules, in order:
// 1. Activity. The latest of: `last_activity` (sync, async or event call,
//    wake request), the latest WakeUp instant (a scheduled wake-up counts as
//    activity, as in SlimFaas), and `now` while there is pending demand or
//    while the function was never called since start and
//    PodScaledUpByDefaultWhenInfrastructureHasNeverCalled is set ("forced"
//    activity: the timeout does not run while it lasts).
// 2. Timeout. The schedule's ScaleDownTimeout in force at `now`, else
//    SlimFaas/TimeoutSecondBeforeSetReplicasMin. The function is idle when
//    now >= activity + timeout (exactly at the boundary counts as idle, so
//    a timer armed for the deadline sees the change), or when there never was
//    any activity.
// 3. At 0 replicas it wakes, to ReplicasAtStart clamped to
//    [ReplicasMin, max_replicas()], on pending demand, on "never called +
//    scaled up by default", or on a WakeUp instant in
//    (previous_evaluation, now] whose timeout window is still open (with no
//    previous evaluation: the latest WakeUp, if its window is open). With
//    ReplicasMin > 0 it starts to at least ReplicasMin without demand.
//    Starting from 0 waits until every DependsOn dependency known to the
//    caller is ready at its minimum (dependencies absent from the map are
//    not SlimFaas functions and do not block, as in SlimFaas). A target of 0
//    (ReplicasAtStart 0, or ReplicaMax 0) cannot wake: it stays and says so.
// 4. Above 0 replicas: idle -> ReplicasMin; active -> the current count
//    clamped to [ReplicasMin, max_replicas()].
// Bounds: never above max_replicas() and never below ReplicasMin; when
// ReplicaMax < ReplicasMin (a configuration error) ReplicasMin wins. The only
// result below ReplicasMin is staying at 0 while a dependency is not ready
// or when the target is 0.
//
// next_check: the earliest instant after `now` at which the decision can
// change without new input: the scale-down deadline (taking ScaleDownTimeout
// changes into account; at 0 replicas only while being woken, since an idle
// function at 0 stays there), the instant a ScaleDownTimeout change makes an
// idle function (replicas > 0) active again, and the next WakeUp. nullopt
// when only new input (a call, a replica or dependency change) can change
// it. It may be earlier than needed only for timeouts longer than a year.
#include <map>
#include <optional>
#include <set>
#include <string>

#include "actors/schedule.hpp"
#include "k8s/function_config.hpp"

namespace slimfaas::actors {

struct DependencyState {
  bool ready = false;   // the dependency has ready replicas
  bool at_min = false;  // its ready replicas reach its minimum (ReplicasAtStart when woken)
};

struct ScaleInputs {
  int requested_replicas = 0;  // replicas currently asked of the orchestrator
  int ready_replicas = 0;      // of those, ready (only reported in reasons)
  std::optional<WallClock::time_point> last_activity;  // nullopt: none known
  WallClock::time_point now{};
  // The time of the previous decision for this function; a WakeUp instant in
  // (previous_evaluation, now] wakes it. nullopt on the first evaluation.
  std::optional<WallClock::time_point> previous_evaluation;
  // A held sync call, a queued async item or an explicit wake request.
  bool pending_demand = false;
  // Readiness of the DependsOn workloads SlimFaas knows, by name.
  std::map<std::string, DependencyState> dependencies;
  // SlimFaas__PodScaledUpByDefaultWhenInfrastructureHasNeverCalled, and
  // whether this function was never called since this node started.
  bool pod_scaled_up_by_default_when_infrastructure_has_never_called = false;
  bool never_called_since_start = false;
};

struct ScaleDecision {
  int desired = 0;
  std::string reason;
  std::optional<WallClock::time_point> next_check;
};

// `schedule` may be null (no SlimFaas/Schedule).
ScaleDecision decide_scale(const k8s::FunctionConfig& config, const Schedule* schedule, const ScaleInputs& inputs);

// The ScaleDownTimeout in force at `now` in seconds: the schedule's, else the
// annotation's.
int scale_down_timeout_seconds(const k8s::FunctionConfig& config, const Schedule* schedule,
                               WallClock::time_point now);

// The other functions to wake when `called` receives a request: every
// function with SlimFaas/ReplicasStartAsSoonAsOneFunctionRetrieveARequest,
// plus, transitively, the DependsOn dependencies of `called` and of those
// (a dependency must be up before its dependent can start). Only names in
// `functions` are returned; `called` itself never is.
std::set<std::string> functions_to_wake(const std::map<std::string, k8s::FunctionConfig>& functions,
                                        const std::string& called);

}  // namespace slimfaas::actors
