#include "net/upstream_pool.hpp"

#include <sys/socket.h>

#include <algorithm>

#include <boost/asio/connect.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace slimfaas::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// A connection used within this window is trusted without a syscall; older
// ones are checked, since replicas close idle keep-alive connections.
constexpr auto trust_window = std::chrono::seconds(1);

// An idle keep-alive connection the replica has closed reads as EOF (or an
// error) without blocking; one that is still open has nothing to read.
bool looks_alive(UpstreamPool::Socket& socket) {
  char byte;
  ssize_t n = ::recv(socket.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

UpstreamPool::UpstreamPool(asio::any_io_executor executor, const ServerLimits& limits)
    : executor_(std::move(executor)), limits_(limits) {}

std::string UpstreamPool::key(const std::string& host, std::uint16_t port) {
  std::string k;
  k.reserve(host.size() + 6);
  k += host;
  k += ':';
  k += std::to_string(port);
  return k;
}

bool UpstreamPool::take(const std::string& host, std::uint16_t port, Socket& socket) {
  auto it = idle_.find(key(host, port));
  if (it == idle_.end()) return false;
  auto& list = it->second;
  const auto now = Clock::now();
  while (!list.empty()) {
    Idle idle = std::move(list.back());
    list.pop_back();
    const auto age = now - idle.since;
    if (age < limits_.upstream_idle_timeout && (age < trust_window || looks_alive(idle.socket))) {
      socket = std::move(idle.socket);
      return true;
    }
    boost::system::error_code ignored;
    idle.socket.close(ignored);
  }
  return false;
}

asio::awaitable<void> UpstreamPool::connect(const std::string& host, std::uint16_t port, Socket& socket,
                                            boost::system::error_code& ec) {
  ec = {};
  boost::system::error_code addr_ec;
  auto address = asio::ip::make_address(host, addr_ec);
  if (!addr_ec) {
    co_await socket.async_connect(tcp::endpoint(address, port), asio::redirect_error(asio::use_awaitable, ec));
  } else {
    tcp::resolver resolver(executor_);
    auto results = co_await resolver.async_resolve(host, std::to_string(port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await asio::async_connect(socket, results, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!ec) {
    boost::system::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
  }
}

void UpstreamPool::give_back(const std::string& host, std::uint16_t port, Socket socket, std::size_t parallel) {
  const std::size_t configured = limits_.upstream_idle_per_replica;
  const std::size_t keep = configured == 0 ? 0 : std::max(configured, parallel);
  auto& list = idle_[key(host, port)];
  if (list.size() >= keep) {
    boost::system::error_code ignored;
    socket.close(ignored);
    return;
  }
  list.push_back(Idle{std::move(socket), Clock::now()});
}

void UpstreamPool::prune(Clock::time_point now) {
  for (auto& [_, list] : idle_) {
    for (auto it = list.begin(); it != list.end();) {
      if (now - it->since >= limits_.upstream_idle_timeout) {
        boost::system::error_code ignored;
        it->socket.close(ignored);
        it = list.erase(it);
      } else {
        ++it;
      }
    }
  }
}

std::size_t UpstreamPool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [_, list] : idle_) n += list.size();
  return n;
}

void UpstreamPool::clear() {
  for (auto& [_, list] : idle_) {
    for (auto& idle : list) {
      boost::system::error_code ignored;
      idle.socket.close(ignored);
    }
  }
  idle_.clear();
}

}  // namespace slimfaas::net
