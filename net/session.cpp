#include "net/session.hpp"

#include <sys/socket.h>

#include <limits>
#include <optional>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <spdlog/spdlog.h>

#include "net/forwarding.hpp"
#include "net/http_error.hpp"
#include "net/http_server.hpp"
#include "net/worker.hpp"

namespace slimfaas::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;

namespace {

constexpr std::size_t chunk_size = 64 * 1024;

// Completes with the gateway's admission, on the session's own thread.
template <class Token>
auto async_acquire(Gateway& gateway, const std::string& function, asio::any_io_executor executor,
                   std::uint64_t& ticket, Token&& token) {
  return asio::async_initiate<Token, void(Admission)>(
      [&gateway, &function, executor, &ticket](auto handler) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        ticket = gateway.acquire(function, [executor, shared](Admission admission) {
          asio::post(executor, [shared, admission = std::move(admission)]() mutable {
            (*shared)(std::move(admission));
          });
        });
      },
      token);
}

template <class Token>
auto async_api(Gateway& gateway, ApiRequest request, asio::any_io_executor executor, Token&& token) {
  return asio::async_initiate<Token, void(ApiResponse)>(
      [&gateway, executor](auto handler, ApiRequest request) {
        auto shared = std::make_shared<decltype(handler)>(std::move(handler));
        gateway.handle(std::move(request), [executor, shared](ApiResponse response) {
          asio::post(executor, [shared, response = std::move(response)]() mutable {
            (*shared)(std::move(response));
          });
        });
      },
      token, std::move(request));
}

bool is_disconnect(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe || ec == asio::error::operation_aborted || ec == beast::error::timeout ||
         ec == asio::error::bad_descriptor;
}

std::string_view admission_error_name(AdmissionResult result) {
  switch (result) {
    case AdmissionResult::unknown_function: return "function_not_found";
    case AdmissionResult::queue_full: return "too_many_waiting_requests";
    case AdmissionResult::timed_out: return "timeout";
    case AdmissionResult::no_replica: return "no_replica_available";
    case AdmissionResult::cancelled: return "cancelled";
    case AdmissionResult::shutting_down: return "shutting_down";
    case AdmissionResult::granted: break;
  }
  return "error";
}

unsigned admission_status(AdmissionResult result) {
  switch (result) {
    case AdmissionResult::unknown_function: return 404;
    case AdmissionResult::queue_full: return 429;
    case AdmissionResult::timed_out: return 504;
    case AdmissionResult::cancelled: return 499;
    default: return 503;
  }
}

// Re-declares the body framing after hop-by-hop fields were removed.
template <bool isRequest, class Fields>
void restore_framing(http::header<isRequest, Fields>& header, bool chunked, boost::optional<std::uint64_t> length,
                     bool allow_chunked) {
  if (length) {
    header.set(http::field::content_length, std::to_string(*length));
  } else if (chunked && allow_chunked) {
    header.set(http::field::transfer_encoding, "chunked");
  }
}

}  // namespace

Session::Session(Worker& worker, tcp::socket socket)
    : worker_(worker), stream_(std::move(socket)), chunk_(std::make_unique<char[]>(chunk_size)) {
  beast::error_code ec;
  auto endpoint = stream_.socket().remote_endpoint(ec);
  if (!ec) remote_ip_ = endpoint.address().to_string();
  stream_.socket().set_option(tcp::no_delay(true), ec);
  worker_.add(this);
  worker_.server().connections_.fetch_add(1);
  worker_.server().metrics_.connections.add(1);
}

Session::~Session() {
  worker_.remove(this);
  worker_.server().connections_.fetch_sub(1);
  worker_.server().metrics_.connections.add(-1);
}

void Session::launch(Worker& worker, tcp::socket socket) {
  auto session = std::make_shared<Session>(worker, std::move(socket));
  asio::co_spawn(worker.context(), [session]() { return session->run(); }, asio::detached);
}

void Session::close_if_idle() {
  if (!idle_) return;
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_both, ec);
  stream_.socket().close(ec);
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  auto& server = worker_.server();
  for (;;) {
    HeaderParser parser;
    parser.header_limit(static_cast<std::uint32_t>(server.options_.limits.max_header_bytes));
    parser.body_limit(server.options_.limits.max_body_bytes);
    idle_ = true;
    if (server.shutting_down()) break;
    stream_.expires_after(server.options_.limits.idle_timeout);
    beast::error_code ec;
    co_await http::async_read_header(stream_, buffer_, parser, asio::redirect_error(asio::use_awaitable, ec));
    idle_ = false;
    if (ec) {
      if (is_disconnect(ec)) break;
      if (ec == http::error::header_limit) {
        co_await error(431, "request_header_fields_too_large",
                       "request headers exceed " + std::to_string(server.options_.limits.max_header_bytes) + " bytes",
                       false, 11);
      } else if (ec == http::error::body_limit) {
        co_await error(413, "payload_too_large",
                       "request body exceeds " + std::to_string(server.options_.limits.max_body_bytes) + " bytes",
                       false, 11);
      } else {
        co_await error(400, "bad_request", "malformed HTTP request: " + ec.message(), false, 11);
      }
      break;
    }
    bool keep_alive = false;
    try {
      keep_alive = co_await serve(parser);
    } catch (const std::exception& e) {
      spdlog::error("session {}: unexpected error: {}", remote_ip_, e.what());
      keep_alive = false;
    }
    if (!keep_alive) break;
  }
  beast::error_code ec;
  stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
  stream_.socket().close(ec);
}

asio::awaitable<bool> Session::serve(HeaderParser& parser) {
  auto& request = parser.get();
  bool keep_alive = request.keep_alive() && !worker_.server().shutting_down();
  auto origin = request.find(http::field::origin);
  origin_ = origin == request.end() ? std::string{} : std::string(origin->value());
  Route route = route_target(request.target());

  switch (route.kind) {
    case RouteKind::function_sync:
      co_return co_await proxy(parser, route);
    case RouteKind::bad_request:
      co_return co_await error(400, "bad_request", route.error, keep_alive && parser.is_done(), request.version());
    case RouteKind::not_found:
      co_return co_await error(404, "not_found", "no route for " + std::string(request.target()),
                               keep_alive && parser.is_done(), request.version());
    case RouteKind::health:
      if (worker_.server().shutting_down()) {
        co_return co_await error(503, "shutting_down", "the node is draining", false, request.version());
      }
      co_await write(Reply{200, R"({"status":"ok"})"}, keep_alive && parser.is_done(), request.version());
      co_return keep_alive && parser.is_done();
    default:
      co_return co_await api(parser, route);
  }
}

asio::awaitable<bool> Session::error(unsigned status, std::string_view error, std::string_view detail,
                                     bool keep_alive, unsigned version, int retry_after) {
  Reply reply{status, error_body(error, detail)};
  if (retry_after > 0) reply.headers.emplace_back("Retry-After", std::to_string(retry_after));
  co_await write(std::move(reply), keep_alive, version);
  co_return keep_alive;
}

asio::awaitable<void> Session::write(Reply reply, bool keep_alive, unsigned version) {
  http::response<http::string_body> response{static_cast<http::status>(reply.status), version};
  response.set(http::field::server, "slimfaas");
  response.set(http::field::content_type, reply.content_type);
  for (auto& [name, value] : reply.headers) response.set(name, value);
  if (!origin_.empty()) response.set(http::field::access_control_allow_origin, worker_.server().options_.cors_allow_origin);
  response.body() = std::move(reply.body);
  response.keep_alive(keep_alive);
  response.prepare_payload();
  stream_.expires_after(worker_.server().options_.limits.read_timeout);
  beast::error_code ec;
  co_await http::async_write(stream_, response, asio::redirect_error(asio::use_awaitable, ec));
}

void Session::watch_client(std::function<void()> on_gone) {
  watching_ = true;
  const std::uint64_t generation = ++watch_generation_;
  auto self = shared_from_this();
  stream_.socket().async_wait(tcp::socket::wait_read,
                              [self, generation, on_gone = std::move(on_gone)](beast::error_code ec) {
    // A completion queued before stop_watching() must not act on a later phase.
    if (ec || !self->watching_ || self->watch_generation_ != generation) return;
    self->watching_ = false;
    char byte;
    ssize_t n = ::recv(self->stream_.socket().native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
    // n > 0: the client pipelined its next request; it is still there.
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) on_gone();
  });
}

void Session::stop_watching() {
  if (!watching_) return;
  watching_ = false;
  beast::error_code ec;
  stream_.socket().cancel(ec);
}

void Session::record(const std::string& function, http::verb method, unsigned status, double seconds) {
  auto& m = worker_.server().metrics_;
  m.requests.with({function, std::string(http::to_string(method)), std::to_string(status)}).inc();
  m.duration.with({function}, metrics::latency_buckets()).observe(seconds);
}

asio::awaitable<bool> Session::proxy(HeaderParser& header_parser, const Route& route) {
  auto& server = worker_.server();
  auto& limits = server.options_.limits;
  auto started = Clock::now();
  const auto method = header_parser.get().method();
  const unsigned version = header_parser.get().version();
  bool keep_alive = header_parser.get().keep_alive() && !server.shutting_down();

  // Admission: the function's actor decides when and where this call runs.
  std::uint64_t ticket = 0;
  bool client_gone = false;
  Gateway& gateway = server.gateway_;
  auto admission_wait = async_acquire(gateway, route.name, stream_.get_executor(), ticket, asio::use_awaitable);
  watch_client([&gateway, &route, &ticket, &client_gone] {
    client_gone = true;
    gateway.cancel(route.name, ticket);
  });
  Admission admission = co_await std::move(admission_wait);
  stop_watching();
  if (admission.result != AdmissionResult::granted) {
    unsigned status = admission_status(admission.result);
    record(route.name, method, status, std::chrono::duration<double>(Clock::now() - started).count());
    if (admission.result == AdmissionResult::cancelled || client_gone) co_return false;
    co_return co_await error(status, admission_error_name(admission.result), admission.detail,
                             keep_alive && header_parser.is_done(), version,
                             status == 429 ? admission.retry_after_seconds : 0);
  }

  unsigned final_status = 0;
  auto release = [&](unsigned status) {
    final_status = status;
    gateway.release(route.name, ticket, status);
    record(route.name, method, status, std::chrono::duration<double>(Clock::now() - started).count());
  };

  beast::error_code ec;
  auto upstream = co_await worker_.pool().acquire(admission.host, admission.port, admission.deadline, ec);
  if (ec) {
    release(ec == beast::error::timeout ? 504 : 502);
    bool timeout = ec == beast::error::timeout;
    co_return co_await error(final_status, timeout ? "upstream_timeout" : "upstream_unreachable",
                             "replica " + admission.replica + " at " + admission.host + ":" +
                                 std::to_string(admission.port) + ": " + ec.message(),
                             keep_alive && header_parser.is_done(), version);
  }
  upstream.expires_at(admission.deadline);

  // Request: rewrite the header, then stream the body through a fixed buffer.
  http::request_parser<http::buffer_body> request_parser(std::move(header_parser));
  auto& request = request_parser.get();
  const bool expects_continue = beast::iequals(request[http::field::expect], "100-continue");
  const bool request_chunked = request.chunked();
  const auto request_length = request_parser.content_length();
  strip_hop_by_hop(request);
  request.erase(http::field::expect);
  restore_framing(request, request_chunked, request_length, true);
  add_forwarded(request, remote_ip_, "http");
  request.set(http::field::host, admission.host + ":" + std::to_string(admission.port));
  request.target(route.path + route.query);
  request.keep_alive(true);

  if (expects_continue && !request_parser.is_done()) {
    http::response<http::empty_body> go_on{http::status::continue_, version};
    stream_.expires_after(limits.read_timeout);
    co_await http::async_write(stream_, go_on, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      release(499);
      co_return false;
    }
  }

  bool upstream_reusable = true;
  bool request_failed = false;
  std::string failure;
  {
    http::request_serializer<http::buffer_body> serializer{request};
    char* chunk = chunk_.get();
    do {
      if (!request_parser.is_done()) {
        request.body().data = chunk;
        request.body().size = chunk_size;
        stream_.expires_after(limits.read_timeout);
        co_await http::async_read(stream_, buffer_, request_parser, asio::redirect_error(asio::use_awaitable, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
          request_failed = true;
          failure = ec == http::error::body_limit ? "body_limit" : "client";
          break;
        }
        request.body().size = chunk_size - request.body().size;
        request.body().data = chunk;
        request.body().more = !request_parser.is_done();
      } else {
        request.body().data = nullptr;
        request.body().size = 0;
        request.body().more = false;
      }
      co_await http::async_write(upstream, serializer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        request_failed = true;
        failure = "upstream";
        break;
      }
    } while (!request_parser.is_done() || !serializer.is_done());
  }
  if (request_failed) {
    beast::error_code ignored;
    upstream.socket().close(ignored);
    if (failure == "body_limit") {
      release(413);
      co_return co_await error(413, "payload_too_large",
                               "request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes", false,
                               version);
    }
    if (failure == "client") {
      release(499);
      co_return false;
    }
    bool timeout = ec == beast::error::timeout;
    release(timeout ? 504 : 502);
    co_return co_await error(final_status, timeout ? "upstream_timeout" : "upstream_error",
                             "sending the request to replica " + admission.replica + ": " + ec.message(), false,
                             version);
  }

  // Response header: watch the client meanwhile, so a caller that leaves
  // cancels the upstream call and frees its slot at once.
  beast::flat_buffer upstream_buffer;
  std::optional<http::response_parser<http::buffer_body>> response_parser;
  watch_client([&upstream, &client_gone] {
    client_gone = true;
    beast::error_code ignored;
    upstream.socket().cancel(ignored);
  });
  for (;;) {
    response_parser.emplace();
    // Not boost::none: Beast 1.74 compares Content-Length against an empty
    // optional as "greater" and refuses every sized body.
    response_parser->body_limit(std::numeric_limits<std::uint64_t>::max());
    if (method == http::verb::head) response_parser->skip(true);
    co_await http::async_read_header(upstream, upstream_buffer, *response_parser,
                                     asio::redirect_error(asio::use_awaitable, ec));
    // An interim 100 Continue from the replica is ours to swallow.
    if (ec || response_parser->get().result() != http::status::continue_) break;
  }
  stop_watching();
  if (client_gone) {
    beast::error_code ignored;
    upstream.socket().close(ignored);
    release(499);
    spdlog::debug("function {}: client {} went away, upstream call cancelled", route.name, remote_ip_);
    co_return false;
  }
  if (ec) {
    beast::error_code ignored;
    upstream.socket().close(ignored);
    bool timeout = ec == beast::error::timeout;
    release(timeout ? 504 : 502);
    if (timeout) {
      co_return co_await error(504, "upstream_timeout",
                               "function " + route.name + " did not answer within its DefaultSync.HttpTimeout",
                               keep_alive, version);
    }
    co_return co_await error(502, "upstream_error",
                             "reading the response of replica " + admission.replica + ": " + ec.message(), keep_alive,
                             version);
  }

  // Response: same relay in the other direction.
  auto& response = response_parser->get();
  const bool response_chunked = response.chunked();
  const auto response_length = response_parser->content_length();
  const bool upstream_keep_alive = response.keep_alive();
  const bool body_until_close = !response_chunked && !response_length && !response_parser->is_done();
  strip_hop_by_hop(response);
  if (body_until_close && version < 11) keep_alive = false;
  restore_framing(response, response_chunked || body_until_close, response_length, version >= 11);
  if (!origin_.empty() && response.find(http::field::access_control_allow_origin) == response.end()) {
    response.set(http::field::access_control_allow_origin, server.options_.cors_allow_origin);
  }
  response.keep_alive(keep_alive);
  const unsigned status = response.result_int();
  bool upstream_failed = false;
  bool client_failed = false;
  {
    http::response_serializer<http::buffer_body> serializer{response};
    char* chunk = chunk_.get();
    do {
      if (!response_parser->is_done()) {
        response.body().data = chunk;
        response.body().size = chunk_size;
        co_await http::async_read(upstream, upstream_buffer, *response_parser,
                                  asio::redirect_error(asio::use_awaitable, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
          upstream_failed = true;
          break;
        }
        response.body().size = chunk_size - response.body().size;
        response.body().data = chunk;
        response.body().more = !response_parser->is_done();
      } else {
        response.body().data = nullptr;
        response.body().size = 0;
        response.body().more = false;
      }
      stream_.expires_after(limits.read_timeout);
      if (method == http::verb::head) {
        co_await http::async_write_header(stream_, serializer, asio::redirect_error(asio::use_awaitable, ec));
        if (ec) client_failed = true;
        break;
      }
      co_await http::async_write(stream_, serializer, asio::redirect_error(asio::use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        client_failed = true;
        break;
      }
    } while (!response_parser->is_done() || !serializer.is_done());
  }
  if (upstream_failed) {
    spdlog::warn("function {}: replica {} broke off its response: {}", route.name, admission.replica, ec.message());
  }
  release(client_failed ? 499 : upstream_failed ? 502 : status);
  const bool response_failed = upstream_failed || client_failed;
  if (!response_failed && upstream_keep_alive && upstream_reusable && response_parser->is_done() &&
      upstream_buffer.size() == 0) {
    worker_.pool().release(admission.host, admission.port, std::move(upstream));
  } else {
    beast::error_code ignored;
    upstream.socket().close(ignored);
  }
  co_return keep_alive && !response_failed;
}

asio::awaitable<bool> Session::api(HeaderParser& header_parser, const Route& route) {
  auto& server = worker_.server();
  const unsigned version = header_parser.get().version();
  bool keep_alive = header_parser.get().keep_alive() && !server.shutting_down();
  http::request_parser<http::string_body> parser(std::move(header_parser));
  parser.body_limit(server.options_.limits.max_api_body_bytes);
  beast::error_code ec;
  if (!parser.is_done()) {
    stream_.expires_after(server.options_.limits.read_timeout);
    co_await http::async_read(stream_, buffer_, parser, asio::redirect_error(asio::use_awaitable, ec));
    if (ec == http::error::body_limit) {
      co_return co_await error(413, "payload_too_large",
                               "body exceeds " + std::to_string(server.options_.limits.max_api_body_bytes) + " bytes",
                               false, version);
    }
    if (ec) co_return false;
  }
  auto& request = parser.get();
  ApiRequest api_request{route, std::string(request.method_string()), std::string(request.target()),
                         std::move(request.body()), remote_ip_};
  ApiResponse response = co_await async_api(server.gateway_, std::move(api_request), stream_.get_executor(),
                                            asio::use_awaitable);
  co_await write(Reply{response.status, std::move(response.body), std::move(response.content_type),
                       std::move(response.headers)},
                 keep_alive, version);
  co_return keep_alive;
}

}  // namespace slimfaas::net
