#include "net/http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/asio/steady_timer.hpp>
#include <algorithm>
#include <array>
#include <optional>
#include <thread>

#include "net/beast_http_parser.hpp"
#include "net/http_head.hpp"
#include "net/thread_name.hpp"
#include "net/upstream_pool.hpp"

namespace slimfaas::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// A response body is read and dropped: async delivery needs the status only.
constexpr std::uint64_t kMaxResponseBody = 64ull << 20;

ServerLimits pool_limits(std::size_t max_idle_per_host, std::chrono::milliseconds idle_timeout) {
  ServerLimits limits;
  limits.upstream_idle_per_replica = max_idle_per_host;
  limits.upstream_idle_timeout = idle_timeout;
  return limits;
}

// Idle connections nobody takes again are closed by a sweep, at most this
// far apart (a connection is also checked when it is taken).
constexpr std::chrono::milliseconds kMaxSweepInterval{5'000};

}  // namespace

// Connections come from the same keep-alive pool as the proxy's
// (net/upstream_pool: liveness check, idle timeout), on the client's thread.
struct HttpClient::Impl {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  const ServerLimits limits;
  UpstreamPool pool;  // touched on the client's thread only
  asio::steady_timer sweep_timer{io};
  std::thread thread;

  Impl(std::size_t max_idle_per_host, std::chrono::milliseconds idle_timeout)
      : limits(pool_limits(max_idle_per_host, idle_timeout)), pool(io.get_executor(), limits) {
    schedule_sweep();
    thread = std::thread([this] {
      name_this_thread("http-client");
      io.run();
    });
  }

  void schedule_sweep() {
    sweep_timer.expires_after(std::clamp(limits.upstream_idle_timeout / 2, std::chrono::milliseconds(10), kMaxSweepInterval));
    sweep_timer.async_wait([this](beast::error_code ec) {
      if (ec) return;
      pool.prune(Clock::now());
      schedule_sweep();
    });
  }

  // A new connection, given up at the request's deadline.
  asio::awaitable<void> connect(const ClientRequest& request, tcp::socket& socket, Clock::time_point deadline,
                                beast::error_code& ec) {
    asio::steady_timer timer(io);
    timer.expires_at(deadline);
    bool timed_out = false;
    timer.async_wait([&socket, &timed_out](beast::error_code wait_ec) {
      if (wait_ec) return;  // cancelled: the connect ended first
      timed_out = true;
      beast::error_code ignored;
      socket.cancel(ignored);
    });
    co_await pool.connect(request.host, request.port, socket, ec);
    timer.cancel();
    if (timed_out) ec = beast::error::timeout;
  }

  asio::awaitable<void> run(ClientRequest request, Done done) {
    using asio::redirect_error;
    using asio::use_awaitable;
    const auto start = Clock::now();
    const auto deadline = start + request.timeout;
    ClientResponse out;

    // The head is written as one flat buffer beside the body (one writev),
    // not through beast's serializer: delivery sends every async call through
    // here, and the serializer's buffer walking cost more than the syscalls.
    std::string head;
    const bool ipv6_literal = request.host.find(':') != std::string::npos;
    const std::string host_port =
        (ipv6_literal ? "[" + request.host + "]" : request.host) + ":" + std::to_string(request.port);
    // Content-Length when there is a body or the method may carry one (as
    // beast's prepare_payload would).
    std::optional<std::size_t> content_length;
    if (!request.body.empty() || (request.method != "GET" && request.method != "HEAD")) {
      content_length = request.body.size();
    }
    if (!append_request_head(head, request.method, request.target, host_port, request.headers, content_length)) {
      out.error = ClientResponse::Error::io;
      out.detail = "refused to send a request with CR, LF or NUL in its method, target or headers";
      out.elapsed = Clock::now() - start;
      done(std::move(out));
      co_return;
    }
    const std::array<asio::const_buffer, 2> message{asio::buffer(head), asio::buffer(request.body)};

    // A pooled connection the server had just closed fails at once: try the
    // request again, once, on a fresh connection.
    for (int round = 0; round < 2; ++round) {
      beast::error_code ec;
      tcp::socket socket(io);
      const bool reused = pool.take(request.host, request.port, socket);
      if (!reused) {
        co_await connect(request, socket, deadline, ec);
        if (ec) {
          out.error = ec == beast::error::timeout ? ClientResponse::Error::timeout : ClientResponse::Error::connect;
          out.detail = ec.message();
          break;
        }
      }
      beast::tcp_stream stream(std::move(socket));
      beast::flat_buffer buffer;
      stream.expires_at(deadline);
      co_await asio::async_write(stream, message, redirect_error(use_awaitable, ec));
      if (ec) {
        if (reused && ec != beast::error::timeout) continue;
        out.error = ec == beast::error::timeout ? ClientResponse::Error::timeout : ClientResponse::Error::io;
        out.detail = ec.message();
        break;
      }
      http::response_parser<http::string_body> parser;
      parser.body_limit(kMaxResponseBody);
      co_await http::async_read(stream, buffer, parser, redirect_error(use_awaitable, ec));
      if (ec) {
        if (reused && !parser.got_some() && ec != beast::error::timeout) continue;
        out.error = ec == beast::error::timeout ? ClientResponse::Error::timeout : ClientResponse::Error::io;
        out.detail = ec.message();
        break;
      }
      out.error = ClientResponse::Error::none;
      out.status = parser.get().result_int();
      if (parser.get().keep_alive() && buffer.size() == 0) {
        stream.expires_never();
        pool.give_back(request.host, request.port, stream.release_socket(), request.parallel_per_host);
      }
      break;
    }
    out.elapsed = Clock::now() - start;
    done(std::move(out));
  }
};

HttpClient::HttpClient(std::size_t max_idle_per_host, std::chrono::milliseconds idle_timeout)
    : impl_(std::make_unique<Impl>(max_idle_per_host, idle_timeout)) {}

HttpClient::~HttpClient() { stop(); }

void HttpClient::send(ClientRequest request, Done done) {
  asio::co_spawn(impl_->io, impl_->run(std::move(request), std::move(done)), asio::detached);
}

void HttpClient::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->guard.reset();
  impl_->io.stop();
  impl_->thread.join();
  impl_->pool.clear();
}

}  // namespace slimfaas::net
