#pragma once
// The seam between the byte-moving HTTP layer and the deciding control plane.
// net/ knows nothing of actors: the application implements this interface
// with CAF actors, and tests can implement it directly.
#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "net/router.hpp"

namespace slimfaas::net {

enum class AdmissionResult {
  granted,
  unknown_function,  // 404
  queue_full,        // 429
  timed_out,         // 504: no slot or replica within the sync timeout
  no_replica,        // 503
  cancelled,         // the caller withdrew (client went away)
  shutting_down,     // 503
};

struct Admission {
  AdmissionResult result = AdmissionResult::granted;
  std::string detail;
  // Set when granted.
  std::uint64_t ticket = 0;
  std::string host;
  std::uint16_t port = 0;
  std::string replica;  // replica name, for logs
  // The most calls the function's caps let this replica run at once: the
  // upstream pool keeps that many idle connections to it between calls.
  std::size_t replica_parallel = 0;
  std::chrono::steady_clock::time_point deadline{};
  // Holds the slot while the call runs; dropping it frees the slot.
  std::shared_ptr<void> slot;
  int retry_after_seconds = 1;
};

using AdmissionCallback = std::function<void(Admission)>;

struct ApiRequest {
  Route route;
  std::string method;  // "GET", "POST", ...
  std::string target;
  std::string body;
  std::string remote_address;
  // /async-function only: the end-to-end request headers to deliver.
  std::vector<std::pair<std::string, std::string>> headers;
};

struct ApiResponse {
  unsigned status = 200;
  std::string content_type = "application/json";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
  std::string error;  // an error response's code, as in its JSON body (metrics count by it); else empty
};

using ApiCallback = std::function<void(ApiResponse)>;

class Gateway {
 public:
  virtual ~Gateway() = default;

  // Decides at once when it can: a free slot with nobody waiting, an unknown
  // function, a node shutting down. nullopt: ask acquire() and wait.
  virtual std::optional<Admission> try_acquire_now(const std::string& function) = 0;

  // Asks for a slot to call `function` synchronously. Returns the ticket that
  // identifies this call in cancel/release. `done` runs exactly once, on any
  // thread, possibly before acquire returns.
  virtual std::uint64_t acquire(const std::string& function, AdmissionCallback done) = 0;

  // The caller gave up before `done` ran (client disconnected).
  virtual void cancel(const std::string& function, std::uint64_t ticket) = 0;

  // Control routes (status, wake, metrics, debug). `done` runs exactly once.
  virtual void handle(ApiRequest request, ApiCallback done) = 0;
};

}  // namespace slimfaas::net
