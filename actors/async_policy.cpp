#include "actors/async_policy.hpp"

#include <algorithm>

namespace slimfaas::actors::async {

std::uint32_t max_attempts(const k8s::RetryPolicy& policy) {
  return static_cast<std::uint32_t>(policy.timeout_retries.size()) + 1;
}

bool is_last_try(const k8s::RetryPolicy& policy, std::uint32_t try_number) {
  return try_number + 1 >= max_attempts(policy);
}

std::optional<Millis> retry_delay(const k8s::RetryPolicy& policy, std::uint32_t try_number) {
  if (is_last_try(policy, try_number)) return std::nullopt;
  return std::chrono::duration_cast<Millis>(std::chrono::seconds(policy.timeout_retries[try_number]));
}

bool retryable_status(const k8s::RetryPolicy& policy, unsigned status) {
  return std::find(policy.http_status_retries.begin(), policy.http_status_retries.end(), static_cast<int>(status)) !=
         policy.http_status_retries.end();
}

namespace {

Decision retry_or_fail(const k8s::RetryPolicy& policy, std::uint32_t try_number, std::string reason) {
  if (auto delay = retry_delay(policy, try_number)) return Decision{Verdict::retry, *delay, std::move(reason)};
  return Decision{Verdict::failed, Millis{0}, std::move(reason) + " on the last try"};
}

}  // namespace

Decision classify(const k8s::RetryPolicy& policy, std::uint32_t try_number, const AttemptResult& result) {
  using Transport = AttemptResult::Transport;
  switch (result.transport) {
    case Transport::timeout:
      return retry_or_fail(policy, try_number, "timeout");
    case Transport::connect:
      return retry_or_fail(policy, try_number, "connection failed");
    case Transport::io:
      return retry_or_fail(policy, try_number, "connection broken");
    case Transport::ok:
      break;
  }
  const std::string status = "status " + std::to_string(result.status);
  if (result.status == 202) return Decision{Verdict::callback, Millis{0}, status};
  if (result.status >= 200 && result.status < 300) return Decision{Verdict::done, Millis{0}, status};
  if (retryable_status(policy, result.status)) return retry_or_fail(policy, try_number, status);
  return Decision{Verdict::failed, Millis{0}, status};
}

Decision callback_timed_out(const k8s::RetryPolicy& policy, std::uint32_t try_number) {
  return retry_or_fail(policy, try_number, "no callback within HttpTimeout");
}

std::optional<CallbackStatus> parse_callback_status(std::string_view word) {
  if (word == "success") return CallbackStatus::success;
  if (word == "error") return CallbackStatus::error;
  return std::nullopt;
}

Decision callback_received(CallbackStatus status) {
  if (status == CallbackStatus::success) return Decision{Verdict::done, Millis{0}, "callback success"};
  return Decision{Verdict::failed, Millis{0}, "callback error"};
}

Millis attempt_timeout(const k8s::RetryPolicy& policy) {
  return std::chrono::duration_cast<Millis>(std::chrono::seconds(std::max(1, policy.http_timeout_seconds)));
}

Millis callback_timeout(const k8s::RetryPolicy& policy) { return attempt_timeout(policy); }

Millis take_lease(const k8s::RetryPolicy& policy) {
  return attempt_timeout(policy) + callback_timeout(policy) + lease_margin;
}

Millis take_ahead_wait(const k8s::RetryPolicy& policy) {
  return std::min(attempt_timeout(policy) + callback_timeout(policy), max_take_ahead_wait);
}

Millis take_ahead_lease(const k8s::RetryPolicy& policy) {
  return take_lease(policy) + take_ahead_wait(policy);
}

std::uint32_t take_limit(std::uint32_t max_items, std::uint64_t budget_bytes, std::uint64_t last_average_bytes) {
  const std::uint64_t by_bytes = budget_bytes / std::max<std::uint64_t>(1, last_average_bytes);
  return static_cast<std::uint32_t>(std::clamp<std::uint64_t>(by_bytes, 1, std::max<std::uint32_t>(1, max_items)));
}

const char* to_string(Verdict v) {
  switch (v) {
    case Verdict::done: return "done";
    case Verdict::callback: return "callback";
    case Verdict::retry: return "retry";
    case Verdict::failed: return "failed";
  }
  return "?";
}

}  // namespace slimfaas::actors::async
