#include "net/metrics.hpp"

#include <sys/wait.h>
#include <unistd.h>

#include <catch2/catch.hpp>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

namespace m = slimfaas::net::metrics;

namespace {

bool contains_line(const std::string& text, const std::string& line) {
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) {
    if (l == line) return true;
  }
  return false;
}

std::vector<std::string> lines_of(const std::string& text) {
  std::vector<std::string> out;
  std::istringstream in(text);
  std::string l;
  while (std::getline(in, l)) out.push_back(l);
  return out;
}

struct PromtoolResult {
  bool available = false;
  int exit_code = -1;
  std::string output;
};

// Pipes `text` into `promtool check metrics` and collects its verdict.
PromtoolResult promtool_check(const std::string& text) {
  PromtoolResult result;
  const char* promtool = "/usr/bin/promtool";
  if (access(promtool, X_OK) != 0) return result;
  result.available = true;
  char out_path[] = "/tmp/slimfaas_promtool_XXXXXX";
  int fd = mkstemp(out_path);
  REQUIRE(fd >= 0);
  close(fd);
  std::string command = std::string(promtool) + " check metrics > " + out_path + " 2>&1";
  FILE* pipe = popen(command.c_str(), "w");
  REQUIRE(pipe != nullptr);
  std::fwrite(text.data(), 1, text.size(), pipe);
  int status = pclose(pipe);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  std::ifstream in(out_path);
  std::stringstream buffer;
  buffer << in.rdbuf();
  result.output = buffer.str();
  std::remove(out_path);
  return result;
}

}  // namespace

TEST_CASE("metrics: counter rendering", "[metrics]") {
  m::Registry registry;
  auto& calls = registry.counter("slimfaas_calls_total", "Calls handled.", {"function", "code"});
  calls.with({"fib", "200"}).inc();
  calls.with({"fib", "200"}).inc(4);
  calls.with({"echo", "502"}).inc();
  const std::string text = registry.render();
  INFO(text);
  // Header first, then children in label order.
  CHECK(text ==
        "# HELP slimfaas_calls_total Calls handled.\n"
        "# TYPE slimfaas_calls_total counter\n"
        "slimfaas_calls_total{function=\"echo\",code=\"502\"} 1\n"
        "slimfaas_calls_total{function=\"fib\",code=\"200\"} 5\n");
}

TEST_CASE("metrics: a family without labels renders bare samples", "[metrics]") {
  m::Registry registry;
  registry.counter("up_events_total", "Events.", {}).with({}).inc(7);
  registry.gauge("temperature_celsius", "Temperature.", {}).with({}).set(-2.5);
  const std::string text = registry.render();
  INFO(text);
  CHECK(contains_line(text, "up_events_total 7"));
  CHECK(contains_line(text, "temperature_celsius -2.5"));
}

TEST_CASE("metrics: a family with no children renders only its header", "[metrics]") {
  m::Registry registry;
  registry.gauge("empty_gauge", "Nothing yet.", {"x"});
  CHECK(registry.render() == "# HELP empty_gauge Nothing yet.\n# TYPE empty_gauge gauge\n");
}

TEST_CASE("metrics: gauge set and add", "[metrics]") {
  m::Registry registry;
  auto& g = registry.gauge("slimfaas_replicas", "Replicas.", {"function"});
  g.with({"a"}).set(3);
  g.with({"a"}).add(2);
  g.with({"a"}).add(-1.5);
  g.with({"b"}).set(0);
  CHECK(g.with({"a"}).value() == Approx(3.5));
  const std::string text = registry.render();
  INFO(text);
  CHECK(contains_line(text, "# TYPE slimfaas_replicas gauge"));
  CHECK(contains_line(text, "slimfaas_replicas{function=\"a\"} 3.5"));
  CHECK(contains_line(text, "slimfaas_replicas{function=\"b\"} 0"));
}

TEST_CASE("metrics: label values are escaped", "[metrics]") {
  m::Registry registry;
  auto& c = registry.counter("escapes_total", "Escapes.", {"v"});
  c.with({"a\"b"}).inc();
  c.with({"back\\slash"}).inc(2);
  c.with({"new\nline"}).inc(3);
  c.with({"all\"\\\n"}).inc(4);
  const std::string text = registry.render();
  INFO(text);
  CHECK(contains_line(text, R"(escapes_total{v="a\"b"} 1)"));
  CHECK(contains_line(text, R"(escapes_total{v="back\\slash"} 2)"));
  CHECK(contains_line(text, R"(escapes_total{v="new\nline"} 3)"));
  CHECK(contains_line(text, R"(escapes_total{v="all\"\\\n"} 4)"));
  // A raw newline inside a value would split a sample over two lines.
  CHECK(lines_of(text).size() == 2 + 4);
}

TEST_CASE("metrics: histogram buckets are cumulative - with le and +Inf - _sum and _count", "[metrics]") {
  m::Registry registry;
  auto& h = registry.histogram("call_duration_seconds", "Call duration.", {"function"});
  auto& child = h.with({"fib"}, std::vector<double>{0.5, 1, 2.5});
  child.observe(0.25);
  child.observe(0.5);  // le is inclusive
  child.observe(0.75);
  child.observe(3);    // only +Inf
  const std::string text = registry.render();
  INFO(text);
  CHECK(text ==
        "# HELP call_duration_seconds Call duration.\n"
        "# TYPE call_duration_seconds histogram\n"
        "call_duration_seconds_bucket{function=\"fib\",le=\"0.5\"} 2\n"
        "call_duration_seconds_bucket{function=\"fib\",le=\"1\"} 3\n"
        "call_duration_seconds_bucket{function=\"fib\",le=\"2.5\"} 3\n"
        "call_duration_seconds_bucket{function=\"fib\",le=\"+Inf\"} 4\n"
        "call_duration_seconds_sum{function=\"fib\"} 4.5\n"
        "call_duration_seconds_count{function=\"fib\"} 4\n");

  auto snap = child.snapshot();
  CHECK(snap.cumulative == std::vector<std::uint64_t>{2, 3, 3, 4});
  CHECK(snap.count == 4);
  CHECK(snap.sum == Approx(4.5));
}

TEST_CASE("metrics: histogram without labels and without observations", "[metrics]") {
  m::Registry registry;
  registry.histogram("idle_seconds", "Idle.", {}).with({}, std::vector<double>{1, 2});
  const std::string text = registry.render();
  INFO(text);
  CHECK(contains_line(text, "idle_seconds_bucket{le=\"1\"} 0"));
  CHECK(contains_line(text, "idle_seconds_bucket{le=\"2\"} 0"));
  CHECK(contains_line(text, "idle_seconds_bucket{le=\"+Inf\"} 0"));
  CHECK(contains_line(text, "idle_seconds_sum 0"));
  CHECK(contains_line(text, "idle_seconds_count 0"));
}

TEST_CASE("metrics: every rendered le parses back to its bound", "[metrics]") {
  m::Registry registry;
  auto& child = registry.histogram("lat_seconds", "Latency.", {}).with({}, m::latency_buckets());
  child.observe(0.003);
  const std::string text = registry.render();
  std::vector<double> les;
  bool saw_inf = false;
  for (const auto& line : lines_of(text)) {
    auto start = line.find("le=\"");
    if (start == std::string::npos) continue;
    start += 4;
    std::string le = line.substr(start, line.find('"', start) - start);
    if (le == "+Inf") {
      saw_inf = true;
      continue;
    }
    CHECK_FALSE(saw_inf);  // +Inf comes last
    les.push_back(std::strtod(le.c_str(), nullptr));
  }
  CHECK(saw_inf);
  CHECK(les == m::latency_buckets());
  // 0.003 lands in le=0.005 and every bucket after it.
  CHECK(contains_line(text, "lat_seconds_bucket{le=\"+Inf\"} 1"));
  CHECK(contains_line(text, "lat_seconds_count 1"));
}

TEST_CASE("metrics: latency_buckets are strictly increasing from 100us to 2 minutes", "[metrics]") {
  const auto& b = m::latency_buckets();
  REQUIRE_FALSE(b.empty());
  CHECK(b.front() == Approx(0.0001));
  CHECK(b.back() == Approx(120));
  for (std::size_t i = 1; i < b.size(); ++i) CHECK(b[i - 1] < b[i]);
}

TEST_CASE("metrics: with() returns the same child for the same labels", "[metrics]") {
  m::Registry registry;
  auto& c = registry.counter("same_total", "Same.", {"a", "b"});
  auto& first = c.with({"x", "y"});
  auto& again = c.with({"x", "y"});
  auto& other = c.with({"x", "z"});
  CHECK(&first == &again);
  CHECK(&first != &other);
  first.inc();
  again.inc();
  CHECK(first.value() == 2);
  CHECK(other.value() == 0);

  auto& h = registry.histogram("same_seconds", "Same.", {"f"});
  auto& h1 = h.with({"f"}, std::vector<double>{1});
  // A second lookup does not build a new histogram, whatever the bounds.
  auto& h2 = h.with({"f"}, std::vector<double>{5, 6});
  CHECK(&h1 == &h2);
  CHECK(h2.bounds() == std::vector<double>{1});
}

TEST_CASE("metrics: remove() drops a child", "[metrics]") {
  m::Registry registry;
  auto& c = registry.counter("removed_total", "Removed.", {"f"});
  c.with({"gone"}).inc();
  c.with({"kept"}).inc();
  c.remove({"gone"});
  const std::string text = registry.render();
  CHECK_FALSE(contains_line(text, "removed_total{f=\"gone\"} 1"));
  CHECK(contains_line(text, "removed_total{f=\"kept\"} 1"));
  CHECK(c.with({"gone"}).value() == 0);  // a fresh child
}

TEST_CASE("metrics: on_collect callbacks run before each render", "[metrics]") {
  m::Registry registry;
  auto& g = registry.gauge("live_value", "Live.", {});
  int calls = 0;
  registry.on_collect([&] {
    ++calls;
    g.with({}).set(calls * 10);
  });
  int second = 0;
  registry.on_collect([&] { second = calls; });  // collectors run in registration order
  CHECK(calls == 0);
  std::string first_text = registry.render();
  CHECK(calls == 1);
  CHECK(second == 1);
  CHECK(contains_line(first_text, "live_value 10"));
  std::string second_text = registry.render();
  CHECK(calls == 2);
  CHECK(contains_line(second_text, "live_value 20"));
}

TEST_CASE("metrics: families render in registration order", "[metrics]") {
  m::Registry registry;
  registry.gauge("zzz", "Z.", {}).with({}).set(1);
  registry.counter("aaa_total", "A.", {}).with({}).inc();
  const std::string text = registry.render();
  CHECK(text.find("# HELP zzz") < text.find("# HELP aaa_total"));
}

// The HELP line escapes '\' as "\\" and a line feed as "\n" (text format 0.0.4).
TEST_CASE("metrics: HELP text is escaped", "[metrics]") {
  m::Registry registry;
  registry.counter("help_total", "first line\nsecond \\ line", {}).with({}).inc();
  const std::string text = registry.render();
  INFO(text);
  CHECK(contains_line(text, R"(# HELP help_total first line\nsecond \\ line)"));
  CHECK(lines_of(text).size() == 3);
}

TEST_CASE("metrics: the whole exposition passes promtool check metrics", "[metrics][promtool]") {
  m::Registry registry;
  auto& calls = registry.counter("slimfaas_requests_total", "Requests by function and status.", {"function", "code"});
  calls.with({"fibonacci1", "200"}).inc(12);
  calls.with({"fibonacci2", "502"}).inc();
  calls.with({"quote\"back\\slash\nnewline", "200"}).inc(3);
  registry.counter("slimfaas_unlabelled_total", "A counter without labels.", {}).with({}).inc(2);
  auto& replicas = registry.gauge("slimfaas_replicas", "Ready replicas.", {"function"});
  replicas.with({"fibonacci1"}).set(2);
  replicas.with({"fibonacci2"}).set(-0.5);
  auto& waiting = registry.gauge("slimfaas_waiting_requests", "Waiting calls.", {"function"});
  registry.on_collect([&] { waiting.with({"fibonacci1"}).set(4); });
  auto& latency = registry.histogram("slimfaas_request_duration_seconds", "Call latency.", {"function"});
  auto& lat = latency.with({"fibonacci1"}, m::latency_buckets());
  for (double v : {0.00005, 0.0003, 0.004, 0.2, 1.0, 7.0, 500.0}) lat.observe(v);
  latency.with({"fibonacci2"}, m::latency_buckets());  // no observations
  registry.histogram("slimfaas_small_seconds", "Hand-picked buckets.", {})
      .with({}, std::vector<double>{0.5, 1, 2.5})
      .observe(0.75);

  const std::string text = registry.render();
  INFO(text);
  REQUIRE(contains_line(text, "slimfaas_waiting_requests{function=\"fibonacci1\"} 4"));

  auto result = promtool_check(text);
  if (!result.available) {
    WARN("/usr/bin/promtool is not installed; exposition not validated");
    return;
  }
  INFO("promtool output: " << result.output);
  CHECK(result.exit_code == 0);
}

TEST_CASE("metrics: promtool itself rejects a broken exposition", "[metrics][promtool]") {
  // Guards the test above: a promtool that accepts anything would prove nothing.
  auto result = promtool_check("# HELP x_total X.\n# TYPE x_total counter\nx_total{a=\"b} 1\n");
  if (!result.available) {
    WARN("/usr/bin/promtool is not installed");
    return;
  }
  INFO("promtool output: " << result.output);
  CHECK(result.exit_code != 0);
}
