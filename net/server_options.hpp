#pragma once
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace slimfaas::net {

// Bodies are relayed through buffers of this size, in both directions.
inline constexpr std::size_t relay_chunk_size = 64 * 1024;

// Every limit has a clear HTTP answer when crossed (see docs/limits.md).
struct ServerLimits {
  std::size_t max_header_bytes = 16 * 1024;          // 431
  std::uint64_t max_body_bytes = 100ull << 20;        // 413 (proxied calls; streamed)
  std::uint64_t max_api_body_bytes = 1ull << 20;      // 413 (control routes; buffered)
  std::uint64_t max_async_body_bytes = 1ull << 20;    // 413 (/async-function; buffered, then queued in SlimData)
  std::size_t max_connections = 10000;                // 503 and close
  std::chrono::milliseconds idle_timeout{60'000};     // keep-alive wait for the next request
  std::chrono::milliseconds read_timeout{30'000};     // each read of a request in progress
  std::chrono::milliseconds shutdown_grace{30'000};   // SIGTERM: time for in-flight calls
  std::size_t upstream_idle_per_replica = 64;         // pooled keep-alive connections kept
  std::chrono::milliseconds upstream_idle_timeout{30'000};
};

struct ServerOptions {
  std::string address = "0.0.0.0";
  std::vector<std::uint16_t> ports{5000};
  unsigned io_threads = 0;  // 0: one per usable CPU (net/cpu_budget.hpp)
  std::string cors_allow_origin = "*";
  ServerLimits limits;
};

}  // namespace slimfaas::net
