#include "actors/scaler_core.hpp"

#include <catch2/catch.hpp>
#include <chrono>
#include <string>
#include <vector>

#include "tests/unit/wall_time.hpp"

using namespace slimfaas::actors;
using slimfaas::k8s::parse_annotations;
using namespace std::chrono_literals;
using slimfaas::test::epoch;
using slimfaas::test::TimePoint;
using slimfaas::test::utc;
using Kind = ScaleCommand::Kind;

namespace {

const TimePoint T0 = utc(2025, 1, 15, 12, 0);

ScaledFunction function(const std::string& name, std::map<std::string, std::string> annotations) {
  annotations["SlimFaas/Function"] = "true";
  auto config = parse_annotations(annotations);
  REQUIRE(config.problems.empty());
  return ScaledFunction{name, config, config.replicas_min};
}

ScaleCommand scale(const std::string& fn, int to, int from) { return {Kind::Scale, fn, to, from, ""}; }

// Commands without their reasons (reasons are for people; tests check that
// one is given).
std::vector<ScaleCommand> plain(std::vector<ScaleCommand> commands) {
  for (auto& c : commands) {
    CHECK_FALSE(c.reason.empty());
    c.reason.clear();
  }
  return commands;
}

}  // namespace

TEST_CASE("ScalerCore: a function at zero stays there without demand and wakes on demand") {
  ScalerCore core({function("echo", {{"SlimFaas/ReplicasAtStart", "2"}, {"SlimFaas/Scale", R"({"ReplicaMax":3})"}})},
                  false);
  auto idle = core.evaluate(T0);
  CHECK(idle.commands.empty());
  CHECK_FALSE(idle.next_check.has_value());

  core.record_activity("echo", T0 + 1s, true);
  auto woken = core.evaluate(T0 + 1s);
  CHECK(plain(woken.commands) == std::vector{scale("echo", 2, 0)});
  CHECK(core.view("echo")->requested == 2);
  // The scale-down deadline is the default 300 s after the call.
  CHECK(epoch(woken.next_check) == epoch(T0 + 301s));
  // Deciding again changes nothing: the wake was consumed.
  CHECK(core.evaluate(T0 + 2s).commands.empty());
}

TEST_CASE("ScalerCore: after the timeout it drains then scales to ReplicasMin") {
  ScalerCore core({function("echo", {{"SlimFaas/TimeoutSecondBeforeSetReplicasMin", "10"}})}, false);
  core.record_activity("echo", T0, true);
  REQUIRE(plain(core.evaluate(T0).commands) == std::vector{scale("echo", 1, 0)});
  core.observe_ready("echo", 1);

  CHECK(core.evaluate(T0 + 9s).commands.empty());
  auto idle = core.evaluate(T0 + 10s);
  CHECK(plain(idle.commands) == std::vector{ScaleCommand{Kind::Drain, "echo", 0, 1, ""}});
  CHECK(core.view("echo")->draining_to == 0);
  // While it drains, the same decision does not start another drain.
  CHECK(core.evaluate(T0 + 11s).commands.empty());
  // Drained: now the backend may remove it.
  auto done = core.drain_finished("echo", 0);
  REQUIRE(done);
  CHECK(done->kind == Kind::Scale);
  CHECK(done->replicas == 0);
  CHECK(core.view("echo")->requested == 0);
  CHECK_FALSE(core.view("echo")->draining_to.has_value());
  // A late or repeated answer changes nothing.
  CHECK_FALSE(core.drain_finished("echo", 0).has_value());
}

TEST_CASE("ScalerCore: activity during a drain cancels it") {
  ScalerCore core({function("echo", {{"SlimFaas/TimeoutSecondBeforeSetReplicasMin", "10"}})}, false);
  core.record_activity("echo", T0, true);
  core.evaluate(T0);
  REQUIRE(core.evaluate(T0 + 10s).commands.size() == 1);
  core.observe_activity("echo", T0 + 10500ms);
  auto kept = core.evaluate(T0 + 11s);
  CHECK(plain(kept.commands) == std::vector{ScaleCommand{Kind::CancelDrain, "echo", 1, 1, ""}});
  CHECK_FALSE(core.drain_finished("echo", 0).has_value());
  CHECK(core.view("echo")->requested == 1);
  CHECK(epoch(kept.next_check) == epoch(T0 + 20500ms));
}

TEST_CASE("ScalerCore: callers held at zero keep the function awake past its timeout") {
  ScalerCore core({function("echo", {{"SlimFaas/TimeoutSecondBeforeSetReplicasMin", "1"}})}, false);
  core.record_activity("echo", T0, true);
  core.evaluate(T0);
  core.observe_waiting("echo", true);
  auto held = core.evaluate(T0 + 5s);
  CHECK(held.commands.empty());
  // Their leaving is seen at the next look.
  CHECK(epoch(held.next_check) == epoch(T0 + 6s));
  core.observe_waiting("echo", false);
  CHECK(core.evaluate(T0 + 5s).commands.size() == 1);
}

TEST_CASE("ScalerCore: DependsOn wakes the dependency first and the dependent once it is ready") {
  ScalerCore core({function("api", {{"SlimFaas/DependsOn", "db"}}), function("db", {})}, false);
  core.record_activity("api", T0, true);
  auto first = core.evaluate(T0);
  CHECK(plain(first.commands) == std::vector{scale("db", 1, 0)});
  CHECK(core.view("api")->last_reason.find("waiting for dependency db") != std::string::npos);
  // Nothing changes until db is ready.
  CHECK(core.evaluate(T0 + 1s).commands.empty());
  core.observe_ready("db", 1);
  CHECK(plain(core.evaluate(T0 + 2s).commands) == std::vector{scale("api", 1, 0)});
}

TEST_CASE("ScalerCore: ReplicasStartAsSoonAsOneFunctionRetrieveARequest wakes with any call") {
  ScalerCore core({function("a", {}), function("b", {}),
                   function("eager", {{"SlimFaas/ReplicasStartAsSoonAsOneFunctionRetrieveARequest", "true"}})},
                  false);
  core.record_activity("a", T0, true);
  CHECK(plain(core.evaluate(T0).commands) == std::vector{scale("a", 1, 0), scale("eager", 1, 0)});
  CHECK(core.view("b")->requested == 0);
}

TEST_CASE("ScalerCore: a scheduled WakeUp starts a function at zero at that time") {
  ScalerCore core({function("echo", {{"SlimFaas/Schedule",
                                      R"({"TimeZoneID":"Europe/Paris","Default":{"WakeUp":["14:00"]}})"}})},
                  false);
  auto before = core.evaluate(T0);  // 13:00 in Paris
  CHECK(before.commands.empty());
  CHECK(epoch(before.next_check) == epoch(T0 + 1h));
  CHECK(plain(core.evaluate(T0 + 1h).commands) == std::vector{scale("echo", 1, 0)});
}

TEST_CASE("ScalerCore: PodScaledUpByDefaultWhenInfrastructureHasNeverCalled starts functions never called") {
  ScalerCore core({function("echo", {})}, true);
  CHECK(plain(core.evaluate(T0).commands) == std::vector{scale("echo", 1, 0)});
}
