// Async delivery rules (actors/async_policy.hpp) and the queued item's
// encoding (actors/async_item.hpp): pure logic, no actors.
#include <catch2/catch.hpp>

#include "actors/async_item.hpp"
#include "actors/async_policy.hpp"

using namespace slimfaas::actors::async;
using slimfaas::k8s::RetryPolicy;
using Transport = AttemptResult::Transport;
using namespace std::chrono_literals;

namespace {

AttemptResult status(unsigned code) { return AttemptResult{Transport::ok, code}; }
AttemptResult transport(Transport t) { return AttemptResult{t, 0}; }

}  // namespace

TEST_CASE("default policy gives four attempts with delays 2 4 8 seconds", "[async][policy]") {
  RetryPolicy policy;  // the contract's defaults
  CHECK(max_attempts(policy) == 4);
  CHECK(retry_delay(policy, 0) == std::optional<Millis>(2000ms));
  CHECK(retry_delay(policy, 1) == std::optional<Millis>(4000ms));
  CHECK(retry_delay(policy, 2) == std::optional<Millis>(8000ms));
  CHECK_FALSE(retry_delay(policy, 3).has_value());
  CHECK_FALSE(is_last_try(policy, 0));
  CHECK_FALSE(is_last_try(policy, 2));
  CHECK(is_last_try(policy, 3));
  // A redelivery after a leader crash may push the try number past the last.
  CHECK(is_last_try(policy, 7));
  CHECK_FALSE(retry_delay(policy, 7).has_value());
}

TEST_CASE("no TimeoutRetries means one attempt which is the last", "[async][policy]") {
  RetryPolicy policy;
  policy.timeout_retries.clear();
  CHECK(max_attempts(policy) == 1);
  CHECK(is_last_try(policy, 0));
  auto d = classify(policy, 0, status(503));
  CHECK(d.verdict == Verdict::failed);
}

TEST_CASE("zero second delays are allowed", "[async][policy]") {
  RetryPolicy policy;
  policy.timeout_retries = {0, 0};
  auto d = classify(policy, 1, status(500));
  CHECK(d.verdict == Verdict::retry);
  CHECK(d.delay == 0ms);
}

TEST_CASE("2xx other than 202 completes the element", "[async][policy]") {
  RetryPolicy policy;
  for (unsigned code : {200u, 201u, 204u, 299u}) {
    INFO(code);
    CHECK(classify(policy, 0, status(code)).verdict == Verdict::done);
    CHECK(classify(policy, 3, status(code)).verdict == Verdict::done);
  }
}

TEST_CASE("202 turns on callback mode", "[async][policy]") {
  RetryPolicy policy;
  CHECK(classify(policy, 0, status(202)).verdict == Verdict::callback);
  CHECK(classify(policy, 3, status(202)).verdict == Verdict::callback);
}

TEST_CASE("a status in HttpStatusRetries is retried while tries remain", "[async][policy]") {
  RetryPolicy policy;
  policy.timeout_retries = {1, 3};
  policy.http_status_retries = {500, 429};
  auto first = classify(policy, 0, status(500));
  CHECK(first.verdict == Verdict::retry);
  CHECK(first.delay == 1000ms);
  auto second = classify(policy, 1, status(429));
  CHECK(second.verdict == Verdict::retry);
  CHECK(second.delay == 3000ms);
  auto last = classify(policy, 2, status(500));
  CHECK(last.verdict == Verdict::failed);
  // 503 is not in this policy's list: failed at once.
  CHECK(classify(policy, 0, status(503)).verdict == Verdict::failed);
}

TEST_CASE("other statuses fail the element at once", "[async][policy]") {
  RetryPolicy policy;
  for (unsigned code : {301u, 400u, 404u, 409u, 501u, 504u}) {
    INFO(code);
    auto d = classify(policy, 0, status(code));
    CHECK(d.verdict == Verdict::failed);
    CHECK(d.reason == "status " + std::to_string(code));
  }
}

TEST_CASE("timeouts and connection failures are retried while tries remain", "[async][policy]") {
  RetryPolicy policy;
  policy.http_status_retries.clear();  // transport failures do not depend on the list
  for (auto t : {Transport::timeout, Transport::connect, Transport::io}) {
    auto d = classify(policy, 0, transport(t));
    CHECK(d.verdict == Verdict::retry);
    CHECK(d.delay == 2000ms);
    CHECK(classify(policy, 3, transport(t)).verdict == Verdict::failed);
  }
}

TEST_CASE("a missing callback counts like a timeout", "[async][policy][callback]") {
  RetryPolicy policy;
  policy.timeout_retries = {1};
  auto d = callback_timed_out(policy, 0);
  CHECK(d.verdict == Verdict::retry);
  CHECK(d.delay == 1000ms);
  CHECK(callback_timed_out(policy, 1).verdict == Verdict::failed);
}

TEST_CASE("callback words and their verdicts", "[async][policy][callback]") {
  CHECK(parse_callback_status("success") == std::optional<CallbackStatus>(CallbackStatus::success));
  CHECK(parse_callback_status("error") == std::optional<CallbackStatus>(CallbackStatus::error));
  CHECK_FALSE(parse_callback_status("Success").has_value());
  CHECK_FALSE(parse_callback_status("").has_value());
  CHECK_FALSE(parse_callback_status("done").has_value());
  CHECK(callback_received(CallbackStatus::success).verdict == Verdict::done);
  CHECK(callback_received(CallbackStatus::error).verdict == Verdict::failed);
}

TEST_CASE("timeouts and the lease follow HttpTimeout", "[async][policy][callback]") {
  RetryPolicy policy;
  CHECK(attempt_timeout(policy) == 120000ms);
  CHECK(callback_timeout(policy) == 120000ms);
  CHECK(take_lease(policy) == 245000ms);
  policy.http_timeout_seconds = 2;
  CHECK(attempt_timeout(policy) == 2000ms);
  CHECK(take_lease(policy) == 2000ms + 2000ms + lease_margin);
  // The lease always outlasts the attempt and the callback wait together.
  CHECK(take_lease(policy) > attempt_timeout(policy) + callback_timeout(policy));
  // Taken ahead: a wait for a slot (one attempt and callback, at most 10 s),
  // then a whole lease.
  CHECK(take_ahead_wait(policy) == 4000ms);
  CHECK(take_ahead_lease(policy) == take_lease(policy) + 4000ms);
  policy.http_timeout_seconds = 30;
  CHECK(take_ahead_wait(policy) == max_take_ahead_wait);
  CHECK(take_ahead_lease(policy) == take_lease(policy) + max_take_ahead_wait);
}

TEST_CASE("a take asks for as many items as its bodies' budget allows", "[async][policy]") {
  constexpr std::uint64_t budget = 8u << 20;
  CHECK(take_limit(256, budget, 4096) == 256);          // small calls: the cap
  CHECK(take_limit(256, budget, 64 * 1024) == 128);     // the largest body kept in the log
  CHECK(take_limit(256, budget, 1u << 20) == 8);
  CHECK(take_limit(256, budget, 0) == 256);             // empty bodies
  CHECK(take_limit(256, budget, 100u << 20) == 1);      // one body over the budget: still one
  CHECK(take_limit(0, budget, 4096) == 1);              // never zero
  CHECK(take_limit(1000, budget, 10) == 1000);
}

TEST_CASE("a queued request survives encoding byte for byte", "[async][item]") {
  QueuedRequest r;
  r.method = "PATCH";
  r.target = "/path/a%20b?x=1&y=%00";
  r.headers = {{"Content-Type", "application/json"}, {"X-Empty", ""}, {"X-Dup", "1"}, {"X-Dup", "2"}};
  r.body = std::string("binary\0\xff\x80 body", 14);
  auto item = encode(r);
  CHECK(decode(item) == r);

  QueuedRequest empty;
  CHECK(decode(encode(empty)) == empty);

  QueuedRequest big;
  big.body.assign(1 << 20, 'z');
  auto big_item = encode(big);
  CHECK(big_item.size() < big.body.size() + 32);
  CHECK(decode(big_item) == big);
}

TEST_CASE("malformed items are refused", "[async][item]") {
  QueuedRequest r;
  r.body = "hello";
  auto item = encode(r);
  CHECK_THROWS_AS(decode(""), MalformedItem);
  CHECK_THROWS_AS(decode(item.substr(0, item.size() - 1)), MalformedItem);
  CHECK_THROWS_AS(decode(item + "x"), MalformedItem);
  std::string wrong_version = item;
  wrong_version[0] = 9;
  CHECK_THROWS_AS(decode(wrong_version), MalformedItem);
}

TEST_CASE("queue and callback names carry the function", "[async][item]") {
  CHECK(queue_name("fib") == "async:fib");
  CHECK(callback_hash("fib") == "async-cb:fib");
}
