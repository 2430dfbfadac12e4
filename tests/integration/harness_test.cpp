// Self-test of the integration harness, against /bin/sh and the echo
// example function only (no slimfaas needed).
#include <catch2/catch.hpp>

#include <csignal>
#include <fstream>
#include <set>
#include <thread>

#include <curl/curl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/integration/harness.hpp"

using namespace it;

namespace {

// True when `pid` is gone or a zombie (an orphan reparented to a PID 1 that
// does not reap stays a zombie, but it runs no more).
bool process_gone(pid_t pid) {
  std::ifstream stat("/proc/" + std::to_string(pid) + "/stat");
  if (!stat) return true;
  std::string line;
  std::getline(stat, line);
  auto close_paren = line.rfind(')');
  return close_paren != std::string::npos && close_paren + 2 < line.size() &&
         (line[close_paren + 2] == 'Z' || line[close_paren + 2] == 'X');
}

}  // namespace

TEST_CASE("Process captures stdout and stderr and reports the exit code", "[integration][harness]") {
  Process p({"/bin/sh", "-c", "echo to-stdout; echo to-stderr >&2; echo \"$HARNESS_VAR\"; exit 3"},
            {{"HARNESS_VAR", "extra-env-value"}}, "sh");
  auto code = p.wait_exit(10s);
  REQUIRE(code.has_value());
  CHECK(*code == 3);
  CHECK_FALSE(p.running());
  auto log = p.log();
  CHECK(log.find("to-stdout") != std::string::npos);
  CHECK(log.find("to-stderr") != std::string::npos);
  CHECK(log.find("extra-env-value") != std::string::npos);
}

TEST_CASE("Process inherits the environment and extra vars override it", "[integration][harness]") {
  ::setenv("HARNESS_INHERITED", "from-parent", 1);
  ::setenv("HARNESS_OVERRIDDEN", "old", 1);
  Process p({"/bin/sh", "-c", "echo \"$HARNESS_INHERITED/$HARNESS_OVERRIDDEN\""},
            {{"HARNESS_OVERRIDDEN", "new"}});
  REQUIRE(p.wait_exit(10s) == 0);
  CHECK(p.log() == "from-parent/new\n");
}

TEST_CASE("Process signal and wait_exit report death by signal", "[integration][harness]") {
  Process p({"/bin/sleep", "30"});
  CHECK(p.running());
  CHECK_FALSE(p.wait_exit(100ms).has_value());
  REQUIRE(p.signal(SIGTERM));
  auto code = p.wait_exit(10s);
  REQUIRE(code.has_value());
  CHECK(*code == 128 + SIGTERM);
  CHECK_FALSE(p.signal(SIGTERM));
}

TEST_CASE("Process runs in its own group and the destructor kills the group", "[integration][harness]") {
  pid_t grandchild = 0;
  pid_t child = 0;
  {
    Process p({"/bin/sh", "-c", "sleep 60 & echo $!; wait"});
    child = p.pid();
    CHECK(::getpgid(child) == child);
    REQUIRE(wait_until([&] { return p.log().find('\n') != std::string::npos; }, 10s));
    grandchild = std::stoi(p.log());
    CHECK(::getpgid(grandchild) == child);
  }
  CHECK(process_gone(child));
  CHECK(wait_until([&] { return process_gone(grandchild); }, 5s));
}

TEST_CASE("free_port gives distinct bindable ports", "[integration][harness]") {
  std::set<int> ports;
  for (int i = 0; i < 5; ++i) {
    int port = free_port();
    CHECK(port > 0);
    CHECK(port < 65536);
    ports.insert(port);
  }
  CHECK(ports.size() >= 4);  // the kernel may hand the same one back, rarely
}

// Test processes run side by side (ctest -j): a port block one of them
// took stays its own even while nothing listens on it (a server stopped to
// be restarted), so no other process is handed any of its ports.
TEST_CASE("free_port_block never hands out ports another test process holds", "[integration][harness]") {
  int to_parent[2], to_child[2];
  REQUIRE(::pipe(to_parent) == 0);
  REQUIRE(::pipe(to_child) == 0);
  const pid_t child = ::fork();
  REQUIRE(child >= 0);
  if (child == 0) {
    ::close(to_parent[0]);
    ::close(to_child[1]);  // or its read below would never see the end
    int base = -1;
    try {
      base = free_port_block(4000);  // a third of the range, bound by nothing
    } catch (...) {
    }
    (void)!::write(to_parent[1], &base, sizeof base);
    char done;
    (void)!::read(to_child[0], &done, 1);  // holds its block until the parent has drawn
    ::_exit(0);
  }
  ::close(to_parent[1]);
  ::close(to_child[0]);
  int held = -1;
  REQUIRE(::read(to_parent[0], &held, sizeof held) == static_cast<ssize_t>(sizeof held));
  REQUIRE(held > 0);
  // Without the claims, 20 random blocks miss a third of the range with
  // odds below 1 in 3,000.
  int overlaps = 0;
  for (int i = 0; i < 20; ++i) {
    const int base = free_port_block(10);
    if (base + 10 > held && base < held + 4000) ++overlaps;
  }
  ::close(to_child[1]);
  ::close(to_parent[0]);
  int status = 0;
  ::waitpid(child, &status, 0);
  CHECK(overlaps == 0);
}

TEST_CASE("wait_until polls until the condition holds or times out", "[integration][harness]") {
  int calls = 0;
  auto start = std::chrono::steady_clock::now();
  CHECK(wait_until([&] { return ++calls >= 5; }, 5s, 10ms));
  CHECK(calls == 5);
  CHECK_FALSE(wait_until([] { return false; }, 200ms, 10ms));
  CHECK(std::chrono::steady_clock::now() - start >= 200ms);
}

TEST_CASE("metric_value matches label subsets and sums samples", "[integration][harness]") {
  const std::string text =
      "# HELP x_total help\n# TYPE x_total counter\n"
      "x_total{function=\"echo\",method=\"GET\",status=\"200\"} 3\n"
      "x_total{method=\"GET\",function=\"echo\",status=\"500\"} 2\n"
      "x_total{function=\"other\",method=\"GET\",status=\"200\"} 7\n"
      "x_total_other{function=\"echo\"} 100\n"
      "y 1.5\n";
  CHECK(metric_value(text, "x_total", {{"function", "echo"}, {"status", "200"}}) == 3.0);
  CHECK(metric_value(text, "x_total", {{"function", "echo"}}) == 5.0);
  CHECK(metric_value(text, "x_total") == 12.0);
  CHECK_FALSE(metric_value(text, "x_total", {{"function", "none"}}).has_value());
  CHECK(metric_value(text, "y") == 1.5);
  CHECK_FALSE(metric_value(text, "z").has_value());
}

TEST_CASE("echo starts and http() reports method - target and headers", "[integration][harness][echo]") {
  auto echo = start_echo();
  for (std::string method : {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    HttpRequest req;
    req.method = method;
    req.url = echo.url("/inspect/x?a=1&b=two");
    req.headers = {{"X-Harness", "yes"}};
    req.raw_headers = {"X-Raw-Line: raw value"};
    if (method == "POST" || method == "PUT") req.body = "hello";
    auto r = http(req);
    INFO(method << ": " << r.describe());
    REQUIRE(r.status == 200);
    auto j = r.json();
    REQUIRE(j);
    CHECK((*j)["method"] == method);
    CHECK((*j)["target"] == "/inspect/x?a=1&b=two");
    CHECK((*j)["headers"]["x-harness"] == "yes");
    CHECK((*j)["headers"]["x-raw-line"] == "raw value");
    CHECK((*j)["body_bytes"] == req.body.size());
    CHECK(r.header("Content-Type").has_value());
  }
  auto head = http("HEAD", echo.url("/inspect"));
  INFO(head.describe());
  CHECK(head.status == 200);
  CHECK(head.body.empty());
}

TEST_CASE("http() keeps dot segments with path_as_is", "[integration][harness][echo]") {
  auto echo = start_echo();
  HttpRequest req;
  req.url = echo.url("/inspect/a/../b/%2e%2e/c");
  auto r = http(req);
  INFO(r.describe());
  REQUIRE(r.status == 200);
  CHECK((*r.json())["target"] == "/inspect/a/../b/%2e%2e/c");
}

TEST_CASE("http() uploads with Content-Length and chunked - downloads exactly", "[integration][harness][echo]") {
  auto echo = start_echo();
  const std::string body = random_bytes(2 * 1024 * 1024, 7);
  for (bool chunked : {false, true}) {
    HttpRequest req;
    req.method = "POST";
    req.url = echo.url("/echo");
    req.body = body;
    req.chunked = chunked;
    auto r = http(req);
    INFO("chunked=" << chunked << " " << r.status << " " << r.error);
    REQUIRE(r.status == 200);
    CHECK(r.body.size() == body.size());
    CHECK(fnv1a64(r.body) == fnv1a64(body));
  }
  HttpRequest chunked_inspect;
  chunked_inspect.method = "POST";
  chunked_inspect.url = echo.url("/inspect");
  chunked_inspect.body = std::string(100000, 'x');
  chunked_inspect.chunked = true;
  auto ri = http(chunked_inspect);
  INFO(ri.describe());
  REQUIRE(ri.status == 200);
  CHECK((*ri.json())["headers"]["transfer-encoding"] == "chunked");
  CHECK((*ri.json())["body_bytes"] == 100000);

  auto bytes = http_get(echo.url("/bytes/2097152"));
  REQUIRE(bytes.status == 200);
  CHECK(bytes.body.size() == 2097152);
  CHECK(first_pattern_mismatch(bytes.body) == -1);
  CHECK(bytes.header("content-length") == "2097152");
  auto chunks = http_get(echo.url("/chunked/2097152"));
  REQUIRE(chunks.status == 200);
  CHECK(chunks.body.size() == 2097152);
  CHECK(first_pattern_mismatch(chunks.body) == -1);
  CHECK(chunks.header("transfer-encoding") == "chunked");
}

TEST_CASE("abort_after gives up early and echo counts the cancellation", "[integration][harness][echo]") {
  auto echo = start_echo();
  REQUIRE(echo_reset(echo));
  HttpRequest req;
  req.url = echo.url("/sleep/10000");
  req.abort_after = 300ms;
  auto r = http(req);
  INFO(r.describe());
  CHECK(r.curl_code == CURLE_OPERATION_TIMEDOUT);
  CHECK(r.elapsed < 3s);
  CHECK(wait_until([&] { return echo_stats(echo)["cancelled"] == 1; }, 5s));
  auto stats = echo_stats(echo);
  INFO(stats.dump());
  CHECK(stats["in_flight"] == 0);
  CHECK(stats["completed"] == 0);
}

TEST_CASE("echo stats count in-flight - max - arrivals and reset", "[integration][harness][echo]") {
  auto echo = start_echo();
  REQUIRE(echo_reset(echo));
  std::thread t([&] { http_get(echo.url("/sleep/800?id=a")); });
  bool seen = wait_until([&] { return echo_stats(echo)["in_flight"] == 1; }, 5s);
  auto second = http_get(echo.url("/sleep/1?id=b"));
  t.join();
  CHECK(seen);
  CHECK(second.status == 200);
  auto stats = echo_stats(echo);
  INFO(stats.dump());
  CHECK(stats["max_in_flight"] == 2);
  CHECK(stats["completed"] == 2);
  CHECK(stats["in_flight"] == 0);
  CHECK(stats["arrivals"] == nlohmann::json::array({"a", "b"}));
  CHECK(stats["connections"] == 2);  // one each: the calls overlapped
  REQUIRE(echo_reset(echo));
  auto after = echo_stats(echo);
  CHECK(after["requests"] == 0);
  CHECK(after["connections"] == 0);
  CHECK(after["max_in_flight"] == 0);
  CHECK(after["arrivals"].empty());
}

TEST_CASE("echo /sleep-until answers at a wall-clock time, at once when it is past", "[integration][harness][echo]") {
  auto echo = start_echo();
  const auto unix_ms = [](std::chrono::system_clock::duration ahead) {
    return std::to_string(std::chrono::duration_cast<std::chrono::milliseconds>(
                              (std::chrono::system_clock::now() + ahead).time_since_epoch())
                              .count());
  };
  auto later = http_get(echo.url("/sleep-until/" + unix_ms(600ms)));
  REQUIRE(later.status == 200);
  CHECK(later.elapsed >= 400ms);
  auto past = http_get(echo.url("/sleep-until/" + unix_ms(-5s)));
  REQUIRE(past.status == 200);
  CHECK(nlohmann::json::parse(past.body)["slept_ms"] == 0);
  CHECK(http_get(echo.url("/sleep-until/soon")).status == 400);
  CHECK(http_get(echo.url("/sleep-until/" + unix_ms(2h))).status == 400);
}

TEST_CASE("raw_request sends exact bytes and parses the reply", "[integration][harness][echo]") {
  auto echo = start_echo();
  auto r = raw_request(echo.port,
                       "GET /inspect/%7e?q=%zz HTTP/1.1\r\nHost: x\r\nX-Exact:  spaced\r\n"
                       "Connection: close\r\n\r\n");
  INFO(r.describe());
  REQUIRE(r.complete);
  CHECK(r.status == 200);
  auto j = r.json();
  REQUIRE(j);
  CHECK((*j)["target"] == "/inspect/%7e?q=%zz");

  auto chunked = raw_request(echo.port, "GET /chunked/100 HTTP/1.1\r\nHost: x\r\n\r\n");
  INFO(chunked.describe());
  REQUIRE(chunked.complete);
  CHECK(chunked.body.size() == 100);
  CHECK(first_pattern_mismatch(chunked.body) == -1);

  auto refused = raw_request(free_port(), "GET / HTTP/1.1\r\n\r\n", 2s);
  CHECK_FALSE(refused.connected);
}

TEST_CASE("wait_http_ok fails fast when the process is dead", "[integration][harness]") {
  Process p({"/bin/sh", "-c", "exit 0"});
  auto start = std::chrono::steady_clock::now();
  CHECK_FALSE(wait_http_ok(local_url(free_port()) + "/health", 10s, [&] { return p.running(); }));
  CHECK(std::chrono::steady_clock::now() - start < 5s);
}

TEST_CASE("process_listens_on tells the server on a port from any other process", "[integration][harness][echo]") {
  auto echo = start_echo();
  CHECK(process_listens_on(echo.proc->pid(), echo.port));
  CHECK_FALSE(process_listens_on(::getpid(), echo.port));  // it answers, but not from this process
  auto other = start_echo();
  CHECK_FALSE(process_listens_on(echo.proc->pid(), other.port));
  int port = 0;
  const int fd = listen_loopback(port);
  CHECK(process_listens_on(::getpid(), port));
  ::close(fd);
  CHECK_FALSE(process_listens_on(::getpid(), port));
}
