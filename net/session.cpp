#include "net/session.hpp"

#include <sys/socket.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/buffer_body.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/write.hpp>
#include <algorithm>
#include <array>
#include <limits>
#include <optional>
#include <spdlog/spdlog.h>

#include "net/beast_http_parser.hpp"
#include "net/forwarding.hpp"
#include "net/http_error.hpp"
#include "net/http_head.hpp"
#include "net/http_server.hpp"
#include "net/worker.hpp"

namespace slimfaas::net {
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using asio::redirect_error;
using asio::use_awaitable;

namespace {

constexpr std::size_t chunk_size = relay_chunk_size;
// Read buffers start with room for a typical header and small body, so those
// arrive in one read; a connection between requests keeps no more than this.
constexpr std::size_t idle_buffer_limit = 8 * 1024;

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

// A pooled connection the replica closed just before we reused it.
bool stale_connection(const beast::error_code& ec) {
  return ec == http::error::end_of_stream || ec == asio::error::eof || ec == asio::error::connection_reset ||
         ec == asio::error::broken_pipe;
}

}  // namespace

Session::Session(Worker& worker, tcp::socket socket)
    : worker_(worker), socket_(std::move(socket)) {
  beast::error_code ec;
  auto endpoint = socket_.remote_endpoint(ec);
  if (!ec) remote_ip_ = endpoint.address().to_string();
  socket_.set_option(tcp::no_delay(true), ec);
  buffer_.reserve(idle_buffer_limit);
  worker_.add(this);
  worker_.server().connection_opened();
}

Session::~Session() {
  worker_.remove(this);
  worker_.server().connection_closed();
}

void Session::launch(Worker& worker, tcp::socket socket) {
  auto session = std::make_shared<Session>(worker, std::move(socket));
  asio::co_spawn(worker.context(), [session]() { return session->run(); }, asio::detached);
}

void Session::close_if_idle() {
  if (phase_ != Phase::idle) return;
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_both, ec);
  socket_.close(ec);
}

bool Session::client_closed() {
  char byte;
  ssize_t n = ::recv(socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  // n > 0: the client pipelined its next request; it is still there.
  return n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK);
}

void Session::sweep(Clock::time_point now) {
  beast::error_code ignored;
  if (now >= deadline_) {
    timed_out_ = true;
    deadline_ = Clock::time_point::max();
    socket_.cancel(ignored);
    if (upstream_) upstream_->cancel(ignored);
    return;
  }
  if (phase_ == Phase::awaiting_upstream && upstream_ && !client_gone_ && client_closed()) {
    client_gone_ = true;
    upstream_->cancel(ignored);
  }
}

asio::awaitable<void> Session::run() {
  auto self = shared_from_this();
  auto& server = worker_.server();
  const auto& limits = server.options().limits;
  for (;;) {
    HeaderParser parser;
    parser.header_limit(static_cast<std::uint32_t>(limits.max_header_bytes));
    parser.body_limit(limits.max_body_bytes);
    phase_ = Phase::idle;
    if (server.shutting_down()) break;
    expect_by(Clock::now() + limits.idle_timeout);
    beast::error_code ec;
    // Beast 1.74 checks its header limit per read, not across reads: a
    // header of many lines arriving in pieces would pass. Count it here.
    std::size_t header_bytes = 0;
    while (!ec && !parser.is_header_done()) {
      header_bytes += co_await http::async_read_some(socket_, buffer_, parser, redirect_error(use_awaitable, ec));
      if (!ec && header_bytes > limits.max_header_bytes) ec = http::error::header_limit;
    }
    phase_ = Phase::busy;
    if (ec) {
      if (ec == http::error::header_limit) {
        co_await error(431, "request_header_fields_too_large",
                       "request headers exceed " + std::to_string(limits.max_header_bytes) + " bytes", false, 11);
      } else if (ec == http::error::body_limit) {
        co_await error(413, "payload_too_large",
                       "request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes", false, 11);
      } else if (ec.category() == beast::error_code(http::error::bad_method).category() &&
                 ec != http::error::end_of_stream && ec != http::error::partial_message) {
        co_await error(400, "bad_request", "malformed HTTP request: " + ec.message(), false, 11);
      }
      break;  // disconnect, idle timeout or shutdown
    }
    bool keep_alive = false;
    try {
      keep_alive = co_await serve(parser);
    } catch (const std::exception& e) {
      spdlog::error("connection from {}: unexpected error: {}", remote_ip_, e.what());
    }
    if (!keep_alive) break;
  }
  beast::error_code ec;
  socket_.shutdown(tcp::socket::shutdown_send, ec);
  if (linger_ && !ec) co_await linger();
  socket_.close(ec);
}

// After an error answered before the request was read to its end, closing
// at once would make the kernel reset the connection over the unread bytes,
// and the client could lose the answer. Read and discard what is still
// coming, for a bounded time and amount, until the client closes.
asio::awaitable<void> Session::linger() {
  constexpr std::size_t max_discard = 1 << 20;
  char sink[4096];
  std::size_t discarded = 0;
  phase_ = Phase::busy;
  expect_by(Clock::now() + std::chrono::seconds(2));
  beast::error_code ec;
  while (!ec && discarded < max_discard) {
    discarded += co_await socket_.async_read_some(asio::buffer(sink), redirect_error(use_awaitable, ec));
  }
}

asio::awaitable<bool> Session::serve(HeaderParser& parser) {
  auto& request = parser.get();
  const bool keep_alive = request.keep_alive() && !worker_.server().shutting_down();
  auto origin = request.find(http::field::origin);
  origin_ = origin == request.end() ? std::string{} : std::string(origin->value());
  Route route = route_target(request.target());
  // An answer given before the request body was read ends the connection:
  // the unread body would otherwise be taken for the next request.
  const bool can_continue = keep_alive && parser.is_done();

  switch (route.kind) {
    case RouteKind::function_sync:
      co_return co_await proxy(parser, route);
    case RouteKind::bad_request:
      co_return co_await error(400, "bad_request", route.error, can_continue, request.version());
    case RouteKind::not_found:
      co_return co_await error(404, "not_found", "no route for " + std::string(request.target()), can_continue,
                               request.version());
    case RouteKind::health:
      if (worker_.server().shutting_down()) {
        co_return co_await error(503, "shutting_down", "the node is draining", false, request.version());
      }
      co_await write(Reply{200, R"({"status":"ok"})"}, can_continue, request.version());
      co_return can_continue;
    default:
      co_return co_await api(parser, route);
  }
}

asio::awaitable<bool> Session::error(unsigned status, std::string_view error, std::string_view detail,
                                     bool keep_alive, unsigned version, int retry_after) {
  Reply reply{status, error_body(error, detail)};
  if (!keep_alive) linger_ = true;
  if (retry_after > 0) reply.headers.emplace_back("Retry-After", std::to_string(retry_after));
  co_await write(std::move(reply), keep_alive, version);
  co_return keep_alive;
}

asio::awaitable<void> Session::write(Reply reply, bool keep_alive, unsigned version) {
  // Every async call's 202 and every API answer: a flat head and the body in
  // one writev (net/http_head), not beast's serializer. A header named like
  // one set before it replaces it (beast's set()).
  HeaderList headers;
  headers.reserve(reply.headers.size() + 3);
  auto set = [&headers](std::string name, std::string value) {
    auto same = std::find_if(headers.begin(), headers.end(), [&](const auto& h) { return beast::iequals(h.first, name); });
    if (same != headers.end()) same->second = std::move(value);
    else headers.emplace_back(std::move(name), std::move(value));
  };
  set("Server", "slimfaas");
  set("Content-Type", std::move(reply.content_type));
  for (auto& [name, value] : reply.headers) set(std::move(name), std::move(value));
  if (!origin_.empty()) set("Access-Control-Allow-Origin", worker_.server().options().cors_allow_origin);
  if (!status_has_body(reply.status)) reply.body.clear();
  const std::string head = response_head(reply.status, version, headers, keep_alive, reply.body.size());
  const std::array<asio::const_buffer, 2> message{asio::buffer(head), asio::buffer(reply.body)};
  expect_by(Clock::now() + worker_.server().options().limits.read_timeout);
  beast::error_code ec;
  co_await asio::async_write(socket_, message, redirect_error(use_awaitable, ec));
}

void Session::watch_client(std::function<void()> on_gone) {
  watching_ = true;
  const std::uint64_t generation = ++watch_generation_;
  auto self = shared_from_this();
  socket_.async_wait(tcp::socket::wait_read, [self, generation, on_gone = std::move(on_gone)](beast::error_code ec) {
    // A completion queued before stop_watching() must not act on a later phase.
    if (ec || !self->watching_ || self->watch_generation_ != generation) return;
    self->watching_ = false;
    if (self->client_closed()) on_gone();
  });
}

void Session::stop_watching() {
  if (!watching_) return;
  watching_ = false;
  beast::error_code ec;
  socket_.cancel(ec);
}

void Session::record(const std::string& function, http::verb method, unsigned status, double seconds) {
  auto& m = worker_.server().ingress_metrics();
  m.requests.with({function, std::string(http::to_string(method)), std::to_string(status)}).inc();
  m.duration.with({function}, metrics::latency_buckets()).observe(seconds);
}

// Most calls find a free slot and are admitted on the spot. The others wait
// for the function's actor; meanwhile a caller that hangs up withdraws.
asio::awaitable<Admission> Session::admit(const std::string& function) {
  Gateway& gateway = worker_.server().gateway();
  if (auto now = gateway.try_acquire_now(function)) co_return std::move(*now);
  std::uint64_t ticket = 0;
  auto waiting = async_acquire(gateway, function, socket_.get_executor(), ticket, use_awaitable);
  watch_client([this, &gateway, &function, &ticket] {
    client_gone_ = true;
    gateway.cancel(function, ticket);
  });
  Admission admission = co_await std::move(waiting);
  stop_watching();
  co_return admission;
}

asio::awaitable<bool> Session::proxy(HeaderParser& header_parser, const Route& route) {
  auto& server = worker_.server();
  const auto& limits = server.options().limits;
  const auto started = Clock::now();
  const auto method = header_parser.get().method();
  const unsigned version = header_parser.get().version();
  bool keep_alive = header_parser.get().keep_alive() && !server.shutting_down();
  client_gone_ = false;
  auto elapsed = [&] { return std::chrono::duration<double>(Clock::now() - started).count(); };

  // Admission: the function's owner decides when and where this call runs.
  expect_by(Clock::time_point::max());
  Admission admission = co_await admit(route.name);
  if (client_gone_) {
    admission.slot.reset();
    record(route.name, method, 499, elapsed());
    co_return false;
  }
  if (admission.result != AdmissionResult::granted) {
    unsigned status = admission_status(admission.result);
    record(route.name, method, status, elapsed());
    co_return co_await error(status, admission_error_name(admission.result), admission.detail,
                             keep_alive && header_parser.is_done(), version,
                             status == 429 ? admission.retry_after_seconds : 0);
  }
  const std::string replica_text =
      "replica " + admission.replica + " (" + admission.host + ":" + std::to_string(admission.port) + ")";

  // Beast reads as much as the buffer's free capacity: large bodies move in
  // 64 KiB reads, not 512-byte ones. Buffers go back after the call.
  struct ChunkLease {
    Worker& worker;
    std::unique_ptr<char[]> chunk;
    ~ChunkLease() { worker.give_chunk(std::move(chunk)); }
  } chunk_lease{worker_, worker_.take_chunk()};
  char* const chunk = chunk_lease.chunk.get();
  struct BufferTrim {
    beast::flat_buffer& buffer;
    ~BufferTrim() {
      if (buffer.size() == 0 && buffer.capacity() > idle_buffer_limit) buffer.shrink_to_fit();
    }
  } trim{buffer_};

  auto finish = [&](unsigned status) {
    admission.slot.reset();
    upstream_ = nullptr;
    record(route.name, method, status, elapsed());
  };

  // The request header as the replica sees it.
  http::request_parser<http::buffer_body> request_parser(std::move(header_parser));
  auto& request = request_parser.get();
  const bool expects_continue = beast::iequals(request[http::field::expect], "100-continue");
  const bool request_chunked = request.chunked();
  const auto request_length = request_parser.content_length();
  const bool bodyless = request_parser.is_done();
  // Small bodies arrive with the header; only a large one needs the room.
  if (!bodyless && (request_chunked || request_length.value_or(0) > buffer_.capacity() - buffer_.size())) {
    buffer_.reserve(chunk_size);
  }
  strip_hop_by_hop(request);
  request.erase(http::field::expect);
  restore_framing(request, request_chunked, request_length, true);
  add_forwarded(request, remote_ip_, "http");
  const bool ipv6_literal = admission.host.find(':') != std::string::npos;
  request.set(http::field::host, (ipv6_literal ? "[" + admission.host + "]" : admission.host) + ":" +
                                     std::to_string(admission.port));
  request.target(route.path + route.query);
  request.keep_alive(true);

  if (expects_continue && !bodyless) {
    http::response<http::empty_body> go_on{http::status::continue_, version};
    expect_by(std::min(admission.deadline, Clock::now() + limits.read_timeout));
    beast::error_code ec;
    co_await http::async_write(socket_, go_on, redirect_error(use_awaitable, ec));
    if (ec) {
      finish(499);
      co_return false;
    }
  }

  tcp::socket upstream(socket_.get_executor());
  upstream_ = &upstream;
  beast::flat_buffer upstream_buffer;
  upstream_buffer.reserve(idle_buffer_limit);
  std::optional<http::response_parser<http::buffer_body>> response_parser;
  beast::error_code ec;
  enum class Failure { none, client_read, body_limit, upstream_connect, upstream_io } failure = Failure::none;

  // Send the request and read the response header. A bodyless request that
  // met a pooled connection the replica had just closed is sent again once,
  // on a fresh connection: nothing of it can have been processed.
  for (int attempt = 0;; ++attempt) {
    failure = Failure::none;
    bool reused = worker_.pool().take(admission.host, admission.port, upstream);
    if (!reused) {
      expect_by(admission.deadline);
      co_await worker_.pool().connect(admission.host, admission.port, upstream, ec);
      if (ec) {
        failure = Failure::upstream_connect;
        break;
      }
    }
    {
      http::request_serializer<http::buffer_body> serializer{request};
      do {
        if (!request_parser.is_done()) {
          request.body().data = chunk;
          request.body().size = chunk_size;
          expect_by(std::min(admission.deadline, Clock::now() + limits.read_timeout));
          co_await http::async_read(socket_, buffer_, request_parser, redirect_error(use_awaitable, ec));
          if (ec == http::error::need_buffer) ec = {};
          if (ec) {
            failure = ec == http::error::body_limit ? Failure::body_limit : Failure::client_read;
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
        expect_by(admission.deadline);
        co_await http::async_write(upstream, serializer, redirect_error(use_awaitable, ec));
        if (ec == http::error::need_buffer) ec = {};
        if (ec) {
          failure = Failure::upstream_io;
          break;
        }
      } while (!request_parser.is_done() || !serializer.is_done());
    }
    if (failure == Failure::none) {
      // Waiting for the replica: the sweep enforces the deadline and notices
      // a caller that hangs up meanwhile.
      phase_ = Phase::awaiting_upstream;
      expect_by(admission.deadline);
      for (;;) {
        response_parser.emplace();
        // Not boost::none: Beast 1.74 compares Content-Length against an
        // empty optional as "greater" and refuses every sized body.
        response_parser->body_limit(std::numeric_limits<std::uint64_t>::max());
        // Functions are trusted more than callers; Beast's default is 8 KiB.
        response_parser->header_limit(64 * 1024);
        if (method == http::verb::head) response_parser->skip(true);
        co_await http::async_read_header(upstream, upstream_buffer, *response_parser, redirect_error(use_awaitable, ec));
        // An interim 100 Continue from the replica is ours to swallow.
        if (ec || response_parser->get().result() != http::status::continue_) break;
      }
      phase_ = Phase::busy;
      if (ec) failure = Failure::upstream_io;
    }
    if (failure == Failure::upstream_io && reused && bodyless && attempt == 0 && !timed_out_ && !client_gone_ &&
        stale_connection(ec) && upstream_buffer.size() == 0) {
      beast::error_code ignored;
      upstream.close(ignored);
      upstream = tcp::socket(socket_.get_executor());
      continue;
    }
    break;
  }

  if (failure != Failure::none) {
    beast::error_code ignored;
    upstream.close(ignored);
    if (client_gone_ || failure == Failure::client_read) {
      finish(499);
      spdlog::debug("function {}: client {} went away; upstream call cancelled", route.name, remote_ip_);
      co_return false;
    }
    if (failure == Failure::body_limit) {
      finish(413);
      co_return co_await error(413, "payload_too_large",
                               "request body exceeds " + std::to_string(limits.max_body_bytes) + " bytes", false,
                               version);
    }
    if (timed_out_) {
      finish(504);
      co_return co_await error(504, "upstream_timeout",
                               "function " + route.name + " did not answer within its DefaultSync.HttpTimeout", false,
                               version);
    }
    finish(502);
    const char* what = failure == Failure::upstream_connect ? "connecting to " : "exchanging with ";
    spdlog::warn("function {}: {}{} failed: {}", route.name, what, replica_text, ec.message());
    co_return co_await error(502, failure == Failure::upstream_connect ? "upstream_unreachable" : "upstream_error",
                             std::string(what) + replica_text + ": " + ec.message(), false, version);
  }

  // The response, streamed back through the same fixed buffer. From here on
  // each read or write must progress within the read timeout.
  auto& response = response_parser->get();
  const bool response_chunked = response.chunked();
  const auto response_length = response_parser->content_length();
  const bool upstream_keep_alive = response.keep_alive();
  const bool body_until_close = !response_chunked && !response_length && !response_parser->is_done();
  strip_hop_by_hop(response);
  if (body_until_close && version < 11) keep_alive = false;
  restore_framing(response, response_chunked || body_until_close, response_length, version >= 11);
  if (!origin_.empty() && response.find(http::field::access_control_allow_origin) == response.end()) {
    response.set(http::field::access_control_allow_origin, server.options().cors_allow_origin);
  }
  response.keep_alive(keep_alive);
  const unsigned status = response.result_int();
  bool upstream_failed = false;
  bool client_failed = false;
  {
    http::response_serializer<http::buffer_body> serializer{response};
    if (!response_parser->is_done() &&
        (response_chunked || body_until_close ||
         response_length.value_or(0) > upstream_buffer.capacity() - upstream_buffer.size())) {
      upstream_buffer.reserve(chunk_size);
    }
    do {
      if (!response_parser->is_done()) {
        response.body().data = chunk;
        response.body().size = chunk_size;
        expect_by(Clock::now() + limits.read_timeout);
        co_await http::async_read(upstream, upstream_buffer, *response_parser, redirect_error(use_awaitable, ec));
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
      expect_by(Clock::now() + limits.read_timeout);
      if (method == http::verb::head) {
        co_await http::async_write_header(socket_, serializer, redirect_error(use_awaitable, ec));
        if (ec) client_failed = true;
        break;
      }
      co_await http::async_write(socket_, serializer, redirect_error(use_awaitable, ec));
      if (ec == http::error::need_buffer) ec = {};
      if (ec) {
        client_failed = true;
        break;
      }
    } while (!response_parser->is_done() || !serializer.is_done());
  }
  if (upstream_failed) {
    spdlog::warn("function {}: {} broke off its response: {}", route.name, replica_text, ec.message());
  }
  const bool reusable = !upstream_failed && !client_failed && upstream_keep_alive && response_parser->is_done() &&
                        upstream_buffer.size() == 0;
  upstream_ = nullptr;
  if (reusable) {
    worker_.pool().give_back(admission.host, admission.port, std::move(upstream), admission.replica_parallel);
  } else {
    beast::error_code ignored;
    upstream.close(ignored);
  }
  finish(client_failed ? 499 : upstream_failed ? 502 : status);
  co_return keep_alive && !upstream_failed && !client_failed;
}

asio::awaitable<bool> Session::api(HeaderParser& header_parser, const Route& route) {
  auto& server = worker_.server();
  const auto& limits = server.options().limits;
  const unsigned version = header_parser.get().version();
  const bool keep_alive = header_parser.get().keep_alive() && !server.shutting_down();
  http::request_parser<http::string_body> parser(std::move(header_parser));
  // An async call's body is queued whole in SlimData: it has its own limit.
  const bool async_call = route.kind == RouteKind::function_async;
  const std::uint64_t body_limit = async_call ? limits.max_async_body_bytes : limits.max_api_body_bytes;
  parser.body_limit(body_limit);
  beast::error_code ec;
  // Beast checks body_limit against Content-Length only while it parses the
  // header, which the header parser did under the proxy's limit: check the
  // declared length here (chunked bodies are counted as they arrive).
  if (auto declared = parser.content_length(); declared && *declared > body_limit) {
    co_return co_await error(413, "payload_too_large",
                             "body of " + std::to_string(*declared) + " bytes exceeds " + std::to_string(body_limit) +
                                 " bytes" + (async_call ? " (SlimFaas__MaxAsyncBodyBytes)" : " (SlimFaas__MaxApiBodyBytes)"),
                             false, version);
  }
  if (!parser.is_done()) {
    expect_by(Clock::now() + limits.read_timeout);
    co_await http::async_read(socket_, buffer_, parser, redirect_error(use_awaitable, ec));
    if (ec == http::error::body_limit) {
      co_return co_await error(413, "payload_too_large",
                               "body exceeds " + std::to_string(body_limit) + " bytes" +
                                   (async_call ? " (SlimFaas__MaxAsyncBodyBytes)" : ""),
                               false, version);
    }
    if (ec) co_return false;
  }
  auto& request = parser.get();
  ApiRequest api_request{route, std::string(request.method_string()), std::string(request.target()),
                         std::move(request.body()), remote_ip_, {}};
  if (async_call) {
    // What the function will see when the call is delivered: the
    // end-to-end headers, X-Forwarded-* added; Host and Content-Length are
    // set again by whoever sends it.
    strip_hop_by_hop(request);
    add_forwarded(request, remote_ip_, "http");
    request.erase(http::field::host);
    request.erase(http::field::content_length);
    for (const auto& field : request) api_request.headers.emplace_back(field.name_string(), field.value());
  }
  expect_by(Clock::time_point::max());
  ApiResponse response =
      co_await async_api(server.gateway(), std::move(api_request), socket_.get_executor(), use_awaitable);
  co_await write(Reply{response.status, std::move(response.body), std::move(response.content_type),
                       std::move(response.headers)},
                 keep_alive, version);
  co_return keep_alive;
}

}  // namespace slimfaas::net
