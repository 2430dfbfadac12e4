#include "net/forwarding.hpp"

#include <boost/beast/http/fields.hpp>
#include <catch2/catch.hpp>
#include <string>
#include <vector>

namespace http = boost::beast::http;
using slimfaas::net::add_forwarded;
using slimfaas::net::strip_hop_by_hop;

namespace {

bool has(const http::fields& f, const std::string& name) { return f.find(name) != f.end(); }

std::string value_of(const http::fields& f, const std::string& name) {
  auto it = f.find(name);
  return it == f.end() ? std::string("<absent>") : std::string(it->value());
}

std::vector<std::string> values_of(const http::fields& f, const std::string& name) {
  std::vector<std::string> out;
  auto range = f.equal_range(name);
  for (auto it = range.first; it != range.second; ++it) out.emplace_back(it->value());
  return out;
}

std::size_t count_fields(const http::fields& f) {
  std::size_t n = 0;
  for (auto it = f.begin(); it != f.end(); ++it) ++n;
  return n;
}

}  // namespace

TEST_CASE("strip_hop_by_hop removes the fixed hop-by-hop fields", "[forwarding]") {
  http::fields f;
  f.set(http::field::host, "example.com");
  f.set(http::field::connection, "keep-alive");
  f.set(http::field::keep_alive, "timeout=5");
  f.set(http::field::proxy_connection, "keep-alive");
  f.set(http::field::te, "trailers");
  f.set(http::field::trailer, "Expires");
  f.set(http::field::transfer_encoding, "chunked");
  f.set(http::field::upgrade, "websocket");
  f.set(http::field::proxy_authenticate, "Basic");
  f.set(http::field::proxy_authorization, "Basic Zm9vOmJhcg==");
  f.set(http::field::content_type, "application/json");
  f.set(http::field::authorization, "Bearer token");
  f.set("X-Custom", "1");

  strip_hop_by_hop(f);

  for (const char* gone : {"Connection", "Keep-Alive", "Proxy-Connection", "TE", "Trailer", "Transfer-Encoding",
                           "Upgrade", "Proxy-Authenticate", "Proxy-Authorization"}) {
    INFO("field " << gone);
    CHECK_FALSE(has(f, gone));
  }
  CHECK(value_of(f, "Host") == "example.com");
  CHECK(value_of(f, "Content-Type") == "application/json");
  CHECK(value_of(f, "Authorization") == "Bearer token");
  CHECK(value_of(f, "X-Custom") == "1");
  CHECK(count_fields(f) == 4);
}

TEST_CASE("strip_hop_by_hop matches field names case-insensitively", "[forwarding]") {
  http::fields f;
  f.insert("connection", "X-Foo");
  f.insert("TRANSFER-ENCODING", "chunked");
  f.insert("x-foo", "secret");
  f.insert("X-Keep", "yes");
  strip_hop_by_hop(f);
  CHECK_FALSE(has(f, "Connection"));
  CHECK_FALSE(has(f, "Transfer-Encoding"));
  CHECK_FALSE(has(f, "X-Foo"));
  CHECK(value_of(f, "X-Keep") == "yes");
}

TEST_CASE("strip_hop_by_hop removes every field that Connection names", "[forwarding]") {
  SECTION("one name") {
    http::fields f;
    f.set(http::field::connection, "X-Hop");
    f.set("X-Hop", "1");
    f.set("X-Stay", "2");
    strip_hop_by_hop(f);
    CHECK_FALSE(has(f, "X-Hop"));
    CHECK(value_of(f, "X-Stay") == "2");
  }
  SECTION("comma list with whitespace and empty items") {
    http::fields f;
    f.set(http::field::connection, " X-A ,X-B,\tX-C\t, , ,X-D");
    for (const char* n : {"X-A", "X-B", "X-C", "X-D", "X-E"}) f.set(n, "v");
    strip_hop_by_hop(f);
    for (const char* n : {"X-A", "X-B", "X-C", "X-D"}) {
      INFO("field " << n);
      CHECK_FALSE(has(f, n));
    }
    CHECK(value_of(f, "X-E") == "v");
    CHECK(count_fields(f) == 1);
  }
  SECTION("several Connection lines, interleaved with other fields") {
    http::fields f;
    f.insert(http::field::connection, "X-A");
    f.insert("X-Stay", "1");
    f.insert("X-A", "a");
    f.insert(http::field::connection, "X-B, X-C");
    f.insert("X-B", "b");
    f.insert("X-C", "c");
    f.insert(http::field::connection, "close");
    f.insert("X-Also-Stay", "2");
    strip_hop_by_hop(f);
    CHECK_FALSE(has(f, "Connection"));
    CHECK_FALSE(has(f, "X-A"));
    CHECK_FALSE(has(f, "X-B"));
    CHECK_FALSE(has(f, "X-C"));
    CHECK(value_of(f, "X-Stay") == "1");
    CHECK(value_of(f, "X-Also-Stay") == "2");
    CHECK(count_fields(f) == 2);
  }
  SECTION("a named field present on several lines goes entirely") {
    http::fields f;
    f.set(http::field::connection, "X-Multi");
    f.insert("X-Multi", "1");
    f.insert("X-Other", "o");
    f.insert("X-Multi", "2");
    strip_hop_by_hop(f);
    CHECK_FALSE(has(f, "X-Multi"));
    CHECK(value_of(f, "X-Other") == "o");
  }
  SECTION("Connection naming standard fields") {
    http::fields f;
    f.set(http::field::connection, "keep-alive, Upgrade, Cookie");
    f.set(http::field::cookie, "a=b");
    f.set(http::field::accept, "*/*");
    strip_hop_by_hop(f);
    CHECK_FALSE(has(f, "Cookie"));
    CHECK(value_of(f, "Accept") == "*/*");
  }
  SECTION("no Connection: only the fixed list goes") {
    http::fields f;
    f.set("X-A", "1");
    f.set(http::field::content_length, "3");
    strip_hop_by_hop(f);
    CHECK(value_of(f, "X-A") == "1");
    CHECK(value_of(f, "Content-Length") == "3");
  }
  SECTION("empty fields") {
    http::fields f;
    strip_hop_by_hop(f);
    CHECK(count_fields(f) == 0);
  }
}

TEST_CASE("add_forwarded starts an X-Forwarded-For chain", "[forwarding]") {
  http::fields f;
  f.set(http::field::host, "slimfaas.local:5000");
  add_forwarded(f, "10.0.0.7", "http");
  CHECK(values_of(f, "X-Forwarded-For") == std::vector<std::string>{"10.0.0.7"});
  CHECK(value_of(f, "X-Forwarded-Host") == "slimfaas.local:5000");
  CHECK(value_of(f, "X-Forwarded-Proto") == "http");
  CHECK(value_of(f, "Host") == "slimfaas.local:5000");
}

TEST_CASE("add_forwarded appends to an existing X-Forwarded-For chain", "[forwarding]") {
  http::fields f;
  f.set("X-Forwarded-For", "203.0.113.1, 198.51.100.2");
  add_forwarded(f, "10.0.0.7", "http");
  CHECK(values_of(f, "X-Forwarded-For") == std::vector<std::string>{"203.0.113.1, 198.51.100.2, 10.0.0.7"});
}

TEST_CASE("add_forwarded matches X-Forwarded-For case-insensitively", "[forwarding]") {
  http::fields f;
  f.insert("x-forwarded-for", "203.0.113.1");
  add_forwarded(f, "10.0.0.7", "http");
  CHECK(values_of(f, "X-Forwarded-For") == std::vector<std::string>{"203.0.113.1, 10.0.0.7"});
}

// RFC 9110 §5.3: several field lines of a list-based field are one
// comma-separated list. A chain split over two lines must keep both hops.
TEST_CASE("add_forwarded keeps every hop of an X-Forwarded-For split over several lines",
          "[forwarding]") {
  http::fields f;
  f.insert("X-Forwarded-For", "203.0.113.1");
  f.insert("X-Forwarded-For", "198.51.100.2");
  add_forwarded(f, "10.0.0.7", "http");
  std::string joined;
  for (const auto& v : values_of(f, "X-Forwarded-For")) joined += (joined.empty() ? "" : ", ") + v;
  CHECK(joined == "203.0.113.1, 198.51.100.2, 10.0.0.7");
}

TEST_CASE("add_forwarded keeps X-Forwarded-Host and X-Forwarded-Proto set by a previous proxy", "[forwarding]") {
  http::fields f;
  f.set(http::field::host, "internal:5000");
  f.set("X-Forwarded-Host", "public.example.com");
  f.set("X-Forwarded-Proto", "https");
  add_forwarded(f, "10.0.0.7", "http");
  CHECK(value_of(f, "X-Forwarded-Host") == "public.example.com");
  CHECK(value_of(f, "X-Forwarded-Proto") == "https");
  CHECK(values_of(f, "X-Forwarded-Host").size() == 1);
  CHECK(values_of(f, "X-Forwarded-Proto").size() == 1);
}

TEST_CASE("add_forwarded without Host sets no X-Forwarded-Host", "[forwarding]") {
  http::fields f;
  add_forwarded(f, "::1", "https");
  CHECK_FALSE(has(f, "X-Forwarded-Host"));
  CHECK(value_of(f, "X-Forwarded-For") == "::1");
  CHECK(value_of(f, "X-Forwarded-Proto") == "https");
}

TEST_CASE("add_forwarded twice grows the chain - Host and Proto stay first-set", "[forwarding]") {
  http::fields f;
  f.set(http::field::host, "a");
  add_forwarded(f, "1.1.1.1", "http");
  f.set(http::field::host, "b");
  add_forwarded(f, "2.2.2.2", "https");
  CHECK(value_of(f, "X-Forwarded-For") == "1.1.1.1, 2.2.2.2");
  CHECK(value_of(f, "X-Forwarded-Host") == "a");
  CHECK(value_of(f, "X-Forwarded-Proto") == "http");
}
