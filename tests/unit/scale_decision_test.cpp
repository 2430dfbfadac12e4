#include "actors/scale_decision.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "tests/unit/wall_time.hpp"

using namespace slimfaas::actors;
using slimfaas::k8s::FunctionConfig;
using namespace std::chrono_literals;
using slimfaas::test::epoch;
using slimfaas::test::TimePoint;
using slimfaas::test::utc;

namespace {

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

Schedule parse_ok(const std::string& json) {
  std::vector<std::string> problems;
  Schedule s = parse_schedule(json, problems);
  REQUIRE(problems.empty());
  return s;
}

// Wednesday 2025-01-15 noon UTC: no schedule involved.
const TimePoint T0 = utc(2025, 1, 15, 12, 0);

ScaleInputs at(TimePoint now, int replicas) {
  ScaleInputs in;
  in.now = now;
  in.requested_replicas = replicas;
  in.ready_replicas = replicas;
  return in;
}

}  // namespace

// ---------------------------------------------------------------- from zero

TEST_CASE("decide_scale: demand at 0 wakes to ReplicasAtStart", "[scale_decision]") {
  FunctionConfig config;  // min 0, at start 1, timeout 300
  ScaleInputs in = at(T0, 0);
  in.pending_demand = true;
  ScaleDecision d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 1);
  CHECK(contains(d.reason, "pending demand"));
  CHECK(d.next_check == std::nullopt);  // the timeout does not run while demand is pending

  config.replicas_at_start = 3;
  CHECK(decide_scale(config, nullptr, in).desired == 3);

  // ReplicasAtStart below ReplicasMin: at least ReplicasMin.
  config.replicas_at_start = 1;
  config.replicas_min = 2;
  CHECK(decide_scale(config, nullptr, in).desired == 2);
}

TEST_CASE("decide_scale: no wake without demand", "[scale_decision]") {
  FunctionConfig config;
  ScaleInputs in = at(T0, 0);
  ScaleDecision d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 0);
  CHECK(d.next_check == std::nullopt);

  // Recent activity alone does not wake a function at 0: only demand does.
  in.last_activity = T0 - 10s;
  in.previous_evaluation = T0 - 1s;
  d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 0);
  CHECK(contains(d.reason, "no demand"));
  CHECK(d.next_check == std::nullopt);  // nothing at 0 changes with time alone
}

TEST_CASE("decide_scale: ReplicasAtStart 0 cannot wake and says so", "[scale_decision]") {
  FunctionConfig config;
  config.replicas_at_start = 0;
  ScaleInputs in = at(T0, 0);
  in.pending_demand = true;
  ScaleDecision d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 0);
  CHECK(contains(d.reason, "ReplicasAtStart is 0"));

  config.replicas_at_start = 1;
  config.replica_max = 0;
  d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 0);
  CHECK(contains(d.reason, "ReplicaMax is 0"));
}

TEST_CASE("decide_scale: ReplicasMin > 0 starts a function at 0 without demand", "[scale_decision]") {
  FunctionConfig config;
  config.replicas_min = 2;
  config.replicas_at_start = 3;
  ScaleDecision d = decide_scale(config, nullptr, at(T0, 0));
  CHECK(d.desired == 2);
  CHECK(contains(d.reason, "ReplicasMin"));
  // With demand: ReplicasAtStart.
  ScaleInputs in = at(T0, 0);
  in.pending_demand = true;
  CHECK(decide_scale(config, nullptr, in).desired == 3);
}

// ---------------------------------------------------------------- to ReplicasMin

TEST_CASE("decide_scale: scale to ReplicasMin after the timeout (exactly at the boundary)", "[scale_decision]") {
  FunctionConfig config;  // timeout 300
  config.replica_max = 4;
  ScaleInputs in = at(T0 + 299s, 2);
  in.last_activity = T0;
  ScaleDecision d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 2);
  CHECK(epoch(d.next_check) == epoch(T0 + 300s));  // one timer, for the deadline
  CHECK(contains(d.reason, "active"));

  in.now = T0 + 300s - 1ns;
  CHECK(decide_scale(config, nullptr, in).desired == 2);

  in.now = T0 + 300s;
  d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 0);
  CHECK(contains(d.reason, "TimeoutSecondBeforeSetReplicasMin 300s"));
  CHECK(d.next_check == std::nullopt);

  config.replicas_min = 1;
  d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 1);
  in.requested_replicas = 1;
  d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 1);
  CHECK(contains(d.reason, "idle at ReplicasMin"));
}

TEST_CASE("decide_scale: activity resets the timeout", "[scale_decision]") {
  FunctionConfig config;
  config.timeout_seconds_before_min = 60;
  ScaleInputs in = at(T0 + 60s, 1);
  in.last_activity = T0;
  CHECK(decide_scale(config, nullptr, in).desired == 0);

  in.last_activity = T0 + 45s;  // a call 15 s ago
  ScaleDecision d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 1);
  CHECK(epoch(d.next_check) == epoch(T0 + 105s));

  // Pending demand keeps it up however old the last activity.
  in.last_activity = T0 - 1h;
  in.pending_demand = true;
  d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 1);
  CHECK(d.next_check == std::nullopt);
}

TEST_CASE("decide_scale: a function with replicas but no known activity goes to ReplicasMin", "[scale_decision]") {
  FunctionConfig config;
  ScaleDecision d = decide_scale(config, nullptr, at(T0, 1));
  CHECK(d.desired == 0);
  CHECK(contains(d.reason, "no activity since start"));
}

TEST_CASE("decide_scale: TimeoutSecondBeforeSetReplicasMin 0 scales down as soon as demand ends", "[scale_decision]") {
  FunctionConfig config;
  config.timeout_seconds_before_min = 0;
  ScaleInputs in = at(T0, 1);
  in.last_activity = T0;
  CHECK(decide_scale(config, nullptr, in).desired == 0);
  in.pending_demand = true;
  CHECK(decide_scale(config, nullptr, in).desired == 1);
}

// ---------------------------------------------------------------- bounds

TEST_CASE("decide_scale: never above max_replicas and never below ReplicasMin", "[scale_decision]") {
  FunctionConfig config;
  config.replicas_at_start = 5;
  config.replica_max = 3;
  ScaleInputs in = at(T0, 0);
  in.pending_demand = true;
  CHECK(decide_scale(config, nullptr, in).desired == 3);  // ReplicasAtStart capped by ReplicaMax

  in = at(T0, 7);
  in.last_activity = T0;
  ScaleDecision d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 3);
  CHECK(contains(d.reason, "ReplicaMax"));

  // Without ReplicaMax the ceiling is max(ReplicasMin, ReplicasAtStart).
  FunctionConfig plain;
  plain.replicas_at_start = 2;
  CHECK(decide_scale(plain, nullptr, in).desired == 2);

  // Active below ReplicasMin: raised to it.
  plain.replicas_min = 2;
  in.requested_replicas = 1;
  CHECK(decide_scale(plain, nullptr, in).desired == 2);

  // ReplicaMax below ReplicasMin (a configuration error): ReplicasMin wins.
  FunctionConfig odd;
  odd.replicas_min = 2;
  odd.replica_max = 1;
  in.requested_replicas = 4;
  CHECK(decide_scale(odd, nullptr, in).desired == 2);
}

// ---------------------------------------------------------------- DependsOn

TEST_CASE("decide_scale: DependsOn blocks the start until dependencies are ready at their minimum",
          "[scale_decision]") {
  FunctionConfig config;
  config.depends_on = {"db", "cache", "external"};
  ScaleInputs in = at(T0, 0);
  in.pending_demand = true;
  in.dependencies["db"] = DependencyState{false, false};
  in.dependencies["cache"] = DependencyState{true, true};
  // "external" is not in the map: not a SlimFaas function, it does not block.

  ScaleDecision d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 0);
  CHECK(contains(d.reason, "waiting for dependency db"));
  CHECK_FALSE(contains(d.reason, "cache"));

  in.dependencies["db"] = DependencyState{true, false};  // ready but below its minimum
  CHECK(decide_scale(config, nullptr, in).desired == 0);

  in.dependencies["db"] = DependencyState{true, true};
  d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 1);

  // Dependencies only gate the start from 0, not a running function.
  in.dependencies["db"] = DependencyState{false, false};
  in.requested_replicas = 1;
  in.last_activity = T0;
  CHECK(decide_scale(config, nullptr, in).desired == 1);
}

// ---------------------------------------------------------------- schedule

TEST_CASE("decide_scale: the schedule's ScaleDownTimeout overrides the annotation", "[scale_decision]") {
  Schedule s = parse_ok(
      R"({"TimeZoneID":"Europe/Paris","Default":{"ScaleDownTimeout":[{"Time":"07:00","Value":20},{"Time":"21:00","Value":10}]}})");
  FunctionConfig config;  // annotation: 300 s
  TimePoint noon = utc(2025, 1, 15, 11, 0);  // 12:00 Paris, 20 s in force
  ScaleInputs in = at(noon, 1);
  in.last_activity = noon - 20s;
  ScaleDecision d = decide_scale(config, &s, in);
  CHECK(d.desired == 0);
  CHECK(contains(d.reason, "ScaleDownTimeout 20s"));
  CHECK(scale_down_timeout_seconds(config, &s, noon) == 20);
  CHECK(scale_down_timeout_seconds(config, nullptr, noon) == 300);

  in.last_activity = noon - 19s;
  d = decide_scale(config, &s, in);
  CHECK(d.desired == 1);
  CHECK(epoch(d.next_check) == epoch(noon + 1s));

  // 22:00 Paris: 10 s in force.
  TimePoint evening = utc(2025, 1, 15, 21, 0);
  in = at(evening, 1);
  in.last_activity = evening - 10s;
  CHECK(decide_scale(config, &s, in).desired == 0);
  in.last_activity = evening - 9s;
  CHECK(decide_scale(config, &s, in).desired == 1);

  // A schedule without ScaleDownTimeout leaves the annotation in force.
  Schedule wake_only = parse_ok(R"({"TimeZoneID":"Europe/Paris","Default":{"WakeUp":["07:00"]}})");
  in = at(noon, 1);
  in.last_activity = noon - 299s;
  CHECK(decide_scale(config, &wake_only, in).desired == 1);
}

TEST_CASE("decide_scale: next_check follows a ScaleDownTimeout change", "[scale_decision]") {
  Schedule s = parse_ok(
      R"({"TimeZoneID":"Europe/Paris","Default":{"ScaleDownTimeout":[{"Time":"07:00","Value":20},{"Time":"21:00","Value":10}]}})");
  FunctionConfig config;
  // Activity at 20:59:50 Paris; with 20 s it would end at 21:00:10, but from
  // 21:00 the timeout is 10 s: idle at 21:00:00 (20:00:00 UTC).
  ScaleInputs in = at(utc(2025, 1, 15, 19, 59, 55), 1);
  in.last_activity = utc(2025, 1, 15, 19, 59, 50);
  ScaleDecision d = decide_scale(config, &s, in);
  CHECK(d.desired == 1);
  CHECK(epoch(d.next_check) == epoch(utc(2025, 1, 15, 20, 0, 0)));
  in.now = utc(2025, 1, 15, 20, 0, 0);
  CHECK(decide_scale(config, &s, in).desired == 0);

  // Activity at 06:59:45 Paris: idle from 06:59:55 (10 s), but at 07:00 the
  // 20 s timeout makes it recent again until 07:00:05.
  in = at(utc(2025, 1, 15, 5, 59, 58), 1);
  in.last_activity = utc(2025, 1, 15, 5, 59, 45);
  d = decide_scale(config, &s, in);
  CHECK(d.desired == 0);
  CHECK(epoch(d.next_check) == epoch(utc(2025, 1, 15, 6, 0, 0)));
  in.now = utc(2025, 1, 15, 6, 0, 0);
  d = decide_scale(config, &s, in);
  CHECK(d.desired == 1);
  CHECK(epoch(d.next_check) == epoch(utc(2025, 1, 15, 6, 0, 5)));
}

TEST_CASE("decide_scale: a WakeUp time that has just passed wakes to ReplicasAtStart", "[scale_decision]") {
  Schedule s = parse_ok(R"({"TimeZoneID":"Europe/Paris","Default":{"WakeUp":["07:00"]}})");
  FunctionConfig config;  // timeout 300
  config.replicas_at_start = 2;
  const TimePoint wake = utc(2025, 1, 15, 6, 0);  // 07:00 Paris

  // Just before: nothing, and the timer is for the wake-up.
  ScaleInputs in = at(wake - 1s, 0);
  in.previous_evaluation = wake - 60s;
  ScaleDecision d = decide_scale(config, &s, in);
  CHECK(d.desired == 0);
  CHECK(epoch(d.next_check) == epoch(wake));

  // The timer fires at the wake-up.
  in.previous_evaluation = wake - 1s;
  in.now = wake;
  d = decide_scale(config, &s, in);
  CHECK(d.desired == 2);
  CHECK(contains(d.reason, "wake-up at 07:00 Europe/Paris"));
  CHECK(epoch(d.next_check) == epoch(wake + 300s));  // the wake-up counts as activity

  // A little late: still woken while the wake-up's window is open.
  in.now = wake + 30s;
  CHECK(decide_scale(config, &s, in).desired == 2);

  // First evaluation (no previous one) inside the window: woken.
  in.previous_evaluation = std::nullopt;
  CHECK(decide_scale(config, &s, in).desired == 2);

  // Already handled by the previous evaluation: not woken again.
  in.previous_evaluation = wake + 10s;
  d = decide_scale(config, &s, in);
  CHECK(d.desired == 0);
  CHECK(epoch(d.next_check) == epoch(wake + 24h));

  // Too late: its window (07:00 + 300 s) is over.
  in.previous_evaluation = wake - 1s;
  in.now = wake + 300s;
  CHECK(decide_scale(config, &s, in).desired == 0);

  // Running: the wake-up keeps it up for the timeout, then it goes down.
  in = at(wake + 200s, 2);
  in.last_activity = wake - 1h;
  d = decide_scale(config, &s, in);
  CHECK(d.desired == 2);
  CHECK(epoch(d.next_check) == epoch(wake + 300s));
  in.now = wake + 300s;
  d = decide_scale(config, &s, in);
  CHECK(d.desired == 0);
  CHECK(epoch(d.next_check) == epoch(wake + 24h));  // the next wake-up
}

TEST_CASE("decide_scale: the next wake-up bounds next_check", "[scale_decision]") {
  Schedule s = parse_ok(R"({"TimeZoneID":"Europe/Paris","Default":{"WakeUp":["07:00"]}})");
  FunctionConfig config;
  config.timeout_seconds_before_min = 3600;
  // Active at 06:50 Paris with a deadline at 07:40: the wake-up at 07:00 moves
  // the deadline, so the timer is for 07:00.
  ScaleInputs in = at(utc(2025, 1, 15, 5, 50), 1);
  in.last_activity = utc(2025, 1, 15, 5, 40);
  ScaleDecision d = decide_scale(config, &s, in);
  CHECK(d.desired == 1);
  CHECK(epoch(d.next_check) == epoch(utc(2025, 1, 15, 6, 0)));
}

// ---------------------------------------------------------------- never called

TEST_CASE("decide_scale: PodScaledUpByDefaultWhenInfrastructureHasNeverCalled", "[scale_decision]") {
  FunctionConfig config;
  ScaleInputs in = at(T0, 0);
  in.never_called_since_start = true;
  CHECK(decide_scale(config, nullptr, in).desired == 0);  // setting off

  in.pod_scaled_up_by_default_when_infrastructure_has_never_called = true;
  ScaleDecision d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 1);
  CHECK(contains(d.reason, "never called"));

  // Up and never called: never scaled down, no timer.
  in.requested_replicas = 1;
  d = decide_scale(config, nullptr, in);
  CHECK(d.desired == 1);
  CHECK(d.next_check == std::nullopt);

  // Once called, the ordinary timeout applies.
  in.never_called_since_start = false;
  in.last_activity = T0 - 301s;
  CHECK(decide_scale(config, nullptr, in).desired == 0);
}

// ---------------------------------------------------------------- who else wakes

TEST_CASE("functions_to_wake: ReplicasStartAsSoonAsOneFunctionRetrieveARequest and DependsOn", "[scale_decision]") {
  std::map<std::string, FunctionConfig> functions;
  functions["api"].depends_on = {"auth", "not-a-function"};
  functions["auth"].depends_on = {"db"};
  functions["db"];
  functions["eager"].start_when_any_function_called = true;
  functions["eager"].depends_on = {"cache"};
  functions["cache"];
  functions["lazy"];

  CHECK(functions_to_wake(functions, "api") == std::set<std::string>{"auth", "db", "eager", "cache"});
  CHECK(functions_to_wake(functions, "lazy") == std::set<std::string>{"eager", "cache"});
  CHECK(functions_to_wake(functions, "eager") == std::set<std::string>{"cache"});  // never itself
  CHECK(functions_to_wake(functions, "unknown") == std::set<std::string>{"eager", "cache"});

  functions["eager"].start_when_any_function_called = false;
  CHECK(functions_to_wake(functions, "lazy").empty());

  // A dependency cycle ends.
  functions["db"].depends_on = {"api"};
  CHECK(functions_to_wake(functions, "api") == std::set<std::string>{"auth", "db"});
}
