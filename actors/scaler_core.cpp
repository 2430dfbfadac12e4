#include "actors/scaler_core.hpp"

#include <algorithm>
#include <spdlog/spdlog.h>

namespace slimfaas::actors {

ScalerCore::ScalerCore(std::vector<ScaledFunction> functions, bool pod_scaled_up_by_default_when_never_called)
    : pod_scaled_up_by_default_(pod_scaled_up_by_default_when_never_called) {
  for (auto& function : functions) {
    State state;
    if (!function.config.schedule_json.empty()) {
      std::vector<std::string> problems;
      state.schedule = std::make_unique<Schedule>(parse_schedule(function.config.schedule_json, problems));
      for (const auto& p : problems) spdlog::warn("function {}: SlimFaas/Schedule: {}", function.name, p);
    }
    state.requested = function.initial_replicas;
    configs_[function.name] = function.config;
    auto name = function.name;
    state.function = std::move(function);
    states_.emplace(std::move(name), std::move(state));
  }
}

ScalerCore::State* ScalerCore::find(const std::string& function) {
  auto it = states_.find(function);
  return it == states_.end() ? nullptr : &it->second;
}

void ScalerCore::observe_activity(const std::string& function, WallClock::time_point at) {
  State* s = find(function);
  if (!s) return;
  s->called = true;
  if (!s->last_activity || at > *s->last_activity) s->last_activity = at;
}

void ScalerCore::record_activity(const std::string& function, WallClock::time_point now, bool demand) {
  State* s = find(function);
  if (!s) return;
  observe_activity(function, now);
  if (!demand) return;
  s->wake_requested = true;
  // A woken function's dependencies must come up first, and functions that
  // start as soon as any function is called come up with it. Both count as
  // activity of their own, so they do not go back to zero at once.
  for (const auto& other : functions_to_wake(configs_, function)) {
    State* o = find(other);
    o->wake_requested = true;
    if (!o->last_activity || now > *o->last_activity) o->last_activity = now;
  }
}

void ScalerCore::observe_waiting(const std::string& function, bool waiting) {
  if (State* s = find(function)) s->waiting = waiting;
}

void ScalerCore::observe_ready(const std::string& function, int ready_replicas) {
  if (State* s = find(function)) s->ready = ready_replicas;
}

std::optional<ScaleCommand> ScalerCore::drain_finished(const std::string& function, int replicas) {
  State* s = find(function);
  if (!s || !s->draining_to || *s->draining_to != replicas) return std::nullopt;
  ScaleCommand command{ScaleCommand::Kind::Scale, function, replicas, s->requested, "drained: " + s->last_reason};
  s->draining_to.reset();
  s->requested = replicas;
  return command;
}

std::map<std::string, DependencyState> ScalerCore::dependencies_of(const State& state) const {
  std::map<std::string, DependencyState> out;
  for (const auto& name : state.function.config.depends_on) {
    auto it = states_.find(name);
    if (it == states_.end()) continue;  // not a SlimFaas function: does not block
    const State& d = it->second;
    const int minimum = std::max({1, d.function.config.replicas_min, d.draining_to ? 0 : d.requested});
    out[name] = DependencyState{d.ready > 0, d.ready >= minimum};
  }
  return out;
}

ScalerCore::Evaluation ScalerCore::evaluate(WallClock::time_point now) {
  bool consumed_wake = false;
  Evaluation result = evaluate_once(now, consumed_wake);
  if (consumed_wake) {
    // A consumed wake was "forced" activity, which has no deadline; decided
    // again without it, the function gets its scale-down deadline.
    bool again = false;
    Evaluation second = evaluate_once(now, again);
    for (auto& c : second.commands) result.commands.push_back(std::move(c));
    result.next_check = second.next_check;
  }
  return result;
}

ScalerCore::Evaluation ScalerCore::evaluate_once(WallClock::time_point now, bool& consumed_wake) {
  Evaluation result;
  auto consider = [&](std::optional<WallClock::time_point> t) {
    if (t && (!result.next_check || *t < *result.next_check)) result.next_check = t;
  };
  for (auto& [name, s] : states_) {
    ScaleInputs in;
    // While a scale-down drains, decide from the count still requested: if
    // the function is needed again, the decision keeps it and the drain is
    // cancelled below.
    in.requested_replicas = s.requested;
    in.ready_replicas = s.ready;
    in.last_activity = s.last_activity;
    in.now = now;
    in.previous_evaluation = s.previous_evaluation;
    in.pending_demand = s.waiting || s.wake_requested;
    in.dependencies = dependencies_of(s);
    in.pod_scaled_up_by_default_when_infrastructure_has_never_called = pod_scaled_up_by_default_;
    in.never_called_since_start = !s.called;
    const ScaleDecision decision = decide_scale(s.function.config, s.schedule.get(), in);
    s.previous_evaluation = now;
    consider(decision.next_check);
    // Held callers keep the function active, and their leaving sends no
    // message here (the board counts them): look again a second later.
    if (s.waiting) consider(now + std::chrono::seconds(1));

    if (decision.desired > 0 && s.wake_requested) {
      s.wake_requested = false;
      consumed_wake = true;
    }
    if (decision.reason != s.last_reason) {
      spdlog::debug("scaler: {}: {}", name, decision.reason);
      s.last_reason = decision.reason;
    }

    if (decision.desired >= s.requested) {
      if (s.draining_to) {
        result.commands.push_back(
            ScaleCommand{ScaleCommand::Kind::CancelDrain, name, s.requested, s.requested, decision.reason});
        s.draining_to.reset();
      }
      if (decision.desired > s.requested) {
        result.commands.push_back(
            ScaleCommand{ScaleCommand::Kind::Scale, name, decision.desired, s.requested, decision.reason});
        s.requested = decision.desired;
      }
      continue;
    }
    // Scale down: drain first, unless the same drain already runs.
    if (s.draining_to == decision.desired) continue;
    result.commands.push_back(
        ScaleCommand{ScaleCommand::Kind::Drain, name, decision.desired, s.requested, decision.reason});
    s.draining_to = decision.desired;
  }
  return result;
}

std::optional<ScalerCore::FunctionView> ScalerCore::view(const std::string& function) const {
  auto it = states_.find(function);
  if (it == states_.end()) return std::nullopt;
  const State& s = it->second;
  return FunctionView{s.requested, s.ready, s.draining_to, s.last_activity, s.last_reason};
}

std::vector<std::string> ScalerCore::names() const {
  std::vector<std::string> out;
  for (const auto& [name, _] : states_) out.push_back(name);
  return out;
}

}  // namespace slimfaas::actors
