// Shared plumbing for the example function servers: option parsing, the
// accept loop, keep-alive HTTP/1.1 sessions and the response helpers. The
// programs only supply a request handler, so each stays a page of routing.
#pragma once

#include <boost/beast/http/empty_body.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/status.hpp>
#include <boost/beast/http/string_body.hpp>

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

namespace slimfaas::functions {

namespace http = boost::beast::http;

using Request = http::request<http::string_body>;
using Response = http::response<http::string_body>;
using ResponseHeader = http::response<http::empty_body>;

struct ServerOptions {
  std::string host = "127.0.0.1";
  std::uint16_t port = 8080;
  unsigned threads = 1;
};

// Precedence: --port, then the first positional number, then $PORT, then 8080.
// Prints usage and exits on --help or malformed input, because a function
// started with a typo'd flag should fail loudly rather than listen elsewhere.
ServerOptions parse_options(int argc, char** argv, std::string_view program);

class Session;

// Handle on the request currently being served by one connection. Cheap to
// copy (one shared_ptr). Exactly one of respond / respond_streamed must be
// called per request, either from the handler or from a wait_then callback.
class Exchange {
 public:
  explicit Exchange(std::shared_ptr<Session> session) noexcept;

  Request& request() noexcept;
  // The target split at '?': routes match on path(), never on the query.
  std::string_view path() const noexcept;
  std::string_view query() const noexcept;
  // The connection this request came on: 1, 2, ... in accept order.
  std::uint64_t connection() const noexcept;

  // Version and keep-alive are filled in from the request; Content-Length is
  // computed here, so callers only set status, headers and body.
  void respond(Response&& response);

  // Sends `header` and then every chunk `next` returns until it returns an
  // empty view. With header.chunked() the chunks are framed with chunked
  // transfer encoding; otherwise the caller must have set content_length()
  // to the exact total. Views must stay valid until the following call.
  using ChunkSource = std::function<std::string_view()>;
  void respond_streamed(ResponseHeader&& header, ChunkSource next);

  enum class WaitOutcome { elapsed, client_closed };
  // Waits without holding a thread, watching the socket meanwhile so that a
  // client hanging up ends the wait early. On client_closed the connection is
  // torn down after the callback returns and the callback must not respond.
  // The callback receives the Exchange instead of capturing it so that no
  // reference cycle keeps the session alive if the server stops mid-wait.
  using WaitCallback = std::function<void(Exchange, WaitOutcome)>;
  void wait_then(std::chrono::milliseconds delay, WaitCallback done);

 private:
  std::shared_ptr<Session> session_;
};

using Handler = std::function<void(Exchange)>;

// Runs until SIGINT/SIGTERM, then stops accepting and returns 0. Logs one
// startup line to stderr and nothing per request.
int run_server(std::string_view program, const ServerOptions& options, Handler handler);

// ---- helpers shared by the handlers ----------------------------------------

// True for `prefix` itself and anything below it ("/echo", "/echo/x"), but not
// for siblings that merely share the spelling ("/echoes").
bool path_is_under(std::string_view path, std::string_view prefix) noexcept;

// The text after `prefix + '/'` when path is exactly one segment below prefix.
std::optional<std::string_view> single_segment_after(std::string_view path,
                                                     std::string_view prefix) noexcept;

// Percent- and '+'-decoded value of the first `name` parameter of a query.
std::optional<std::string> query_param(std::string_view query, std::string_view name);

std::string percent_decode(std::string_view text, bool plus_is_space);

std::optional<std::uint64_t> parse_u64(std::string_view text) noexcept;

Response make_response(http::status status, std::string_view content_type, std::string body);
Response json_response(http::status status, std::string body);
Response text_response(http::status status, std::string body);
Response method_not_allowed(std::string_view allow);

}  // namespace slimfaas::functions
