#pragma once
#include <utility>  // boost/asio/awaitable.hpp (1.74) uses std::exchange without it

// Keep-alive connections to function replicas, one pool per I/O thread so
// that taking and returning a connection needs no lock.
#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <chrono>
#include <string>
#include <unordered_map>
#include <vector>

#include "net/server_options.hpp"

namespace slimfaas::net {

class UpstreamPool {
 public:
  using Socket = boost::asio::ip::tcp::socket;
  using Clock = std::chrono::steady_clock;

  UpstreamPool(boost::asio::any_io_executor executor, const ServerLimits& limits);

  // Takes a pooled connection that still looks alive; `reused` tells the
  // caller it may retry a bodyless request on a fresh connection if this one
  // turns out to be closed. Returns false when none is pooled.
  bool take(const std::string& host, std::uint16_t port, Socket& socket);

  // Opens a new connection into `socket` (which the caller may cancel to
  // enforce its deadline).
  boost::asio::awaitable<void> connect(const std::string& host, std::uint16_t port, Socket& socket,
                                       boost::system::error_code& ec);

  // Returns a connection whose last exchange ended cleanly. It is kept while
  // fewer connections to host:port are idle than the configured
  // upstream_idle_per_replica, or than `parallel`, the most exchanges the
  // caller may run at once with host:port (so that the next wave finds them
  // all); else closed. A configured 0 keeps none.
  void give_back(const std::string& host, std::uint16_t port, Socket socket, std::size_t parallel = 0);

  // Closes connections idle for longer than the limit.
  void prune(Clock::time_point now);
  std::size_t idle_count() const;
  void clear();

 private:
  struct Idle {
    Socket socket;
    Clock::time_point since;
  };
  static std::string key(const std::string& host, std::uint16_t port);

  boost::asio::any_io_executor executor_;
  const ServerLimits& limits_;
  std::unordered_map<std::string, std::vector<Idle>> idle_;
};

}  // namespace slimfaas::net
