// The node's own routes: /health, /status-function(s), /wake-function,
// /metrics, /debug/actors.
#include "tests/integration/sync_fixture.hpp"

using namespace it;

namespace {

void check_status_object(const nlohmann::json& o, const std::string& name) {
  INFO(o.dump());
  REQUIRE(o.is_object());
  for (const char* field : {"NumberReady", "NumberRequested", "PodType", "Visibility", "Name"})
    CHECK(o.contains(field));
  CHECK(o["Name"] == name);
  CHECK(o["Visibility"] == "Public");
  CHECK(o["NumberReady"].is_number_integer());
  CHECK(o["NumberRequested"].is_number_integer());
  CHECK(o["PodType"].is_string());
}

}  // namespace

TEST_CASE("GET /health answers 200", "[integration][api]") {
  auto s = start_stack();
  auto r = http_get(s.slim.url("/health"));
  INFO(r.describe());
  CHECK(r.status == 200);
  CHECK(echo_requests(s.echo) == 0);  // health does not touch functions
}

TEST_CASE("/status-function/<fn> describes the function - 404 when unknown", "[integration][api]") {
  auto s = start_stack();
  auto r = http_get(s.slim.url("/status-function/echo"));
  INFO(r.describe());
  REQUIRE(r.status == 200);
  CHECK(r.header("content-type").value_or("").find("application/json") != std::string::npos);
  auto j = r.json();
  REQUIRE(j);
  check_status_object(*j, "echo");
  CHECK((*j)["NumberReady"] == 1);

  check_error_json(http_get(s.slim.url("/status-function/nope")), 404);
}

TEST_CASE("/status-functions lists every function", "[integration][api]") {
  auto echo = start_echo();
  FunctionSpec first = echo_spec();
  first.urls = {local_url(echo.port)};
  FunctionSpec second = echo_spec();
  second.name = "other";
  second.urls = {local_url(echo.port)};
  auto slim = start_slimfaas(functions_json({first, second}));
  auto r = http_get(slim.url("/status-functions"));
  INFO(r.describe());
  REQUIRE(r.status == 200);
  auto j = r.json();
  REQUIRE(j);
  REQUIRE(j->is_array());
  CHECK(j->size() == 2);
  bool found_echo = false, found_other = false;
  for (auto& o : *j) {
    if (o.value("Name", "") == "echo") {
      found_echo = true;
      check_status_object(o, "echo");
      CHECK(o["NumberReady"] == 1);
    }
    if (o.value("Name", "") == "other") found_other = true;
  }
  CHECK(found_echo);
  CHECK(found_other);
}

TEST_CASE("/wake-function/<fn> answers 204 to POST and GET - 404 when unknown", "[integration][api]") {
  auto s = start_stack();
  auto post = http("POST", s.slim.url("/wake-function/echo"));
  INFO(post.describe());
  CHECK(post.status == 204);
  CHECK(post.body.empty());
  auto get = http_get(s.slim.url("/wake-function/echo"));
  INFO(get.describe());
  CHECK(get.status == 204);
  check_error_json(http("POST", s.slim.url("/wake-function/nope")), 404);
  check_error_json(http_get(s.slim.url("/wake-function/nope")), 404);
}

TEST_CASE("/metrics is valid Prometheus text and counts proxied calls", "[integration][api]") {
  auto s = start_stack();
  auto before = http_get(s.slim.url("/metrics"));
  REQUIRE(before.status == 200);
  const std::map<std::string, std::string> labels{{"function", "echo"}, {"method", "GET"}, {"status", "200"}};
  const double count_before = metric_value(before.body, "slimfaas_http_requests_total", labels).value_or(0);

  REQUIRE(http_get(s.fn("/inspect")).status == 200);

  HttpResponse after;
  std::optional<double> count_after;
  bool counted = wait_until(
      [&] {
        after = http_get(s.slim.url("/metrics"));
        count_after = metric_value(after.body, "slimfaas_http_requests_total", labels);
        return count_after && *count_after >= count_before + 1;
      },
      5s, 50ms);
  INFO(after.describe());
  REQUIRE(after.status == 200);
  CHECK(after.header("content-type").value_or("").rfind("text/plain; version=0.0.4", 0) == 0);
  CHECK(counted);

  auto lint = run_command("/usr/bin/promtool check metrics", after.body);
  INFO("promtool exit " << lint.exit_code << ":\n" << lint.output);
  CHECK(lint.exit_code == 0);
}

TEST_CASE("/debug/actors shows the function actor and its state", "[integration][api]") {
  auto s = start_stack(echo_spec(2, 2, 30));
  auto find_echo = [&](nlohmann::json& out, HttpResponse& resp) {
    resp = http_get(s.slim.url("/debug/actors"));
    auto j = resp.json();
    if (resp.status != 200 || !j || !j->is_object() || !j->contains("actors")) return false;
    int matches = 0;
    for (auto& a : (*j)["actors"])
      if (a.is_object() && a.value("kind", "") == "function" && a.value("name", "") == "echo") {
        out = a;
        ++matches;
      }
    return matches == 1;
  };
  nlohmann::json actor;
  HttpResponse r;
  bool found = find_echo(actor, r);
  INFO(r.describe());
  REQUIRE(r.status == 200);
  auto j = r.json();
  REQUIRE(j);
  CHECK(j->contains("node"));
  REQUIRE((*j)["actors"].is_array());
  for (auto& a : (*j)["actors"]) {
    INFO(a.dump());
    for (const char* field : {"id", "kind", "name", "mailbox", "state"}) CHECK(a.contains(field));
  }
  REQUIRE(found);
  INFO(actor.dump());
  REQUIRE(actor["state"].is_object());
  CHECK(actor["state"]["ready_replicas"] == 1);
  CHECK(actor["state"]["in_flight"] == 0);
  CHECK(actor["state"]["waiting"] == 0);

  // in_flight follows a running call.
  auto call = in_thread([&] { return http_get(s.fn("/sleep/1500"), 30s); });
  bool seen_in_flight = wait_until(
      [&] { return find_echo(actor, r) && actor["state"]["in_flight"] == 1; }, 5s);
  CHECK(seen_in_flight);
  CHECK(call.get().status == 200);
}
