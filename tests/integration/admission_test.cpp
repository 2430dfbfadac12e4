// Admission: NumberParallelRequest / NumberParallelRequestPerPod caps as the
// function sees them, FIFO hand-out of slots, the waiting-queue bound, and
// slots given back when a client goes away.
#include "tests/integration/sync_fixture.hpp"

#include <atomic>
#include <thread>

using namespace it;

namespace {

std::vector<HttpResponse> fire(int n, const std::function<std::string(int)>& url, Ms timeout = 30s) {
  std::vector<std::future<HttpResponse>> calls;
  for (int i = 0; i < n; ++i)
    calls.push_back(in_thread([u = url(i), timeout] { return http_get(u, timeout); }));
  std::vector<HttpResponse> out;
  for (auto& c : calls) out.push_back(c.get());
  return out;
}

}  // namespace

TEST_CASE("NumberParallelRequest caps the calls the function sees at once", "[integration][admission]") {
  // PerPod above the cap: the limit seen must come from NumberParallelRequest.
  auto s = start_stack(echo_spec(2, 10, 30));
  REQUIRE(echo_reset(s.echo));
  auto results = fire(8, [&](int) { return s.fn("/sleep/300"); });
  for (auto& r : results) {
    INFO(r.describe());
    CHECK(r.status == 200);
  }
  auto stats = echo_stats(s.echo);
  INFO(stats.dump());
  CHECK(stats["completed"] == 8);
  CHECK(stats["max_in_flight"] == 2);
}

TEST_CASE("sync calls keep a connection per slot between waves, above the configured pool", "[integration][admission]") {
  // 8 slots on one replica, one I/O thread keeping 2 idle connections per
  // replica: 16 calls at once, the first 8 answered at the same instant, the
  // other 8 waiting for their slots. The function sees 8 connections in all:
  // keeping only the configured 2 would close 6 as the first wave ends and
  // dial them again for the second.
  constexpr int kSlots = 8;
  auto s = start_stack(echo_spec(kSlots, kSlots, 30),
                       {{"SlimFaas__UpstreamIdleConnectionsPerReplica", "2"}, {"SlimFaas__IoThreads", "1"}});
  REQUIRE(echo_reset(s.echo));
  const auto together = std::chrono::duration_cast<std::chrono::milliseconds>(
                            (std::chrono::system_clock::now() + 2s).time_since_epoch())
                            .count();
  // The first wave is in flight before the second is sent, so that the
  // second waits for slots.
  auto first = in_thread([&] { return fire(kSlots, [&](int) { return s.fn("/sleep-until/" + std::to_string(together)); }); });
  REQUIRE(wait_until([&] { return echo_stats(s.echo)["in_flight"].get<int>() == kSlots; }, 30s));
  auto second = fire(kSlots, [&](int) { return s.fn("/sleep/10"); });
  for (auto& r : first.get()) CHECK(r.status == 200);
  for (auto& r : second) CHECK(r.status == 200);
  auto stats = echo_stats(s.echo);
  INFO(stats.dump());
  CHECK(stats["completed"] == 2 * kSlots);
  CHECK(stats["max_in_flight"] == kSlots);
  CHECK(stats["connections"] == kSlots);
}

TEST_CASE("NumberParallelRequestPerPod caps each replica while the function uses both", "[integration][admission]") {
  auto a = start_echo();
  auto b = start_echo();
  FunctionSpec spec = echo_spec(10, 1, 30);
  spec.urls = {local_url(a.port), local_url(b.port)};
  auto slim = start_slimfaas(functions_json({spec}));
  REQUIRE(echo_reset(a));
  REQUIRE(echo_reset(b));

  // Sample both replicas while the load runs: the function as a whole must
  // reach 2 calls at once (one per replica).
  std::atomic<bool> done{false};
  std::atomic<int> max_total{0};
  auto sampler = in_thread([&] {
    while (!done) {
      try {
        int total = echo_stats(a)["in_flight"].get<int>() + echo_stats(b)["in_flight"].get<int>();
        int prev = max_total;
        while (total > prev && !max_total.compare_exchange_weak(prev, total)) {
        }
      } catch (const std::exception&) {
      }
      std::this_thread::sleep_for(10ms);
    }
  });
  auto results = fire(8, [&](int) { return slim.url("/function/echo/sleep/300"); });
  done = true;
  sampler.get();

  for (auto& r : results) {
    INFO(r.describe());
    CHECK(r.status == 200);
  }
  auto sa = echo_stats(a);
  auto sb = echo_stats(b);
  INFO("a: " << sa.dump() << "\nb: " << sb.dump());
  CHECK(sa["max_in_flight"] == 1);
  CHECK(sb["max_in_flight"] == 1);
  CHECK(sa["completed"].get<int>() + sb["completed"].get<int>() == 8);
  CHECK(sa["completed"].get<int>() >= 1);
  CHECK(sb["completed"].get<int>() >= 1);
  CHECK(max_total == 2);
}

TEST_CASE("waiting calls are admitted in arrival order", "[integration][admission]") {
  auto s = start_stack(echo_spec(1, 10, 30));
  REQUIRE(echo_reset(s.echo));
  std::vector<std::future<HttpResponse>> calls;
  // The first call holds the one slot while the others queue behind it, one
  // at a time. 10 s: a full ASan run once took longer than 3 s to queue all
  // six, the slot freed first and the test failed for want of time.
  calls.push_back(in_thread([&] { return http_get(s.fn("/sleep/10000?id=first"), 60s); }));
  REQUIRE(wait_until([&] { return echo_stats(s.echo)["in_flight"] == 1; }, 10s));

  std::vector<std::string> expected{"first"};
  bool all_seen_waiting = true;
  std::optional<int> last_waiting;
  for (int k = 1; k <= 6; ++k) {
    const std::string id = std::to_string(k);
    calls.push_back(in_thread([&, id] { return http_get(s.fn("/sleep/10?id=" + id), 60s); }));
    expected.push_back(id);
    // Send the next one only once this one is queued, so that arrival
    // order at slimfaas is the send order.
    bool seen = wait_until(
        [&] {
          last_waiting = waiting_count(s.slim);
          return last_waiting && *last_waiting >= k;
        },
        10s);
    if (!seen) {
      all_seen_waiting = false;
      break;
    }
  }
  std::vector<HttpResponse> results;
  for (auto& c : calls) results.push_back(c.get());

  INFO("waiting count as last seen: " << (last_waiting ? std::to_string(*last_waiting) : "not exposed"));
  REQUIRE(all_seen_waiting);  // needs /debug/actors state.waiting or the waiting gauge
  for (auto& r : results) {
    INFO(r.describe());
    CHECK(r.status == 200);
  }
  auto stats = echo_stats(s.echo);
  INFO(stats.dump());
  CHECK(stats["arrivals"] == nlohmann::json(expected));
  CHECK(stats["max_in_flight"] == 1);
}

TEST_CASE("a full waiting queue answers 429 with Retry-After", "[integration][admission]") {
  auto s = start_stack(echo_spec(1, 10, 30), {{"SlimFaas__MaxWaitingRequestsPerFunction", "1"}});
  REQUIRE(echo_reset(s.echo));
  auto first = in_thread([&] { return http_get(s.fn("/sleep/1500?id=first"), 60s); });
  REQUIRE(wait_until([&] { return echo_stats(s.echo)["in_flight"] == 1; }, 10s));
  // Two more at once: one may wait (the queue holds 1), the other is refused.
  auto second = in_thread([&] { return http_get(s.fn("/sleep/1500?id=second"), 60s); });
  auto third = in_thread([&] { return http_get(s.fn("/sleep/1500?id=third"), 60s); });
  std::vector<HttpResponse> results{first.get(), second.get(), third.get()};

  int ok = 0, refused = 0;
  for (auto& r : results) {
    INFO(r.describe());
    if (r.status == 200) ++ok;
    if (r.status == 429) {
      ++refused;
      check_error_json(r, 429);
      auto retry_after = r.header("retry-after");
      REQUIRE(retry_after.has_value());
      CHECK(std::stoi(*retry_after) >= 0);
      CHECK(r.elapsed < 1200ms);  // refused at once, not after waiting
    }
  }
  CHECK(ok == 2);
  CHECK(refused == 1);
  auto stats = echo_stats(s.echo);
  INFO(stats.dump());
  CHECK(stats["requests"] == 2);
}

TEST_CASE("a client that goes away frees its slot and cancels the upstream call", "[integration][admission]") {
  auto s = start_stack(echo_spec(1, 10, 30));
  REQUIRE(echo_reset(s.echo));
  HttpRequest gone;
  gone.url = s.fn("/sleep/10000");
  gone.abort_after = 300ms;
  auto r = http(gone);
  INFO(r.describe());
  CHECK_FALSE(r.transport_ok());
  CHECK(wait_until([&] { return echo_stats(s.echo)["cancelled"] == 1; }, 5s));

  auto next = http_get(s.fn("/sleep/10"), 3s);
  INFO(next.describe());
  CHECK(next.status == 200);
  CHECK(next.elapsed < 3s);
  auto stats = echo_stats(s.echo);
  INFO(stats.dump());
  CHECK(stats["cancelled"] == 1);
  CHECK(stats["in_flight"] == 0);
}
