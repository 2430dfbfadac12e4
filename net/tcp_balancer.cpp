#include "net/tcp_balancer.hpp"

#include <utility>  // before asio's awaitable (GCC 12 + Boost 1.74)

#include <array>
#include <atomic>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <spdlog/spdlog.h>

#include "net/thread_name.hpp"

namespace slimfaas::net {

namespace asio = boost::asio;
using asio::ip::tcp;

struct TcpBalancer::Impl {
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::vector<std::uint16_t> backends;
  std::atomic<unsigned> next{0};

  // One direction of a relayed connection; closes the other side's writing
  // half at the end, so the peer sees the end of the stream.
  static asio::awaitable<void> pump(std::shared_ptr<tcp::socket> from, std::shared_ptr<tcp::socket> to) {
    std::array<char, 64 * 1024> buffer;
    boost::system::error_code ec;
    for (;;) {
      const auto n = co_await from->async_read_some(asio::buffer(buffer), asio::redirect_error(asio::use_awaitable, ec));
      if (ec || n == 0) break;
      co_await asio::async_write(*to, asio::buffer(buffer.data(), n), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
    }
    to->shutdown(tcp::socket::shutdown_send, ec);
    from->shutdown(tcp::socket::shutdown_receive, ec);
  }

  asio::awaitable<void> relay(std::shared_ptr<tcp::socket> client) {
    auto upstream = std::make_shared<tcp::socket>(io);
    boost::system::error_code ec;
    const unsigned start = next.fetch_add(1);
    bool connected = false;
    for (std::size_t k = 0; k < backends.size() && !connected; ++k) {
      const auto port = backends[(start + k) % backends.size()];
      upstream = std::make_shared<tcp::socket>(io);
      co_await upstream->async_connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port),
                                       asio::redirect_error(asio::use_awaitable, ec));
      connected = !ec;
    }
    if (!connected) {
      client->close(ec);  // no node accepts: the client sees the connection close
      co_return;
    }
    upstream->set_option(tcp::no_delay(true), ec);
    client->set_option(tcp::no_delay(true), ec);
    asio::co_spawn(io, pump(client, upstream), asio::detached);
    co_await pump(upstream, client);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      auto client = std::make_shared<tcp::socket>(io);
      co_await acceptor.async_accept(*client, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted || !acceptor.is_open()) co_return;
      if (ec) continue;
      asio::co_spawn(io, relay(std::move(client)), asio::detached);
    }
  }
};

TcpBalancer::TcpBalancer(const std::string& address, std::uint16_t port, std::vector<std::uint16_t> backends)
    : impl_(std::make_shared<Impl>()) {
  impl_->backends = std::move(backends);
  tcp::endpoint endpoint(asio::ip::make_address(address), port);
  impl_->acceptor.open(endpoint.protocol());
  impl_->acceptor.set_option(tcp::acceptor::reuse_address(true));
  impl_->acceptor.bind(endpoint);
  impl_->acceptor.listen();
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  thread_ = std::thread([impl = impl_] {
    name_this_thread("entrypoint");
    try {
      impl->io.run();
    } catch (const std::exception& e) {
      spdlog::error("entrypoint: {}", e.what());
    }
  });
}

TcpBalancer::~TcpBalancer() { stop(); }

void TcpBalancer::stop() {
  if (!thread_.joinable()) return;
  impl_->io.stop();
  thread_.join();
}

}  // namespace slimfaas::net
