#include "net/http_client.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/write.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/executor_work_guard.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
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

// A response body is read and dropped: async delivery needs the status
// only. Past this many bytes the connection is closed instead of read
// through, and the status stands.
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

// The status of a response, read with its body dropped and its fields
// unstored: async delivery needs nothing else, and beast's own parser
// allocates every field of every answer into a list only to free it.
class StatusParser final : public http::basic_parser<false> {
 public:
  unsigned status() const { return status_; }

 private:
  void on_request_impl(http::verb, beast::string_view, beast::string_view, int, beast::error_code&) override {}
  void on_response_impl(int code, beast::string_view, int, beast::error_code&) override {
    status_ = static_cast<unsigned>(code);
  }
  void on_field_impl(http::field, beast::string_view, beast::string_view, beast::error_code&) override {}
  void on_header_impl(beast::error_code&) override {}
  void on_body_init_impl(const boost::optional<std::uint64_t>&, beast::error_code&) override {}
  std::size_t on_body_impl(beast::string_view body, beast::error_code&) override { return body.size(); }
  void on_chunk_header_impl(std::uint64_t, beast::string_view, beast::error_code&) override {}
  std::size_t on_chunk_body_impl(std::uint64_t, beast::string_view body, beast::error_code&) override {
    return body.size();
  }
  void on_finish_impl(beast::error_code&) override {}

  unsigned status_ = 0;
};

// Connections come from the same keep-alive pool as the proxy's
// (net/upstream_pool: liveness check, idle timeout), on the client's thread.
//
// Deadlines: every exchange in flight is linked into one list, and a
// single timer, set to the earliest deadline, cancels the sockets of those
// past theirs. A timer per exchange (beast's tcp_stream keeps one, with a
// shared state allocated per stream) cost a service lookup, an allocation
// and timer queue work on every delivery; here an exchange that ends in
// time costs two pointer updates, and the timer fires about once per
// timeout period while exchanges end well before theirs.
struct HttpClient::Impl {
  struct InFlight {
    tcp::socket* socket = nullptr;
    Clock::time_point deadline;
    bool timed_out = false;
    InFlight* prev = nullptr;
    InFlight* next = nullptr;
  };

  // Links an exchange into the list for as long as it lives.
  class Watch {
   public:
    Watch(Impl& impl, tcp::socket& socket, Clock::time_point deadline) : impl_(impl) {
      entry_.socket = &socket;
      entry_.deadline = deadline;
      impl_.link(entry_);
    }
    ~Watch() { impl_.unlink(entry_); }
    Watch(const Watch&) = delete;
    Watch& operator=(const Watch&) = delete;
    bool timed_out() const { return entry_.timed_out; }

   private:
    Impl& impl_;
    InFlight entry_;
  };

  // The list's head. Declared before the io_context, so that it outlives
  // the exchanges the io_context destroys when it goes (each unlinks itself).
  InFlight* in_flight = nullptr;
  asio::io_context io{1};
  asio::executor_work_guard<asio::io_context::executor_type> guard = asio::make_work_guard(io);
  const ServerLimits limits;
  UpstreamPool pool;  // touched on the client's thread only
  asio::steady_timer sweep_timer{io};
  asio::steady_timer deadline_timer{io};
  std::optional<Clock::time_point> deadline_armed;  // when deadline_timer fires, if it waits
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

  void link(InFlight& entry) {
    entry.next = in_flight;
    if (in_flight) in_flight->prev = &entry;
    in_flight = &entry;
    if (!deadline_armed || entry.deadline < *deadline_armed) arm_deadline(entry.deadline);
  }

  // The timer is left as it is: when it fires it finds the next deadline.
  void unlink(InFlight& entry) {
    if (entry.prev) entry.prev->next = entry.next;
    else in_flight = entry.next;
    if (entry.next) entry.next->prev = entry.prev;
  }

  void arm_deadline(Clock::time_point at) {
    deadline_armed = at;
    deadline_timer.expires_at(at);  // a wait already set ends with operation_aborted
    deadline_timer.async_wait([this](beast::error_code ec) {
      if (!ec) on_deadline();
    });
  }

  void on_deadline() {
    deadline_armed.reset();
    const auto now = Clock::now();
    std::optional<Clock::time_point> next;
    for (InFlight* entry = in_flight; entry; entry = entry->next) {
      if (entry->timed_out) continue;
      if (entry->deadline <= now) {
        entry->timed_out = true;
        beast::error_code ignored;
        entry->socket->cancel(ignored);
      } else if (!next || entry->deadline < *next) {
        next = entry->deadline;
      }
    }
    if (next) arm_deadline(*next);
  }

  static void fail(ClientResponse& out, bool timed_out, const beast::error_code& ec, const ClientRequest& request,
                   ClientResponse::Error otherwise) {
    if (timed_out) {
      out.error = ClientResponse::Error::timeout;
      out.detail = "no complete response within " + std::to_string(request.timeout.count()) + " ms";
    } else {
      out.error = otherwise;
      out.detail = ec.message();
    }
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
      const Watch watch(*this, socket, deadline);
      const bool reused = pool.take(request.host, request.port, socket);
      if (!reused) {
        co_await pool.connect(request.host, request.port, socket, ec);
        if (ec || watch.timed_out()) {
          fail(out, watch.timed_out(), ec, request, ClientResponse::Error::connect);
          break;
        }
      }
      co_await asio::async_write(socket, message, redirect_error(use_awaitable, ec));
      if (ec || watch.timed_out()) {
        if (reused && !watch.timed_out()) continue;
        fail(out, watch.timed_out(), ec, request, ClientResponse::Error::io);
        break;
      }
      beast::flat_buffer buffer;
      StatusParser parser;
      parser.body_limit(kMaxResponseBody);
      co_await http::async_read(socket, buffer, parser, redirect_error(use_awaitable, ec));
      if (ec == http::error::body_limit && parser.is_header_done() && !watch.timed_out()) {
        // The function answered; only its body is too large to read
        // through. Its status stands (a call it handled is not tried
        // again); the connection, with the rest of that body, is closed.
        out.error = ClientResponse::Error::none;
        out.status = parser.status();
        break;
      }
      if (ec || watch.timed_out()) {
        if (reused && !parser.got_some() && !watch.timed_out()) continue;
        fail(out, watch.timed_out(), ec, request, ClientResponse::Error::io);
        break;
      }
      out.error = ClientResponse::Error::none;
      out.status = parser.status();
      if (parser.keep_alive() && buffer.size() == 0) {
        pool.give_back(request.host, request.port, std::move(socket), request.parallel_per_host);
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
