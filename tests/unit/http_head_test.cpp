// net/http_head: the exact bytes of the heads written without beast's serializer.
#include <catch2/catch.hpp>

#include "net/http_head.hpp"

using namespace slimfaas::net;

TEST_CASE("a request head: line, Host, headers in order, Content-Length, blank line") {
  std::string out;
  REQUIRE(append_request_head(out, "POST", "/work?x=1", "127.0.0.1:8080",
                              {{"SlimFaas-Element-Id", "7"}, {"X-Multi", "a"}, {"X-Multi", "b"}}, 5));
  CHECK(out ==
        "POST /work?x=1 HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nSlimFaas-Element-Id: 7\r\nX-Multi: a\r\nX-Multi: b\r\n"
        "Content-Length: 5\r\n\r\n");
}

TEST_CASE("a request head leaves out the caller's framing headers and may have no length") {
  std::string out;
  REQUIRE(append_request_head(out, "GET", "", "h:1",
                              {{"host", "x"}, {"CONTENT-LENGTH", "9"}, {"Transfer-Encoding", "chunked"},
                               {"connection", "close"}, {"Accept", "*/*"}},
                              std::nullopt));
  CHECK(out == "GET / HTTP/1.1\r\nHost: h:1\r\nAccept: */*\r\n\r\n");
}

TEST_CASE("a request head refuses what would break the framing") {
  std::string out;
  CHECK_FALSE(append_request_head(out, "", "/", "h:1", {}, 0));
  CHECK_FALSE(append_request_head(out, "GE T", "/", "h:1", {}, 0));
  CHECK_FALSE(append_request_head(out, "GET", "/a b", "h:1", {}, 0));
  CHECK_FALSE(append_request_head(out, "GET", "/a\r\nX: y", "h:1", {}, 0));
  CHECK_FALSE(append_request_head(out, "GET", "/", "h:1", {{"X", "a\nb"}}, 0));
  CHECK_FALSE(append_request_head(out, "GET", "/", "h:1", {{"X", std::string("a\0b", 3)}}, 0));
  CHECK_FALSE(append_request_head(out, "GET", "/", "h:1", {{"X\r\nY", "a"}}, 0));
  CHECK_FALSE(append_request_head(out, "GET", "/", "h:1", {{"X: Y", "a"}}, 0));
  CHECK_FALSE(append_request_head(out, "GET", "/", "h:1", {{"", "a"}}, 0));
  CHECK_FALSE(append_request_head(out, "GET", "/", "h:1", {{"X\tY", "a"}}, 0));
  CHECK_FALSE(append_request_head(out, "GET", "/", "h:1", {{"X:", "a"}}, 0));
  CHECK_FALSE(append_request_head(out, "GET", "/", "h:1", {{"X", std::string(300, 'v') + "\r"}}, 0));
  CHECK_FALSE(append_request_head(out, "GET", "/", "h:1", {{"X", std::string("\0", 1) + std::string(300, 'v')}}, 0));
  CHECK_FALSE(head_safe(std::string(1000, 'a') + "\n"));
}

TEST_CASE("a head keeps any other byte: tabs and spaces in values, UTF-8 and obs-text") {
  std::string out;
  const std::string value = "a\tb c \xc3\xa9\xff\x7f";
  REQUIRE(append_request_head(out, "GET", "/caf\xc3\xa9", "h:1", {{"X-Name\xc3\xa9", value}}, std::nullopt));
  CHECK(out == "GET /caf\xc3\xa9 HTTP/1.1\r\nHost: h:1\r\nX-Name\xc3\xa9: " + value + "\r\n\r\n");
  CHECK(head_safe(value));
  CHECK(head_safe(""));
}

TEST_CASE("a response head: status line with reason, headers, Content-Length") {
  CHECK(response_head(202, 11, {{"Server", "slimfaas"}, {"SlimFaas-Element-Id", "3"}}, true, 0) ==
        "HTTP/1.1 202 Accepted\r\nServer: slimfaas\r\nSlimFaas-Element-Id: 3\r\nContent-Length: 0\r\n\r\n");
  CHECK(response_head(404, 11, {}, true, 12) == "HTTP/1.1 404 Not Found\r\nContent-Length: 12\r\n\r\n");
}

TEST_CASE("a response head says how the connection ends, per HTTP version") {
  CHECK(response_head(200, 11, {}, false, 2) == "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\n");
  CHECK(response_head(200, 10, {}, true, 2) ==
        "HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 2\r\n\r\n");
  CHECK(response_head(200, 10, {}, false, 2) == "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\n");
}

TEST_CASE("a response without a body by its status has no Content-Length") {
  CHECK(response_head(204, 11, {}, true, 0) == "HTTP/1.1 204 No Content\r\n\r\n");
  CHECK(response_head(304, 11, {}, true, 0) == "HTTP/1.1 304 Not Modified\r\n\r\n");
  CHECK_FALSE(status_has_body(100));
  CHECK(status_has_body(200));
}

TEST_CASE("a response header that would break the framing is dropped") {
  CHECK(response_head(200, 11, {{"X-Bad", "a\r\nSet-Cookie: x"}, {"X-Good", "g"}, {"Bad\nName", "v"}}, true, 0) ==
        "HTTP/1.1 200 OK\r\nX-Good: g\r\nContent-Length: 0\r\n\r\n");
}

TEST_CASE("framing header names match whole and case-insensitively") {
  // "content-length" is the writer's own; "Content-Lengths" is any header.
  CHECK(response_head(200, 11, {{"content-length", "9"}, {"Content-Lengths", "x"}}, true, 0) ==
        "HTTP/1.1 200 OK\r\nContent-Lengths: x\r\nContent-Length: 0\r\n\r\n");
  CHECK(head_safe("plain value"));
  CHECK_FALSE(head_safe(std::string("a\0", 2)));
}

TEST_CASE("a response head's framing is its own: Content-Length, Transfer-Encoding, Connection given are dropped") {
  CHECK(response_head(200, 11, {{"content-length", "99"}, {"Transfer-Encoding", "chunked"}, {"Connection", "x"},
                                {"X-Kept", "k"}},
                      false, 3) == "HTTP/1.1 200 OK\r\nX-Kept: k\r\nConnection: close\r\nContent-Length: 3\r\n\r\n");
}
