#include "net/http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/tcp_stream.hpp>
#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <deque>
#include <thread>
#include <unordered_map>

namespace slimfaas::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

// A response body is read and dropped: async delivery needs the status only.
constexpr std::uint64_t kMaxResponseBody = 64ull << 20;

struct Idle {
  beast::tcp_stream stream;
  beast::flat_buffer buffer;
};

}  // namespace

struct HttpClient::Impl {
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  std::thread thread;
  std::size_t max_idle;
  // Touched on the client's thread only.
  std::unordered_map<std::string, std::deque<std::unique_ptr<Idle>>> idle;

  explicit Impl(std::size_t max_idle_per_host) : max_idle(max_idle_per_host) {
    thread = std::thread([this] { io.run(); });
  }

  static std::string key(const std::string& host, std::uint16_t port) { return host + ":" + std::to_string(port); }

  std::unique_ptr<Idle> take(const std::string& k) {
    auto it = idle.find(k);
    if (it == idle.end() || it->second.empty()) return nullptr;
    auto conn = std::move(it->second.back());
    it->second.pop_back();
    return conn;
  }

  void give_back(const std::string& k, std::unique_ptr<Idle> conn) {
    auto& list = idle[k];
    if (list.size() >= max_idle) list.pop_front();
    list.push_back(std::move(conn));
  }

  asio::awaitable<void> run(ClientRequest request, Done done) {
    using asio::redirect_error;
    using asio::use_awaitable;
    const auto start = Clock::now();
    const auto deadline = start + request.timeout;
    const std::string k = key(request.host, request.port);
    ClientResponse out;

    http::request<http::string_body> message;
    const auto verb = http::string_to_verb(request.method);
    if (verb == http::verb::unknown) message.method_string(request.method);
    else message.method(verb);
    message.target(request.target);
    message.version(11);
    for (auto& [name, value] : request.headers) message.insert(name, value);
    const bool ipv6_literal = request.host.find(':') != std::string::npos;
    message.set(http::field::host, (ipv6_literal ? "[" + request.host + "]" : request.host) + ":" +
                                       std::to_string(request.port));
    message.body() = std::move(request.body);
    message.keep_alive(true);
    if (!message.body().empty() || (verb != http::verb::get && verb != http::verb::head)) message.prepare_payload();

    // A pooled connection the server had just closed fails at once: try the
    // request again, once, on a fresh connection.
    for (int round = 0; round < 2; ++round) {
      beast::error_code ec;
      auto conn = take(k);
      const bool reused = conn != nullptr;
      if (!conn) {
        conn = std::make_unique<Idle>(Idle{beast::tcp_stream(io), {}});
        tcp::resolver resolver(io);
        auto endpoints = co_await resolver.async_resolve(request.host, std::to_string(request.port),
                                                         redirect_error(use_awaitable, ec));
        if (!ec) {
          conn->stream.expires_at(deadline);
          co_await conn->stream.async_connect(endpoints, redirect_error(use_awaitable, ec));
        }
        if (ec) {
          out.error = ec == beast::error::timeout ? ClientResponse::Error::timeout : ClientResponse::Error::connect;
          out.detail = ec.message();
          break;
        }
        conn->stream.socket().set_option(tcp::no_delay(true), ec);
        ec = {};
      }
      conn->stream.expires_at(deadline);
      co_await http::async_write(conn->stream, message, redirect_error(use_awaitable, ec));
      if (ec) {
        if (reused && ec != beast::error::timeout) continue;
        out.error = ec == beast::error::timeout ? ClientResponse::Error::timeout : ClientResponse::Error::io;
        out.detail = ec.message();
        break;
      }
      http::response_parser<http::string_body> parser;
      parser.body_limit(kMaxResponseBody);
      co_await http::async_read(conn->stream, conn->buffer, parser, redirect_error(use_awaitable, ec));
      if (ec) {
        if (reused && !parser.got_some() && ec != beast::error::timeout) continue;
        out.error = ec == beast::error::timeout ? ClientResponse::Error::timeout : ClientResponse::Error::io;
        out.detail = ec.message();
        break;
      }
      out.error = ClientResponse::Error::none;
      out.status = parser.get().result_int();
      if (parser.get().keep_alive()) {
        conn->stream.expires_never();
        give_back(k, std::move(conn));
      }
      break;
    }
    out.elapsed = Clock::now() - start;
    done(std::move(out));
  }
};

HttpClient::HttpClient(std::size_t max_idle_per_host) : impl_(std::make_unique<Impl>(max_idle_per_host)) {}

HttpClient::~HttpClient() { stop(); }

void HttpClient::send(ClientRequest request, Done done) {
  asio::co_spawn(impl_->io, impl_->run(std::move(request), std::move(done)), asio::detached);
}

void HttpClient::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  impl_->guard.reset();
  impl_->io.stop();
  impl_->thread.join();
  impl_->idle.clear();
}

}  // namespace slimfaas::net
