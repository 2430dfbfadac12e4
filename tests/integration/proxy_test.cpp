// Sync proxy: /function/<fn>/<path...>?query reaches the function intact and
// the function's answer comes back intact.
#include "tests/integration/sync_fixture.hpp"

using namespace it;

TEST_CASE("every method is forwarded with its path and query", "[integration][proxy]") {
  auto s = start_stack();
  const std::string target = "/inspect/a/b?x=1&y=two%20words&x=3";
  for (std::string method : {"GET", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"}) {
    HttpRequest req;
    req.method = method;
    req.url = s.fn(target);
    if (method == "POST" || method == "PUT" || method == "PATCH") req.body = "payload of " + method;
    auto r = http(req);
    INFO(method << " -> " << r.describe());
    REQUIRE(r.status == 200);
    auto j = r.json();
    REQUIRE(j);
    CHECK((*j)["method"] == method);
    CHECK((*j)["target"] == target);
    CHECK((*j)["body_bytes"] == req.body.size());
  }
}

TEST_CASE("HEAD is forwarded as HEAD and answers without a body", "[integration][proxy]") {
  auto s = start_stack();
  REQUIRE(echo_reset(s.echo));
  auto direct = http("HEAD", s.echo.url("/bytes/1000"));
  REQUIRE(direct.status == 200);
  REQUIRE(echo_reset(s.echo));
  auto r = http("HEAD", s.fn("/bytes/1000"));
  INFO(r.describe());
  CHECK(r.status == 200);
  CHECK(r.body.empty());
  CHECK(r.header("content-length") == direct.header("content-length"));
  CHECK(echo_requests(s.echo) == 1);
}

TEST_CASE("the function's status - headers and body come back unchanged", "[integration][proxy]") {
  auto s = start_stack();
  // Statuses other than 200, as the function chose them.
  for (int code : {201, 204, 404, 418, 500, 503}) {
    const std::string path = "/status/" + std::to_string(code);
    auto direct = http_get(s.echo.url(path));
    auto proxied = http_get(s.fn(path));
    INFO(path << "\ndirect:  " << direct.describe() << "\nproxied: " << proxied.describe());
    REQUIRE(direct.status == code);
    CHECK(proxied.status == code);
    CHECK(proxied.body == direct.body);
    CHECK(proxied.header("content-type") == direct.header("content-type"));
  }
  // The function's own response headers and body.
  HttpRequest req;
  req.method = "POST";
  req.url = s.fn("/echo?x=1");
  req.headers = {{"Content-Type", "application/x-slimfaas-test"}};
  req.body = "round trip";
  auto r = http(req);
  INFO(r.describe());
  REQUIRE(r.status == 200);
  CHECK(r.body == "round trip");
  CHECK(r.header("content-type") == "application/x-slimfaas-test");
  CHECK(r.header("x-echo-method") == "POST");
  CHECK(r.header("x-echo-target") == "/echo?x=1");
  CHECK(r.header("x-echo-body-bytes") == "10");
  // A route the function does not have: its own 404, not slimfaas's.
  auto direct = http_get(s.echo.url("/no-such-route"));
  auto proxied = http_get(s.fn("/no-such-route"));
  INFO("direct:  " << direct.describe() << "\nproxied: " << proxied.describe());
  REQUIRE(direct.status == 404);
  CHECK(proxied.status == 404);
  CHECK(proxied.body == direct.body);
}

TEST_CASE("/function/<fn> without a path reaches the function root", "[integration][proxy]") {
  auto s = start_stack();
  auto direct = http_get(s.echo.url("/?q=1"));
  REQUIRE(echo_reset(s.echo));
  auto proxied = http_get(s.slim.url("/function/echo?q=1"));
  INFO("direct:  " << direct.describe() << "\nproxied: " << proxied.describe());
  CHECK(proxied.status == direct.status);
  CHECK(proxied.body == direct.body);
  CHECK(echo_requests(s.echo) == 1);
}

TEST_CASE("forwarding headers are added and hop-by-hop headers removed", "[integration][proxy]") {
  auto s = start_stack();
  HttpRequest req;
  req.url = s.fn("/inspect");
  req.raw_headers = {"Connection: keep-alive, X-Custom-Hop",
                     "X-Custom-Hop: must-not-pass",
                     "Keep-Alive: timeout=5, max=100",
                     "TE: trailers",
                     "X-Custom: kept",
                     "Authorization: Bearer end-to-end",
                     "Accept: application/x-test"};
  auto r = http(req);
  INFO(r.describe());
  REQUIRE(r.status == 200);
  auto j = r.json();
  REQUIRE(j);
  auto& h = (*j)["headers"];
  CHECK(h["x-forwarded-for"] == "127.0.0.1");
  REQUIRE(h.contains("x-forwarded-host"));
  CHECK(h["x-forwarded-host"].get<std::string>().find("127.0.0.1") != std::string::npos);
  CHECK(h["x-forwarded-proto"] == "http");
  CHECK_FALSE(h.contains("x-custom-hop"));
  CHECK_FALSE(h.contains("keep-alive"));
  CHECK_FALSE(h.contains("te"));
  if (h.contains("connection")) {
    CHECK(h["connection"].get<std::string>().find("X-Custom-Hop") == std::string::npos);
    CHECK(h["connection"].get<std::string>().find("x-custom-hop") == std::string::npos);
  }
  CHECK(h["x-custom"] == "kept");
  CHECK(h["authorization"] == "Bearer end-to-end");
  CHECK(h["accept"] == "application/x-test");
}

namespace {

void round_trip_upload(bool chunked) {
  auto s = start_stack(echo_spec(2, 2, 30));
  const std::string body = random_bytes(2 * 1024 * 1024, chunked ? 11 : 12);
  HttpRequest req;
  req.method = "POST";
  req.url = s.fn("/echo");
  req.body = body;
  req.chunked = chunked;
  req.timeout = 60s;
  auto r = http(req);
  INFO("chunked=" << chunked << " status=" << r.status << " curl=" << r.curl_code << " " << r.error
                  << " size=" << r.body.size());
  REQUIRE(r.status == 200);
  CHECK(r.body.size() == body.size());
  CHECK(fnv1a64(r.body) == fnv1a64(body));
}

void round_trip_download(const std::string& route, bool expect_chunked) {
  auto s = start_stack(echo_spec(2, 2, 30));
  HttpRequest req;
  req.url = s.fn(route);
  req.timeout = 60s;
  auto r = http(req);
  INFO(route << " status=" << r.status << " curl=" << r.curl_code << " " << r.error
             << " size=" << r.body.size());
  REQUIRE(r.status == 200);
  CHECK(r.body.size() == 2097152);
  CHECK(first_pattern_mismatch(r.body) == -1);
  if (!expect_chunked) CHECK(r.header("content-length") == "2097152");
}

}  // namespace

TEST_CASE("a 2 MiB request body with Content-Length round-trips", "[integration][proxy][body]") {
  round_trip_upload(false);
}

TEST_CASE("a 2 MiB chunked request body round-trips", "[integration][proxy][body]") {
  round_trip_upload(true);
}

TEST_CASE("a 2 MiB fixed-length response is streamed back intact", "[integration][proxy][body]") {
  round_trip_download("/bytes/2097152", false);
}

TEST_CASE("a 2 MiB chunked response is streamed back intact", "[integration][proxy][body]") {
  round_trip_download("/chunked/2097152", true);
}
