#include "common/http_function.hpp"

#include <boost/asio/dispatch.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/signal_set.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/strand.hpp>
#include <boost/asio/write.hpp>
#include <boost/beast/core/bind_handler.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/core/string.hpp>
#include <boost/beast/http/chunk_encode.hpp>
#include <boost/beast/http/error.hpp>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/serializer.hpp>
#include <boost/beast/http/write.hpp>

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <charconv>
#include <cstdlib>
#include <exception>
#include <iostream>
#include <thread>
#include <utility>
#include <vector>

namespace slimfaas::functions {

namespace net = boost::asio;
namespace beast = boost::beast;
using tcp = net::ip::tcp;

namespace {

// Echo must round-trip bodies of at least 1 GiB; anything larger is refused
// with 413 rather than letting one request exhaust memory.
constexpr std::uint64_t kBodyLimit = std::uint64_t{1} << 30;
// Beast's 8 KiB default rejects requests with large cookies or tracing
// headers that real proxies forward.
constexpr std::uint32_t kHeaderLimit = 64 * 1024;
// Only the wait for a request header is timed: pooled upstream connections
// legitimately idle for minutes, and a deadline covering body transfer or
// response writes would cut off large uploads on slow links.
constexpr std::chrono::seconds kIdleTimeout{300};
using Clock = std::chrono::steady_clock;

[[noreturn]] void usage_and_exit(std::string_view program, int code, std::string_view error = {}) {
  auto& out = code == 0 ? std::cout : std::cerr;
  if (!error.empty()) out << program << ": " << error << "\n";
  out << "usage: " << program << " [PORT] [--port N] [--host ADDR] [--threads N]\n"
      << "  port precedence: --port, first positional number, $PORT, 8080\n"
      << "  --host     address to bind (default 127.0.0.1)\n"
      << "  --threads  io threads (default: hardware concurrency)\n";
  std::exit(code);
}

std::uint16_t parse_port(std::string_view program, std::string_view text, std::string_view source) {
  auto value = parse_u64(text);
  if (!value || *value > 65535) usage_and_exit(program, 2, std::string("invalid port from ") + std::string(source) + ": '" + std::string(text) + "'");
  return static_cast<std::uint16_t>(*value);
}

bool is_http_parse_error(const beast::error_code& ec) {
  return ec.category() == http::make_error_code(http::error::bad_target).category();
}

}  // namespace

// ---- session ----------------------------------------------------------------

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(tcp::socket&& socket, const Handler& handler, std::uint64_t number)
      : number_(number),
        socket_(std::move(socket)),
        handler_(handler),
        idle_timer_(socket_.get_executor()),
        timer_(socket_.get_executor()) {}

  void start() {
    // The socket was accepted on the listener's strand; hop onto our own
    // before touching any state.
    net::dispatch(socket_.get_executor(), [self = shared_from_this()] {
      self->read_header();
      self->arm_idle_timer(kIdleTimeout);
    });
  }

 private:
  friend class Exchange;

  void read_header() {
    parser_.emplace();
    parser_->header_limit(kHeaderLimit);
    parser_->body_limit(kBodyLimit);
    awaiting_header_ = true;
    header_wait_started_ = Clock::now();
    http::async_read_header(socket_, buffer_, *parser_,
                            beast::bind_front_handler(&Session::on_header, shared_from_this()));
  }

  void on_header(beast::error_code ec, std::size_t) {
    if (ec) return on_read_error(ec);
    awaiting_header_ = false;
    // Small requests usually arrive whole with the header; skipping the body
    // read then saves a trip through the scheduler on the hot path.
    if (parser_->is_done()) return dispatch_request();
    const auto& header = parser_->get();
    if (header.version() >= 11 && beast::iequals(header[http::field::expect], "100-continue")) {
      // Without this, curl and others stall for a second before uploading.
      interim_ = ResponseHeader{http::status::continue_, header.version()};
      http::async_write(socket_, interim_, [self = shared_from_this()](beast::error_code wec, std::size_t) {
        if (wec) return self->close();
        self->read_body();
      });
      return;
    }
    if (parse_buffered_body()) return;
    read_body();
  }

  // A body that arrived in the same segments as the header is parsed in place,
  // so a typical small POST is answered without another trip through the
  // scheduler. Returns true once it has taken the next step itself.
  bool parse_buffered_body() {
    parser_->eager(true);
    while (buffer_.size() > 0 && !parser_->is_done()) {
      beast::error_code ec;
      const auto used = parser_->put(buffer_.data(), ec);
      buffer_.consume(used);
      if (ec == http::error::need_more) break;
      if (ec) {
        on_read_error(ec);
        return true;
      }
      if (used == 0) break;
    }
    if (!parser_->is_done()) return false;
    dispatch_request();
    return true;
  }

  // One timer per connection that fires once per idle period, rather than a
  // deadline armed on every read: re-arming a timer per request costs the
  // keep-alive hot path several percent of throughput.
  void arm_idle_timer(Clock::duration delay) {
    idle_timer_.expires_after(delay);
    idle_timer_.async_wait([weak = weak_from_this()](beast::error_code ec) {
      auto self = weak.lock();
      if (ec || !self || self->closed_) return;
      if (!self->awaiting_header_) return self->arm_idle_timer(kIdleTimeout);
      const auto deadline = self->header_wait_started_ + kIdleTimeout;
      if (Clock::now() >= deadline) return self->close();
      self->arm_idle_timer(deadline - Clock::now());
    });
  }

  void read_body() {
    // Beast reads as much as the buffer's free capacity: without room, a
    // large body arrives 512 bytes per system call.
    if (buffer_.capacity() - buffer_.size() < 64 * 1024) buffer_.reserve(buffer_.size() + 64 * 1024);
    http::async_read(socket_, buffer_, *parser_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->on_read_error(ec);
      self->dispatch_request();
    });
  }

  void on_read_error(const beast::error_code& ec) {
    if (ec == http::error::end_of_stream) return shutdown();
    if (ec == http::error::body_limit) return send_error(http::status::payload_too_large, "body too large");
    if (ec == http::error::header_limit)
      return send_error(http::status::request_header_fields_too_large, "headers too large");
    if (is_http_parse_error(ec) && ec != http::error::partial_message)
      return send_error(http::status::bad_request, "malformed request");
    close();  // reset, idle close, or the peer vanished mid-message
  }

  void dispatch_request() {
    request_ = parser_->release();
    keep_alive_ = request_.keep_alive();
    head_ = request_.method() == http::verb::head;
    responded_ = false;
    const std::string_view target = request_.target();
    const auto q = target.find('?');
    path_ = target.substr(0, q);
    query_ = q == std::string_view::npos ? std::string_view{} : target.substr(q + 1);
    invoke([&] { handler_(Exchange{shared_from_this()}); });
  }

  // A throwing or forgetful handler must not leave the client hanging on a
  // keep-alive connection that will never answer.
  template <class F>
  void invoke(F&& f) {
    std::string failure;
    try {
      f();
    } catch (const std::exception& e) {
      failure = e.what();
    } catch (...) {
      failure = "unknown exception";
    }
    if (responded_ || waiting_ || closed_) return;
    if (failure.empty()) failure = "handler produced no response";
    // A bug in the function, not a per-request event, so it is worth a line.
    std::cerr << "handler error: " << failure << "\n";
    keep_alive_ = false;
    respond(json_response(http::status::internal_server_error,
                          R"({"error":"internal error"})"));
  }

  void respond(Response&& response) {
    response_ = std::move(response);
    response_.version(request_.version());
    response_.keep_alive(keep_alive_);
    // Throws on a body for 1xx/204/304; responded_ stays false so invoke()
    // can still answer with a 500.
    response_.prepare_payload();
    // Beast 1.74 still stamps "Content-Length: 0" on these; RFC 9110 forbids
    // it for 204, and on 304 it would misdescribe the cached representation.
    if (const auto result = response_.result();
        result == http::status::no_content || result == http::status::not_modified)
      response_.erase(http::field::content_length);
    responded_ = true;
    if (head_) {
      // HEAD gets the headers a GET would, Content-Length included, and no body.
      head_serializer_.emplace(response_);
      http::async_write_header(socket_, *head_serializer_,
                               beast::bind_front_handler(&Session::on_response_written, shared_from_this()));
      return;
    }
    http::async_write(socket_, response_,
                      beast::bind_front_handler(&Session::on_response_written, shared_from_this()));
  }

  void respond_streamed(ResponseHeader&& header, Exchange::ChunkSource next) {
    responded_ = true;
    stream_header_ = std::move(header);
    stream_header_.version(request_.version());
    chunked_ = stream_header_.chunked();
    if (chunked_ && request_.version() < 11) {
      // HTTP/1.0 has no chunked coding: delimit the body by closing instead.
      stream_header_.chunked(false);
      chunked_ = false;
      keep_alive_ = false;
    }
    stream_header_.keep_alive(keep_alive_);
    chunks_ = std::move(next);
    stream_serializer_.emplace(stream_header_);
    http::async_write_header(socket_, *stream_serializer_,
                             [self = shared_from_this()](beast::error_code ec, std::size_t) {
                               if (ec) return self->close();
                               if (self->head_) return self->on_response_written({}, 0);
                               self->write_next_chunk();
                             });
  }

  void write_next_chunk() {
    const std::string_view piece = chunks_();
    if (piece.empty()) {
      if (!chunked_) return on_response_written({}, 0);
      net::async_write(socket_, http::make_chunk_last(),
                       beast::bind_front_handler(&Session::on_response_written, shared_from_this()));
      return;
    }
    auto next = [self = shared_from_this()](beast::error_code ec, std::size_t) {
      if (ec) return self->close();
      self->write_next_chunk();
    };
    if (chunked_)
      net::async_write(socket_, http::make_chunk(net::buffer(piece.data(), piece.size())), std::move(next));
    else
      net::async_write(socket_, net::buffer(piece.data(), piece.size()), std::move(next));
  }

  void on_response_written(beast::error_code ec, std::size_t) {
    // Release bodies now: an idle keep-alive connection should not pin the
    // memory of its last (possibly gigabyte-sized) exchange.
    response_ = Response{};
    request_ = Request{};
    head_serializer_.reset();
    stream_serializer_.reset();
    chunks_ = nullptr;
    if (ec) return close();
    if (!keep_alive_) return shutdown();
    read_header();
  }

  void send_error(http::status status, std::string_view message) {
    // The request could not be parsed, so neither its version nor its
    // framing can be trusted: answer as HTTP/1.1 and close.
    request_ = Request{};
    request_.version(11);
    keep_alive_ = false;
    head_ = false;
    std::string body = R"({"error":")";
    body.append(message).append("\"}");
    respond(json_response(status, std::move(body)));
  }

  void wait_then(std::chrono::milliseconds delay, Exchange::WaitCallback done) {
    waiting_ = true;
    ++wait_generation_;
    wait_done_ = std::move(done);
    timer_.expires_after(delay);
    timer_.async_wait([self = shared_from_this(), gen = wait_generation_](beast::error_code ec) {
      if (ec == net::error::operation_aborted || !self->waiting_ || gen != self->wait_generation_) return;
      self->finish_wait(Exchange::WaitOutcome::elapsed);
    });
    watch_for_hangup();
  }

  // Readability is the only signal an idle TCP peer gives when it closes, so
  // wait for it, then peek to tell a hang-up from bytes the client sent early.
  void watch_for_hangup() {
    socket_.async_wait(
        tcp::socket::wait_read, [self = shared_from_this(), gen = wait_generation_](beast::error_code ec) {
          if (ec == net::error::operation_aborted || !self->waiting_ || gen != self->wait_generation_) return;
          if (!ec) {
            char byte;
            const auto n = ::recv(self->socket_.native_handle(), &byte, 1, MSG_PEEK | MSG_DONTWAIT);
            // Pipelined data hides any later hang-up; let the timer decide.
            if (n > 0) return;
            if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
              return self->watch_for_hangup();
          }
          self->finish_wait(Exchange::WaitOutcome::client_closed);
        });
  }

  void finish_wait(Exchange::WaitOutcome outcome) {
    waiting_ = false;
    beast::error_code ignored;
    if (outcome == Exchange::WaitOutcome::elapsed)
      socket_.cancel(ignored);  // retire the hang-up watch
    else
      timer_.cancel();
    auto done = std::move(wait_done_);
    wait_done_ = nullptr;
    if (outcome == Exchange::WaitOutcome::client_closed) {
      // Mark closed first so invoke() does not try to answer a gone peer.
      closed_ = true;
      invoke([&] { done(Exchange{shared_from_this()}, outcome); });
      close();
      return;
    }
    invoke([&] { done(Exchange{shared_from_this()}, outcome); });
  }

  void shutdown() {
    closed_ = true;
    idle_timer_.cancel();
    beast::error_code ignored;
    socket_.shutdown(tcp::socket::shutdown_send, ignored);
  }

  void close() {
    closed_ = true;
    idle_timer_.cancel();
    beast::error_code ignored;
    socket_.close(ignored);
  }

  const std::uint64_t number_;  // in accept order
  tcp::socket socket_;
  beast::flat_buffer buffer_;
  const Handler& handler_;
  std::optional<http::request_parser<http::string_body>> parser_;
  net::steady_timer idle_timer_;
  bool awaiting_header_ = false;
  Clock::time_point header_wait_started_;

  Request request_;
  std::string_view path_;
  std::string_view query_;
  bool keep_alive_ = false;
  bool head_ = false;
  bool responded_ = false;
  bool closed_ = false;

  Response response_;
  std::optional<http::response_serializer<http::string_body>> head_serializer_;
  ResponseHeader interim_;

  ResponseHeader stream_header_;
  std::optional<http::response_serializer<http::empty_body>> stream_serializer_;
  Exchange::ChunkSource chunks_;
  bool chunked_ = false;

  net::steady_timer timer_;
  Exchange::WaitCallback wait_done_;
  bool waiting_ = false;
  // Guards against a stale completion from an earlier wait acting on a later one.
  std::uint64_t wait_generation_ = 0;
};

// ---- exchange ---------------------------------------------------------------

Exchange::Exchange(std::shared_ptr<Session> session) noexcept : session_(std::move(session)) {}

Request& Exchange::request() noexcept { return session_->request_; }
std::string_view Exchange::path() const noexcept { return session_->path_; }
std::string_view Exchange::query() const noexcept { return session_->query_; }
std::uint64_t Exchange::connection() const noexcept { return session_->number_; }

void Exchange::respond(Response&& response) { session_->respond(std::move(response)); }

void Exchange::respond_streamed(ResponseHeader&& header, ChunkSource next) {
  session_->respond_streamed(std::move(header), std::move(next));
}

void Exchange::wait_then(std::chrono::milliseconds delay, WaitCallback done) {
  session_->wait_then(delay, std::move(done));
}

// ---- listener -----------------------------------------------------------------

namespace {

class Listener : public std::enable_shared_from_this<Listener> {
 public:
  Listener(net::io_context& ioc, tcp::acceptor&& acceptor, const Handler& handler)
      : ioc_(ioc), acceptor_(std::move(acceptor)), handler_(handler), backoff_(acceptor_.get_executor()) {}

  void accept() {
    acceptor_.async_accept(net::make_strand(ioc_),
                           beast::bind_front_handler(&Listener::on_accept, shared_from_this()));
  }

 private:
  void on_accept(beast::error_code ec, tcp::socket socket) {
    if (ec == net::error::operation_aborted) return;
    if (ec) {
      // Typically EMFILE: retrying at once would spin, so back off briefly.
      std::cerr << "accept failed: " << ec.message() << "\n";
      backoff_.expires_after(std::chrono::milliseconds(50));
      backoff_.async_wait([self = shared_from_this()](beast::error_code wec) {
        if (!wec) self->accept();
      });
      return;
    }
    // Responses go out in one gather write, but a proxy pipelining small
    // requests should never wait on Nagle + delayed ACK.
    beast::error_code ignored;
    socket.set_option(tcp::no_delay(true), ignored);
    std::make_shared<Session>(std::move(socket), handler_, ++accepted_)->start();
    accept();
  }

  net::io_context& ioc_;
  tcp::acceptor acceptor_;
  const Handler& handler_;
  std::uint64_t accepted_ = 0;  // on_accept runs one at a time
  net::steady_timer backoff_;
};

}  // namespace

int run_server(std::string_view program, const ServerOptions& options, Handler handler) {
  // Declared after `handler` so pending sessions, which reference it, are
  // destroyed with the io_context first.
  net::io_context ioc{static_cast<int>(options.threads)};

  beast::error_code ec;
  tcp::resolver resolver{ioc};
  auto endpoints = resolver.resolve(options.host, std::to_string(options.port),
                                    tcp::resolver::passive | tcp::resolver::numeric_service, ec);
  if (ec || endpoints.empty()) {
    std::cerr << program << ": cannot resolve host '" << options.host << "': " << ec.message() << "\n";
    return 1;
  }
  const tcp::endpoint endpoint = endpoints.begin()->endpoint();

  tcp::acceptor acceptor{net::make_strand(ioc)};
  auto fail = [&](std::string_view what) {
    std::cerr << program << ": " << what << " " << endpoint << ": " << ec.message() << "\n";
    return 1;
  };
  if (acceptor.open(endpoint.protocol(), ec); ec) return fail("open");
  if (acceptor.set_option(net::socket_base::reuse_address(true), ec); ec) return fail("reuse_address");
  if (acceptor.bind(endpoint, ec); ec) return fail("bind");
  if (acceptor.listen(net::socket_base::max_listen_connections, ec); ec) return fail("listen");
  const tcp::endpoint bound = acceptor.local_endpoint();

  net::signal_set signals{ioc, SIGINT, SIGTERM};
  // Dropping in-flight work is acceptable for example functions; the
  // platform expects a quick exit 0 when it scales a replica down.
  signals.async_wait([&ioc](beast::error_code, int) { ioc.stop(); });

  std::make_shared<Listener>(ioc, std::move(acceptor), handler)->accept();

  // Report the bound port, not the requested one, so --port 0 is usable.
  const auto address = bound.address();
  std::cerr << program << " listening on " << (address.is_v6() ? "[" : "") << address.to_string()
            << (address.is_v6() ? "]" : "") << ":" << bound.port() << std::endl;

  std::vector<std::thread> workers;
  workers.reserve(options.threads - 1);
  for (unsigned i = 1; i < options.threads; ++i) workers.emplace_back([&ioc] { ioc.run(); });
  ioc.run();
  for (auto& worker : workers) worker.join();
  return 0;
}

// ---- options ------------------------------------------------------------------

ServerOptions parse_options(int argc, char** argv, std::string_view program) {
  ServerOptions options;
  options.threads = std::max(1u, std::thread::hardware_concurrency());
  std::optional<std::uint16_t> flag_port;
  std::optional<std::uint16_t> positional_port;

  for (int i = 1; i < argc; ++i) {
    std::string_view arg = argv[i];
    if (arg == "-h" || arg == "--help") usage_and_exit(program, 0);
    if (!arg.starts_with("--")) {
      if (positional_port || !parse_u64(arg)) usage_and_exit(program, 2, "unexpected argument '" + std::string(arg) + "'");
      positional_port = parse_port(program, arg, "argument");
      continue;
    }
    std::string_view name = arg.substr(2);
    std::string_view value;
    if (const auto eq = name.find('='); eq != std::string_view::npos) {
      value = name.substr(eq + 1);
      name = name.substr(0, eq);
    } else {
      if (i + 1 >= argc) usage_and_exit(program, 2, "missing value for --" + std::string(name));
      value = argv[++i];
    }
    if (name == "port") {
      flag_port = parse_port(program, value, "--port");
    } else if (name == "host") {
      if (value.empty()) usage_and_exit(program, 2, "empty --host");
      options.host = std::string(value);
    } else if (name == "threads") {
      auto threads = parse_u64(value);
      if (!threads || *threads == 0 || *threads > 1024) usage_and_exit(program, 2, "invalid --threads '" + std::string(value) + "'");
      options.threads = static_cast<unsigned>(*threads);
    } else {
      usage_and_exit(program, 2, "unknown option --" + std::string(name));
    }
  }

  if (flag_port) {
    options.port = *flag_port;
  } else if (positional_port) {
    options.port = *positional_port;
  } else if (const char* env = std::getenv("PORT"); env != nullptr && *env != '\0') {
    options.port = parse_port(program, env, "$PORT");
  }
  return options;
}

// ---- helpers ------------------------------------------------------------------

bool path_is_under(std::string_view path, std::string_view prefix) noexcept {
  return path.starts_with(prefix) && (path.size() == prefix.size() || path[prefix.size()] == '/');
}

std::optional<std::string_view> single_segment_after(std::string_view path, std::string_view prefix) noexcept {
  if (!path.starts_with(prefix) || path.size() <= prefix.size() + 1 || path[prefix.size()] != '/') return std::nullopt;
  const auto segment = path.substr(prefix.size() + 1);
  if (segment.find('/') != std::string_view::npos) return std::nullopt;
  return segment;
}

std::string percent_decode(std::string_view text, bool plus_is_space) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  };
  std::string out;
  out.reserve(text.size());
  for (std::size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size() && hex(text[i + 1]) >= 0 && hex(text[i + 2]) >= 0) {
      out.push_back(static_cast<char>(hex(text[i + 1]) * 16 + hex(text[i + 2])));
      i += 2;
    } else if (c == '+' && plus_is_space) {
      out.push_back(' ');
    } else {
      // Malformed escapes pass through untouched rather than failing the request.
      out.push_back(c);
    }
  }
  return out;
}

std::optional<std::string> query_param(std::string_view query, std::string_view name) {
  while (!query.empty()) {
    const auto amp = query.find('&');
    const auto pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    const auto eq = pair.find('=');
    const auto key = pair.substr(0, eq);
    const auto value = eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1);
    // Decoding allocates; only pay for it when the key could be escaped.
    const bool escaped = key.find_first_of("%+") != std::string_view::npos;
    if (escaped ? percent_decode(key, true) == name : key == name) return percent_decode(value, true);
  }
  return std::nullopt;
}

std::optional<std::uint64_t> parse_u64(std::string_view text) noexcept {
  std::uint64_t value = 0;
  const auto* end = text.data() + text.size();
  const auto [ptr, ec] = std::from_chars(text.data(), end, value);
  if (text.empty() || ec != std::errc{} || ptr != end) return std::nullopt;
  return value;
}

Response make_response(http::status status, std::string_view content_type, std::string body) {
  Response response{status, 11};
  response.set(http::field::content_type, content_type);
  response.body() = std::move(body);
  return response;
}

Response json_response(http::status status, std::string body) {
  return make_response(status, "application/json", std::move(body));
}

Response text_response(http::status status, std::string body) {
  return make_response(status, "text/plain; charset=utf-8", std::move(body));
}

Response method_not_allowed(std::string_view allow) {
  auto response = json_response(http::status::method_not_allowed, R"({"error":"method not allowed"})");
  response.set(http::field::allow, allow);
  return response;
}

}  // namespace slimfaas::functions
