#include "net/http_head.hpp"

#include <array>

#include <boost/beast/core/string.hpp>
#include <boost/beast/http/status.hpp>

namespace slimfaas::net {

namespace {

// What each byte is, so that checking a string is one pass over its bytes.
// (std::string_view::find_first_of calls memchr over the set once per
// byte: on the delivery thread, which checks every stored header of every
// attempt, that was a tenth of its time.)
enum ByteClass : unsigned char { kLineBreak = 1, kNameSeparator = 2 };

constexpr std::array<unsigned char, 256> byte_classes() {
  std::array<unsigned char, 256> classes{};
  for (unsigned char c : {'\r', '\n', '\0'}) classes[c] = kLineBreak;
  for (unsigned char c : {':', ' ', '\t'}) classes[c] = kNameSeparator;
  return classes;
}

constexpr auto kByteClasses = byte_classes();

bool has_any(std::string_view s, unsigned char classes) noexcept {
  unsigned char seen = 0;
  for (char c : s) seen |= kByteClasses[static_cast<unsigned char>(c)];
  return (seen & classes) != 0;
}

bool field_safe(std::string_view name, std::string_view value) noexcept {
  return !name.empty() && !has_any(name, kLineBreak | kNameSeparator) && !has_any(value, kLineBreak);
}

// Fields that say how the message is framed or how the connection ends:
// always the writer's own.
bool framing(std::string_view name) noexcept {
  return boost::beast::iequals(name, "Content-Length") || boost::beast::iequals(name, "Transfer-Encoding") ||
         boost::beast::iequals(name, "Connection");
}

void append_field(std::string& out, std::string_view name, std::string_view value) {
  out.append(name).append(": ").append(value).append("\r\n");
}

std::size_t fields_size(const HeaderList& headers) {
  std::size_t size = 0;
  for (const auto& [name, value] : headers) size += name.size() + value.size() + 4;
  return size;
}

}  // namespace

bool head_safe(std::string_view s) noexcept { return !has_any(s, kLineBreak); }

bool append_request_head(std::string& out, std::string_view method, std::string_view target,
                         std::string_view host_port, const HeaderList& headers,
                         std::optional<std::size_t> content_length) {
  if (method.empty() || method.find(' ') != std::string_view::npos || !head_safe(method) ||
      target.find(' ') != std::string_view::npos || !head_safe(target) || !head_safe(host_port)) {
    return false;
  }
  out.reserve(out.size() + method.size() + target.size() + host_port.size() + fields_size(headers) + 64);
  out.append(method).append(" ").append(target.empty() ? std::string_view("/") : target).append(" HTTP/1.1\r\n");
  append_field(out, "Host", host_port);
  for (const auto& [name, value] : headers) {
    if (!field_safe(name, value)) return false;
    if (boost::beast::iequals(name, "Host") || framing(name)) continue;
    append_field(out, name, value);
  }
  if (content_length) append_field(out, "Content-Length", std::to_string(*content_length));
  out.append("\r\n");
  return true;
}

std::string response_head(unsigned status, unsigned version, const HeaderList& headers, bool keep_alive,
                          std::size_t body_size) {
  const auto reason = boost::beast::http::obsolete_reason(static_cast<boost::beast::http::status>(status));
  std::string out;
  out.reserve(fields_size(headers) + reason.size() + 96);
  out.append(version == 10 ? "HTTP/1.0 " : "HTTP/1.1 ").append(std::to_string(status)).append(" ");
  out.append(reason.data(), reason.size()).append("\r\n");
  for (const auto& [name, value] : headers) {
    if (field_safe(name, value) && !framing(name)) append_field(out, name, value);
  }
  if (version == 10 && keep_alive) append_field(out, "Connection", "keep-alive");
  if (version != 10 && !keep_alive) append_field(out, "Connection", "close");
  if (status_has_body(status)) append_field(out, "Content-Length", std::to_string(body_size));
  out.append("\r\n");
  return out;
}

}  // namespace slimfaas::net
