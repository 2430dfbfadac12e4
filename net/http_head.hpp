#pragma once
// HTTP/1.1 heads written as one flat string: the request head of async
// delivery (net/http_client) and the head of the node's own small answers
// (net/session: 202s, JSON errors, API replies). Beast's serializer walks a
// chain of buffer views per field; for a head of a few fields written with
// one syscall, formatting it into a string costs a fraction of that, and
// both paths run once per async call.
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace slimfaas::net {

using HeaderList = std::vector<std::pair<std::string, std::string>>;

// False when `s` holds CR, LF or NUL: inside a head it would end a line
// early and let the rest pass for headers of its own, or a second message.
bool head_safe(std::string_view s) noexcept;

// Appends "<method> <target> HTTP/1.1", Host, `headers` in order, then
// Content-Length when `content_length` is set, and the blank line. Host,
// Content-Length, Transfer-Encoding and Connection in `headers` are left
// out: the body goes whole and the connection stays open, HTTP/1.1's
// default. False (and `out` unusable) when the method is empty, the method
// or target holds a space, or anything holds CR, LF or NUL.
bool append_request_head(std::string& out, std::string_view method, std::string_view target,
                         std::string_view host_port, const HeaderList& headers,
                         std::optional<std::size_t> content_length);

// The head of a response with a body of `body_size` bytes:
// "HTTP/1.x <status> <reason>", `headers` in order (a field with CR, LF or
// NUL in its name or value is dropped, never sent, and so are
// Content-Length, Transfer-Encoding and Connection: the framing below is
// the writer's own), the connection's fate
// (HTTP/1.1: "Connection: close" when it closes; HTTP/1.0: "Connection:
// keep-alive" when it stays open), then Content-Length, except for 1xx, 204
// and 304, which carry no body.
std::string response_head(unsigned status, unsigned version, const HeaderList& headers, bool keep_alive,
                          std::size_t body_size);

// Whether a response with this status carries a body at all.
constexpr bool status_has_body(unsigned status) noexcept {
  return !(status < 200 || status == 204 || status == 304);
}

}  // namespace slimfaas::net
