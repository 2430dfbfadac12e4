// Node lifecycle: graceful drain on SIGTERM, the grace bound, and the
// connection limits (idle timeout, max connections).
#include "tests/integration/sync_fixture.hpp"

#include <atomic>
#include <csignal>

using namespace it;

TEST_CASE("SIGTERM drains the in-flight call - refuses new ones and exits 0", "[integration][lifecycle]") {
  auto s = start_stack(echo_spec(2, 2, 30), {{"SlimFaas__ShutdownGraceSeconds", "10"}});
  REQUIRE(echo_reset(s.echo));
  std::atomic<bool> in_flight_done{false};
  auto call = in_thread([&] {
    auto r = http_get(s.fn("/sleep/3000"), 30s);
    in_flight_done = true;
    return r;
  });
  REQUIRE(wait_until([&] { return echo_stats(s.echo)["in_flight"] == 1; }, 10s));

  REQUIRE(s.slim.proc->signal(SIGTERM));
  const auto sigterm_at = std::chrono::steady_clock::now();

  // While the drain runs, a new connection is refused or answered 503.
  HttpResponse last_new;
  bool refused = wait_until(
      [&] {
        last_new = http_get(s.slim.url("/health"), 1s);
        return !last_new.transport_ok() || last_new.status == 503;
      },
      2s, 20ms);
  const bool checked_during_drain = !in_flight_done;
  HttpResponse late;
  if (refused && checked_during_drain) {
    late = http_get(s.fn("/inspect"), 1s);
  }

  auto r = call.get();
  INFO("in-flight call: " << r.describe());
  INFO("new call after SIGTERM: " << last_new.describe());
  CHECK(r.status == 200);
  CHECK(refused);
  CHECK(checked_during_drain);
  if (late.transport_ok()) CHECK(late.status == 503);

  auto code = s.slim.proc->wait_exit(12s);
  const auto exited_after = std::chrono::steady_clock::now() - sigterm_at;
  REQUIRE(code.has_value());
  CHECK(*code == 0);
  CHECK(exited_after < 11s);
  auto stats = echo_stats(s.echo);
  INFO(stats.dump());
  CHECK(stats["completed"] == 1);
  CHECK(stats["cancelled"] == 0);
}

TEST_CASE("SIGTERM with nothing in flight exits 0 promptly", "[integration][lifecycle]") {
  auto s = start_stack(echo_spec(), {{"SlimFaas__ShutdownGraceSeconds", "30"}});
  REQUIRE(http_get(s.fn("/inspect")).status == 200);
  REQUIRE(s.slim.proc->signal(SIGTERM));
  auto code = s.slim.proc->wait_exit(10s);
  REQUIRE(code.has_value());  // no need to sit out the 30 s grace
  CHECK(*code == 0);
}

TEST_CASE("SlimFaas__ShutdownGraceSeconds bounds the drain", "[integration][lifecycle]") {
  auto s = start_stack(echo_spec(2, 2, 60), {{"SlimFaas__ShutdownGraceSeconds", "1"}});
  REQUIRE(echo_reset(s.echo));
  auto call = in_thread([&] { return http_get(s.fn("/sleep/20000"), 40s); });
  REQUIRE(wait_until([&] { return echo_stats(s.echo)["in_flight"] == 1; }, 10s));
  REQUIRE(s.slim.proc->signal(SIGTERM));
  auto code = s.slim.proc->wait_exit(8s);
  CHECK(code.has_value());
  auto r = call.get();
  INFO(r.describe());
  CHECK(r.status != 200);  // cut off at the end of the grace period
}

TEST_CASE("SlimFaas__IdleTimeoutSeconds closes idle connections", "[integration][lifecycle]") {
  auto s = start_stack(echo_spec(), {{"SlimFaas__IdleTimeoutSeconds", "1"}});
  // A connection that never sends a byte.
  RawConnection silent(s.slim.port);
  REQUIRE(silent.connected());
  // A keep-alive connection after one complete exchange.
  RawConnection kept(s.slim.port);
  REQUIRE(kept.connected());
  REQUIRE(kept.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
  CHECK(silent.wait_closed(8s));
  CHECK(kept.wait_closed(8s));
  CHECK(kept.received.rfind("HTTP/1.1 200", 0) == 0);
  // The node itself still serves.
  CHECK(http_get(s.slim.url("/health")).status == 200);
}

TEST_CASE("SlimFaas__MaxConnections bounds the open connections", "[integration][lifecycle]") {
  auto s = start_stack(echo_spec(), {{"SlimFaas__MaxConnections", "2"}});
  HttpResponse over;
  {
    RawConnection c1(s.slim.port);
    RawConnection c2(s.slim.port);
    REQUIRE(c1.connected());
    REQUIRE(c2.connected());
    // Make sure both are accepted and counted: one exchange on each.
    REQUIRE(c1.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    REQUIRE(c2.send("GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"));
    REQUIRE(wait_until([&] {
      c1.wait_closed(20ms);
      c2.wait_closed(20ms);
      return c1.received.find("\r\n\r\n") != std::string::npos && c2.received.find("\r\n\r\n") != std::string::npos;
    }, 5s));
    // A third connection is not served (refused, closed, left in the
    // backlog, or 503) while both are held.
    over = http_get(s.fn("/inspect"), 2s);
  }
  INFO("third connection: " << over.describe());
  CHECK((over.status != 200 || !over.transport_ok()));
  if (over.transport_ok()) CHECK(over.status == 503);
  // Once they are closed, the node serves again.
  CHECK(wait_until([&] { return http_get(s.fn("/inspect"), 2s).status == 200; }, 10s));
}
