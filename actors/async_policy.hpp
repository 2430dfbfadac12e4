#pragma once
// The rules of async delivery (SlimFaas/Configuration DefaultAsync), as plain
// functions the queue actor calls and unit tests drive without sockets,
// threads or clocks: how many attempts an element gets, which attempt is the
// last, what one attempt's outcome means, and how long things may take.
//
//   try numbers are 0-based: attempt 1 has try 0. TimeoutRetries [2,4,8]
//   means 4 attempts in all; the delay before try n (n >= 1) is
//   TimeoutRetries[n-1] seconds.
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "k8s/function_config.hpp"

namespace slimfaas::actors::async {

using Millis = std::chrono::milliseconds;

// How one HTTP attempt ended, as the client saw it.
struct AttemptResult {
  enum class Transport : std::uint8_t {
    ok,           // a response arrived; `status` holds it
    timeout,      // no (complete) response within HttpTimeout
    connect,      // the replica could not be reached
    io,           // the connection broke mid-exchange
  };
  Transport transport = Transport::ok;
  unsigned status = 0;
};

// What the queue does after an attempt (or a callback, or its absence).
enum class Verdict : std::uint8_t {
  done,      // completed: ack
  callback,  // 202: the function owns completion, wait for its callback
  retry,     // requeue at now + delay
  failed,    // given up: ack as failed
};

struct Decision {
  Verdict verdict = Verdict::failed;
  Millis delay{0};     // retry only: how long before the next attempt
  std::string reason;  // for logs and counters ("status 503", "timeout", ...)
};

// Attempts in all: 1 + TimeoutRetries.size().
std::uint32_t max_attempts(const k8s::RetryPolicy& policy);

// Whether try `try_number` (0-based) is the last one. A try past the last
// (an element redelivered after a leader crash) is also the last.
bool is_last_try(const k8s::RetryPolicy& policy, std::uint32_t try_number);

// The delay before the try after `try_number`; nullopt when none is left.
std::optional<Millis> retry_delay(const k8s::RetryPolicy& policy, std::uint32_t try_number);

// Whether `status` is one of HttpStatusRetries.
bool retryable_status(const k8s::RetryPolicy& policy, unsigned status);

// Classifies an attempt's result: 2xx other than 202 -> done; 202 ->
// callback; a retryable status, a timeout or a connection failure -> retry
// if a try remains, else failed; any other status -> failed.
Decision classify(const k8s::RetryPolicy& policy, std::uint32_t try_number, const AttemptResult& result);

// No callback within HttpTimeout after the 202: counts like a timeout
// (retry if a try remains, else failed).
Decision callback_timed_out(const k8s::RetryPolicy& policy, std::uint32_t try_number);

// The function's own callback: success -> done; error -> failed (the
// function reported its result; it is not retried).
enum class CallbackStatus : std::uint8_t { success, error };
std::optional<CallbackStatus> parse_callback_status(std::string_view word);
Decision callback_received(CallbackStatus status);

// The HTTP timeout of one attempt.
Millis attempt_timeout(const k8s::RetryPolicy& policy);
// How long to wait for a callback after the 202.
Millis callback_timeout(const k8s::RetryPolicy& policy);
// The lease of a taken element: it must outlast the attempt and the callback
// wait, so that no other take hands the element out while this node still
// works on it; after a leader crash it is how long the element stays hidden.
Millis take_lease(const k8s::RetryPolicy& policy);
// Slack added to the lease on top of the two waits.
inline constexpr Millis lease_margin{5000};
// How long an item taken ahead of a free slot may wait for one: as long as
// one attempt and its callback may hold a slot (the queue takes at most as
// many ahead as the function has slots, and while it has a ready replica
// every slot frees within that time), at most max_take_ahead_wait. Past
// it, the item is given back, untried.
inline constexpr Millis max_take_ahead_wait{10000};
Millis take_ahead_wait(const k8s::RetryPolicy& policy);
// The lease of a take that also takes items ahead: the wait, then a whole
// take_lease for the attempt.
Millis take_ahead_lease(const k8s::RetryPolicy& policy);

// How many items the next take may ask for. The queue has one take out at
// a time and a take is a Raft round, so delivery runs at most at this many
// items per round: 64 held 64 B calls at 256 connections to about 14-15k
// delivered a second while 19-20k were accepted. Up to `max_items`, fewer
// when the last take's bodies were large (`last_average_bytes`, the
// items' payloads): a take's bodies come back to the leader in one
// result, kept within about `budget_bytes`. At least one. (The queue
// also asks for no more than the function has slots.)
std::uint32_t take_limit(std::uint32_t max_items, std::uint64_t budget_bytes, std::uint64_t last_average_bytes);

const char* to_string(Verdict v);

}  // namespace slimfaas::actors::async
