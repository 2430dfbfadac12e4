#include "k8s/function_config.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

using namespace slimfaas::k8s;

namespace {

using Strings = std::vector<std::string>;

// Exactly one problem, and it names the annotation.
void check_one_problem(const FunctionConfig& c, const std::string& annotation) {
  INFO("problems: " << Catch::Detail::stringify(c.problems));
  REQUIRE(c.problems.size() == 1);
  CHECK(c.problems.front().find(annotation) != std::string::npos);
}

void check_default_calls(const CallConfiguration& calls) {
  CHECK(calls.sync_http_timeout_seconds == 120);
  for (const RetryPolicy* p : {&calls.async, &calls.publish}) {
    CHECK(p->http_timeout_seconds == 120);
    CHECK(p->timeout_retries == std::vector<int>{2, 4, 8});
    CHECK(p->http_status_retries == std::vector<int>{500, 502, 503});
  }
}

FunctionConfig one(const std::string& name, const std::string& value) { return parse_annotations({{name, value}}); }

}  // namespace

TEST_CASE("parse_annotations: defaults when there are no annotations", "[function_config]") {
  FunctionConfig c = parse_annotations({});
  CHECK(c.replicas_min == 0);
  CHECK(c.replicas_at_start == 1);
  CHECK(c.timeout_seconds_before_min == 300);
  CHECK(c.parallel == 10);
  CHECK(c.parallel_per_pod == 10);
  CHECK_FALSE(c.start_when_any_function_called);
  CHECK(c.depends_on.empty());
  CHECK(c.subscribe_events.empty());
  CHECK(c.default_visibility == Visibility::Public);
  CHECK(c.paths_visibility.empty());
  CHECK(c.default_trust == Trust::Trusted);
  check_default_calls(c.calls);
  CHECK(c.schedule_json.empty());
  CHECK(c.scale_json.empty());
  CHECK_FALSE(c.replica_max.has_value());
  CHECK(c.problems.empty());
  CHECK(c.max_replicas() == 1);
}

TEST_CASE("parse_annotations: unrelated annotations are ignored", "[function_config]") {
  FunctionConfig c = parse_annotations({{"SlimFaas/Function", "true"}, {"other/thing", "x"}, {"ReplicasMin", "5"}});
  CHECK(c.replicas_min == 0);
  CHECK(c.problems.empty());
}

TEST_CASE("parse_annotations: integer annotations", "[function_config]") {
  FunctionConfig c = parse_annotations({
      {"SlimFaas/ReplicasMin", "2"},
      {"SlimFaas/ReplicasAtStart", "3"},
      {"SlimFaas/TimeoutSecondBeforeSetReplicasMin", "60"},
      {"SlimFaas/NumberParallelRequest", "4"},
      {"SlimFaas/NumberParallelRequestPerPod", "1"},
  });
  CHECK(c.problems.empty());
  CHECK(c.replicas_min == 2);
  CHECK(c.replicas_at_start == 3);
  CHECK(c.timeout_seconds_before_min == 60);
  CHECK(c.parallel == 4);
  CHECK(c.parallel_per_pod == 1);
}

TEST_CASE("parse_annotations: integers tolerate surrounding whitespace and accept their minimum",
          "[function_config]") {
  CHECK(one("SlimFaas/ReplicasMin", " 3 ").replicas_min == 3);
  CHECK(one("SlimFaas/ReplicasMin", "0").replicas_min == 0);
  CHECK(one("SlimFaas/ReplicasAtStart", "0").replicas_at_start == 0);
  CHECK(one("SlimFaas/TimeoutSecondBeforeSetReplicasMin", "0").timeout_seconds_before_min == 0);
  CHECK(one("SlimFaas/NumberParallelRequest", "1").parallel == 1);
  CHECK(one("SlimFaas/NumberParallelRequest", "1").problems.empty());
}

TEST_CASE("parse_annotations: bad integers fall back to the default with one problem", "[function_config]") {
  struct Case {
    const char* annotation;
    const char* value;
  };
  const Case cases[] = {
      {"SlimFaas/ReplicasMin", "abc"},
      {"SlimFaas/ReplicasMin", "-1"},
      {"SlimFaas/ReplicasMin", "1.5"},
      {"SlimFaas/ReplicasMin", ""},
      {"SlimFaas/ReplicasMin", "2x"},
      {"SlimFaas/ReplicasMin", "99999999999"},
      {"SlimFaas/ReplicasAtStart", "many"},
      {"SlimFaas/ReplicasAtStart", "-3"},
      {"SlimFaas/TimeoutSecondBeforeSetReplicasMin", "5m"},
      {"SlimFaas/TimeoutSecondBeforeSetReplicasMin", "-10"},
      {"SlimFaas/NumberParallelRequest", "0"},
      {"SlimFaas/NumberParallelRequest", "-1"},
      {"SlimFaas/NumberParallelRequest", "ten"},
      {"SlimFaas/NumberParallelRequestPerPod", "0"},
      {"SlimFaas/NumberParallelRequestPerPod", "x"},
  };
  for (const auto& k : cases) {
    INFO(k.annotation << " = '" << k.value << "'");
    FunctionConfig c = one(k.annotation, k.value);
    check_one_problem(c, k.annotation);
    CHECK(c.replicas_min == 0);
    CHECK(c.replicas_at_start == 1);
    CHECK(c.timeout_seconds_before_min == 300);
    CHECK(c.parallel == 10);
    CHECK(c.parallel_per_pod == 10);
    // The problem quotes the value and the default it falls back to.
    CHECK(c.problems.front().find(std::string("'") + k.value + "'") != std::string::npos);
    CHECK(c.problems.front().find("default") != std::string::npos);
  }
}

TEST_CASE("parse_annotations: one bad annotation does not spoil the others", "[function_config]") {
  FunctionConfig c = parse_annotations({
      {"SlimFaas/ReplicasMin", "nope"},
      {"SlimFaas/NumberParallelRequest", "0"},
      {"SlimFaas/NumberParallelRequestPerPod", "3"},
      {"SlimFaas/DefaultVisibility", "Private"},
  });
  CHECK(c.problems.size() == 2);
  CHECK(c.replicas_min == 0);
  CHECK(c.parallel == 10);
  CHECK(c.parallel_per_pod == 3);
  CHECK(c.default_visibility == Visibility::Private);
}

TEST_CASE("parse_annotations: ReplicasStartAsSoonAsOneFunctionRetrieveARequest", "[function_config]") {
  const char* name = "SlimFaas/ReplicasStartAsSoonAsOneFunctionRetrieveARequest";
  CHECK(one(name, "true").start_when_any_function_called);
  CHECK(one(name, "True").start_when_any_function_called);
  CHECK(one(name, " TRUE ").start_when_any_function_called);
  CHECK_FALSE(one(name, "false").start_when_any_function_called);
  CHECK(one(name, "false").problems.empty());
  for (const char* bad : {"maybe", "yes", "1", ""}) {
    INFO("value '" << bad << "'");
    FunctionConfig c = one(name, bad);
    CHECK_FALSE(c.start_when_any_function_called);
    check_one_problem(c, name);
  }
}

TEST_CASE("parse_annotations: DependsOn and SubscribeEvents are comma lists", "[function_config]") {
  FunctionConfig c = parse_annotations({
      {"SlimFaas/DependsOn", " mysql , redis,  , kafka "},
      {"SlimFaas/SubscribeEvents", "reload,  Private:cache-clear ,x"},
  });
  CHECK(c.problems.empty());
  CHECK(c.depends_on == Strings{"mysql", "redis", "kafka"});
  CHECK(c.subscribe_events == Strings{"reload", "Private:cache-clear", "x"});
  CHECK(one("SlimFaas/DependsOn", "single").depends_on == Strings{"single"});
  CHECK(one("SlimFaas/DependsOn", "").depends_on.empty());
  CHECK(one("SlimFaas/DependsOn", " , ,").depends_on.empty());
  CHECK(one("SlimFaas/SubscribeEvents", "a,b,").subscribe_events == Strings{"a", "b"});
}

TEST_CASE("parse_annotations: DefaultVisibility and DefaultTrust", "[function_config]") {
  CHECK(one("SlimFaas/DefaultVisibility", "Private").default_visibility == Visibility::Private);
  CHECK(one("SlimFaas/DefaultVisibility", "private").default_visibility == Visibility::Private);
  CHECK(one("SlimFaas/DefaultVisibility", "Public").default_visibility == Visibility::Public);
  CHECK(one("SlimFaas/DefaultTrust", "Untrusted").default_trust == Trust::Untrusted);
  CHECK(one("SlimFaas/DefaultTrust", " untrusted ").default_trust == Trust::Untrusted);
  CHECK(one("SlimFaas/DefaultTrust", "Trusted").default_trust == Trust::Trusted);

  FunctionConfig bad_visibility = one("SlimFaas/DefaultVisibility", "Secret");
  CHECK(bad_visibility.default_visibility == Visibility::Public);
  check_one_problem(bad_visibility, "SlimFaas/DefaultVisibility");

  FunctionConfig bad_trust = one("SlimFaas/DefaultTrust", "maybe");
  CHECK(bad_trust.default_trust == Trust::Trusted);
  check_one_problem(bad_trust, "SlimFaas/DefaultTrust");

  CHECK(std::string(to_string(Visibility::Private)) == "Private");
  CHECK(std::string(to_string(Trust::Untrusted)) == "Untrusted");
}

TEST_CASE("parse_annotations: PathsStartWithVisibility", "[function_config]") {
  SECTION("a list of Visibility:prefix items") {
    FunctionConfig c = one("SlimFaas/PathsStartWithVisibility", "Private:/admin, public:/api ,Private:/internal/x");
    CHECK(c.problems.empty());
    REQUIRE(c.paths_visibility.size() == 3);
    CHECK(c.paths_visibility[0].prefix == "/admin");
    CHECK(c.paths_visibility[0].visibility == Visibility::Private);
    CHECK(c.paths_visibility[1].prefix == "/api");
    CHECK(c.paths_visibility[1].visibility == Visibility::Public);
    CHECK(c.paths_visibility[2].prefix == "/internal/x");
    CHECK(c.paths_visibility[2].visibility == Visibility::Private);
  }
  SECTION("whitespace around the colon") {
    FunctionConfig c = one("SlimFaas/PathsStartWithVisibility", "Private : /a");
    CHECK(c.problems.empty());
    REQUIRE(c.paths_visibility.size() == 1);
    CHECK(c.paths_visibility[0].prefix == "/a");
  }
  SECTION("bad items are skipped with a problem each, good ones kept") {
    FunctionConfig c = one("SlimFaas/PathsStartWithVisibility", "Private:/ok,/no-visibility,Secret:/x,Public:");
    REQUIRE(c.paths_visibility.size() == 1);
    CHECK(c.paths_visibility[0].prefix == "/ok");
    INFO(Catch::Detail::stringify(c.problems));
    CHECK(c.problems.size() == 3);
    for (const auto& p : c.problems) CHECK(p.find("SlimFaas/PathsStartWithVisibility") != std::string::npos);
  }
}

TEST_CASE("parse_annotations: Configuration sets every retry policy", "[function_config]") {
  FunctionConfig c = one("SlimFaas/Configuration", R"({
      "DefaultSync": {"HttpTimeout": 30},
      "DefaultAsync": {"HttpTimeout": 45, "TimeoutRetries": [1, 1], "HttpStatusRetries": [429]},
      "DefaultPublish": {"HttpTimeout": 5, "TimeoutRetries": [], "HttpStatusRetries": [500]}
  })");
  CHECK(c.problems.empty());
  CHECK(c.calls.sync_http_timeout_seconds == 30);
  CHECK(c.calls.async.http_timeout_seconds == 45);
  CHECK(c.calls.async.timeout_retries == std::vector<int>{1, 1});
  CHECK(c.calls.async.http_status_retries == std::vector<int>{429});
  CHECK(c.calls.publish.http_timeout_seconds == 5);
  CHECK(c.calls.publish.timeout_retries.empty());
  CHECK(c.calls.publish.http_status_retries == std::vector<int>{500});
}

TEST_CASE("parse_annotations: a partial Configuration keeps the other defaults", "[function_config]") {
  FunctionConfig c = one("SlimFaas/Configuration", R"({"DefaultAsync": {"TimeoutRetries": [3]}})");
  CHECK(c.problems.empty());
  CHECK(c.calls.sync_http_timeout_seconds == 120);
  CHECK(c.calls.async.http_timeout_seconds == 120);
  CHECK(c.calls.async.timeout_retries == std::vector<int>{3});
  CHECK(c.calls.async.http_status_retries == std::vector<int>{500, 502, 503});
  CHECK(c.calls.publish.http_timeout_seconds == 120);
  CHECK(c.calls.publish.timeout_retries == std::vector<int>{2, 4, 8});

  FunctionConfig empty = one("SlimFaas/Configuration", "{}");
  CHECK(empty.problems.empty());
  check_default_calls(empty.calls);
}

TEST_CASE("parse_annotations: bad Configuration JSON falls back with one problem", "[function_config]") {
  for (const char* raw : {"", "not json", "{\"DefaultSync\":", "[1,2]", "42", "\"text\"", "null"}) {
    INFO("Configuration '" << raw << "'");
    FunctionConfig c = one("SlimFaas/Configuration", raw);
    check_default_calls(c.calls);
    check_one_problem(c, "SlimFaas/Configuration");
  }
}

TEST_CASE("parse_annotations: wrong types inside Configuration fall back per field", "[function_config]") {
  struct Case {
    const char* raw;
    const char* field;  // named in the problem
  };
  const Case cases[] = {
      {R"({"DefaultSync": {"HttpTimeout": "30"}})", "DefaultSync.HttpTimeout"},
      {R"({"DefaultSync": {"HttpTimeout": 0}})", "DefaultSync.HttpTimeout"},
      {R"({"DefaultSync": {"HttpTimeout": -5}})", "DefaultSync.HttpTimeout"},
      {R"({"DefaultSync": {"HttpTimeout": 1.5}})", "DefaultSync.HttpTimeout"},
      {R"({"DefaultSync": 5})", "DefaultSync"},
      {R"({"DefaultAsync": "fast"})", "DefaultAsync"},
      {R"({"DefaultAsync": {"TimeoutRetries": "2,4"}})", "DefaultAsync.TimeoutRetries"},
      {R"({"DefaultAsync": {"TimeoutRetries": [2, "4"]}})", "DefaultAsync.TimeoutRetries"},
      {R"({"DefaultAsync": {"TimeoutRetries": [2, -4]}})", "DefaultAsync.TimeoutRetries"},
      {R"({"DefaultPublish": {"HttpStatusRetries": [500, 2.5]}})", "DefaultPublish.HttpStatusRetries"},
      {R"({"DefaultPublish": {"HttpStatusRetries": {"a": 1}}})", "DefaultPublish.HttpStatusRetries"},
  };
  for (const auto& k : cases) {
    INFO("Configuration " << k.raw);
    FunctionConfig c = one("SlimFaas/Configuration", k.raw);
    check_default_calls(c.calls);
    check_one_problem(c, "SlimFaas/Configuration");
    CHECK(c.problems.front().find(k.field) != std::string::npos);
  }
}

TEST_CASE("parse_annotations: a bad field in Configuration keeps the good ones", "[function_config]") {
  FunctionConfig c = one("SlimFaas/Configuration",
                         R"({"DefaultSync": {"HttpTimeout": 15}, "DefaultAsync": {"HttpTimeout": "x", "TimeoutRetries": [7]}})");
  check_one_problem(c, "SlimFaas/Configuration");
  CHECK(c.calls.sync_http_timeout_seconds == 15);
  CHECK(c.calls.async.http_timeout_seconds == 120);
  CHECK(c.calls.async.timeout_retries == std::vector<int>{7});
}

// A 64-bit integer must not be narrowed silently (4294967297 would become a
// timeout of 1, a ReplicaMax of 4294967296 would become 0): it is refused.
TEST_CASE("parse_annotations: integers in Configuration beyond int range are refused",
          "[function_config]") {
  FunctionConfig c = one("SlimFaas/Configuration", R"({"DefaultSync": {"HttpTimeout": 4294967297}})");
  CHECK(c.calls.sync_http_timeout_seconds == 120);
  CHECK(c.problems.size() == 1);

  FunctionConfig retries = one("SlimFaas/Configuration", R"({"DefaultAsync": {"TimeoutRetries": [4294967298]}})");
  CHECK(retries.calls.async.timeout_retries == std::vector<int>{2, 4, 8});
  CHECK(retries.problems.size() == 1);

  FunctionConfig scale = one("SlimFaas/Scale", R"({"ReplicaMax": 4294967296})");
  CHECK_FALSE(scale.replica_max.has_value());  // not a silent ReplicaMax of 0
  CHECK(scale.problems.size() == 1);
}

TEST_CASE("parse_annotations: Schedule is kept as validated JSON", "[function_config]") {
  FunctionConfig c = one("SlimFaas/Schedule", R"({"TimeZoneID":"Europe/Paris","Default":{"WakeUp":["07:00"]}})");
  CHECK(c.problems.empty());
  REQUIRE_FALSE(c.schedule_json.empty());
  auto doc = nlohmann::json::parse(c.schedule_json);
  CHECK(doc.at("TimeZoneID") == "Europe/Paris");
  CHECK(doc.at("Default").at("WakeUp").at(0) == "07:00");

  for (const char* raw : {"", "{", "[]", "\"x\"", "nope"}) {
    INFO("Schedule '" << raw << "'");
    FunctionConfig bad = one("SlimFaas/Schedule", raw);
    CHECK(bad.schedule_json.empty());
    check_one_problem(bad, "SlimFaas/Schedule");
  }
}

TEST_CASE("parse_annotations: Scale and ReplicaMax", "[function_config]") {
  SECTION("ReplicaMax sets max_replicas()") {
    FunctionConfig c = parse_annotations({{"SlimFaas/Scale", R"({"ReplicaMax": 7})"}, {"SlimFaas/ReplicasMin", "2"}});
    CHECK(c.problems.empty());
    CHECK(c.replica_max == std::optional<int>(7));
    CHECK(c.max_replicas() == 7);
    CHECK_FALSE(c.scale_json.empty());
    CHECK(nlohmann::json::parse(c.scale_json).at("ReplicaMax") == 7);
  }
  SECTION("ReplicaMax 0 is allowed") {
    FunctionConfig c = one("SlimFaas/Scale", R"({"ReplicaMax": 0})");
    CHECK(c.problems.empty());
    CHECK(c.max_replicas() == 0);
  }
  SECTION("Scale without ReplicaMax keeps the contract's ceiling") {
    FunctionConfig c = parse_annotations({{"SlimFaas/Scale", R"({"Triggers": []})"}, {"SlimFaas/ReplicasAtStart", "4"}});
    CHECK(c.problems.empty());
    CHECK_FALSE(c.replica_max.has_value());
    CHECK(c.max_replicas() == 4);
  }
  SECTION("bad ReplicaMax") {
    for (const char* raw : {R"({"ReplicaMax": -1})", R"({"ReplicaMax": "3"})", R"({"ReplicaMax": 2.5})"}) {
      INFO("Scale " << raw);
      FunctionConfig c = one("SlimFaas/Scale", raw);
      CHECK_FALSE(c.replica_max.has_value());
      CHECK(c.max_replicas() == 1);
      check_one_problem(c, "SlimFaas/Scale");
    }
  }
  SECTION("bad JSON") {
    for (const char* raw : {"", "{", "[1]", "7"}) {
      INFO("Scale '" << raw << "'");
      FunctionConfig c = one("SlimFaas/Scale", raw);
      CHECK(c.scale_json.empty());
      CHECK_FALSE(c.replica_max.has_value());
      check_one_problem(c, "SlimFaas/Scale");
    }
  }
}

TEST_CASE("FunctionConfig::max_replicas without Scale is max(ReplicasMin - ReplicasAtStart)", "[function_config]") {
  CHECK(parse_annotations({{"SlimFaas/ReplicasMin", "3"}, {"SlimFaas/ReplicasAtStart", "1"}}).max_replicas() == 3);
  CHECK(parse_annotations({{"SlimFaas/ReplicasMin", "1"}, {"SlimFaas/ReplicasAtStart", "5"}}).max_replicas() == 5);
  CHECK(parse_annotations({{"SlimFaas/ReplicasMin", "0"}, {"SlimFaas/ReplicasAtStart", "0"}}).max_replicas() == 0);
  CHECK(one("SlimFaas/ReplicasMin", "2").max_replicas() == 2);
}
