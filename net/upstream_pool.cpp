#include "net/upstream_pool.hpp"

#include <sys/socket.h>

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace slimfaas::net {
namespace asio = boost::asio;
using tcp = asio::ip::tcp;

namespace {

// An idle keep-alive connection the replica has closed reads as EOF (or an
// error) without blocking; one that is still open has nothing to read.
bool looks_alive(UpstreamPool::Stream& stream) {
  char byte;
  ssize_t n = ::recv(stream.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  return n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK);
}

}  // namespace

UpstreamPool::UpstreamPool(asio::any_io_executor executor, const ServerLimits& limits)
    : executor_(std::move(executor)), limits_(limits) {}

std::string UpstreamPool::key(const std::string& host, std::uint16_t port) {
  return host + ':' + std::to_string(port);
}

asio::awaitable<UpstreamPool::Stream> UpstreamPool::acquire(const std::string& host, std::uint16_t port,
                                                            Clock::time_point deadline, boost::beast::error_code& ec) {
  ec = {};
  if (auto it = idle_.find(key(host, port)); it != idle_.end()) {
    auto& list = it->second;
    auto now = Clock::now();
    while (!list.empty()) {
      Idle idle = std::move(list.back());
      list.pop_back();
      if (now - idle.since < limits_.upstream_idle_timeout && looks_alive(idle.stream)) {
        co_return std::move(idle.stream);
      }
      boost::beast::error_code ignored;
      idle.stream.socket().close(ignored);
    }
  }

  Stream stream(executor_);
  stream.expires_at(deadline);
  boost::system::error_code addr_ec;
  auto address = asio::ip::make_address(host, addr_ec);
  if (!addr_ec) {
    co_await stream.async_connect(tcp::endpoint(address, port), asio::redirect_error(asio::use_awaitable, ec));
  } else {
    tcp::resolver resolver(executor_);
    auto results = co_await resolver.async_resolve(host, std::to_string(port),
                                                   asio::redirect_error(asio::use_awaitable, ec));
    if (!ec) co_await stream.async_connect(results, asio::redirect_error(asio::use_awaitable, ec));
  }
  if (!ec) {
    boost::beast::error_code ignored;
    stream.socket().set_option(tcp::no_delay(true), ignored);
  }
  co_return stream;
}

void UpstreamPool::release(const std::string& host, std::uint16_t port, Stream stream) {
  auto& list = idle_[key(host, port)];
  if (list.size() >= limits_.upstream_idle_per_replica) {
    boost::beast::error_code ignored;
    stream.socket().close(ignored);
    return;
  }
  stream.expires_never();
  list.push_back(Idle{std::move(stream), Clock::now()});
}

std::size_t UpstreamPool::idle_count() const {
  std::size_t n = 0;
  for (const auto& [_, list] : idle_) n += list.size();
  return n;
}

void UpstreamPool::clear() {
  for (auto& [_, list] : idle_) {
    for (auto& idle : list) {
      boost::beast::error_code ignored;
      idle.stream.socket().close(ignored);
    }
  }
  idle_.clear();
}

}  // namespace slimfaas::net
