#pragma once
#include <utility>  // boost/asio/awaitable.hpp (1.74) uses std::exchange without it

// Keep-alive connections to function replicas, one pool per I/O thread so
// that taking and returning a connection needs no lock.
#include <boost/asio/awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <chrono>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/server_options.hpp"

namespace slimfaas::net {

class UpstreamPool {
 public:
  using Stream = boost::beast::tcp_stream;
  using Clock = std::chrono::steady_clock;

  UpstreamPool(boost::asio::any_io_executor executor, const ServerLimits& limits);

  // A pooled connection that still looks alive, or a new one. On failure the
  // error is set and the stream is closed.
  boost::asio::awaitable<Stream> acquire(const std::string& host, std::uint16_t port, Clock::time_point deadline,
                                         boost::beast::error_code& ec);

  // Returns a connection whose last exchange ended cleanly.
  void release(const std::string& host, std::uint16_t port, Stream stream);

  std::size_t idle_count() const;
  void clear();

 private:
  struct Idle {
    Stream stream;
    Clock::time_point since;
  };
  static std::string key(const std::string& host, std::uint16_t port);

  boost::asio::any_io_executor executor_;
  const ServerLimits& limits_;
  std::unordered_map<std::string, std::vector<Idle>> idle_;
};

}  // namespace slimfaas::net
