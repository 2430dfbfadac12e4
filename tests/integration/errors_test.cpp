// Sync proxy error answers: each is JSON {"error","detail"} with the exact
// status of the contract, and a refused request never reaches the function.
#include "tests/integration/sync_fixture.hpp"

using namespace it;

TEST_CASE("an unknown function answers 404 JSON", "[integration][errors]") {
  auto s = start_stack();
  check_error_json(http_get(s.slim.url("/function/nope/inspect")), 404);
  check_error_json(http("POST", s.slim.url("/function/nope"), {}, "x"), 404);
  // A prefix of a known name is not that function.
  check_error_json(http_get(s.slim.url("/function/ech/inspect")), 404);
  CHECK(echo_requests(s.echo) == 0);
}

TEST_CASE("path traversal answers 400 and never reaches the function", "[integration][errors]") {
  auto s = start_stack();
  for (std::string path : {"/function/echo/../secret", "/function/echo/inspect/../../secret",
                           "/function/echo/%2e%2e/secret", "/function/echo/%2E%2E/secret",
                           "/function/echo/.%2e/secret"}) {
    HttpRequest req;
    req.url = s.slim.url(path);
    req.path_as_is = true;
    auto r = http(req);
    INFO(path);
    check_error_json(r, 400);
  }
  CHECK(echo_requests(s.echo) == 0);
}

TEST_CASE("malformed percent-encoding answers 400 and never reaches the function", "[integration][errors]") {
  auto s = start_stack();
  for (std::string target : {"/function/echo/%zz", "/function/echo/inspect%2", "/function/echo/%g0/x"}) {
    auto r = raw_request(s.slim.port,
                         "GET " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    INFO(target);
    REQUIRE(r.complete);
    check_error_json(r, 400);
  }
  CHECK(echo_requests(s.echo) == 0);
}

TEST_CASE("headers over the default 16384 bytes answer 431", "[integration][errors]") {
  auto s = start_stack();
  auto small = http("GET", s.fn("/inspect"), {{"X-Big", std::string(8000, 'h')}});
  INFO(small.describe());
  CHECK(small.status == 200);
  auto big = http("GET", s.fn("/inspect"), {{"X-Big", std::string(20000, 'h')}});
  check_error_json(big, 431);
  // Many medium headers add up the same way.
  std::vector<std::pair<std::string, std::string>> many;
  for (int i = 0; i < 40; ++i) many.emplace_back("X-Many-" + std::to_string(i), std::string(500, 'm'));
  check_error_json(http("GET", s.fn("/inspect"), many), 431);
  CHECK(echo_requests(s.echo) == 1);
}

TEST_CASE("SlimFaas__MaxRequestHeaderBytes sets the header limit", "[integration][errors]") {
  auto s = start_stack(echo_spec(), {{"SlimFaas__MaxRequestHeaderBytes", "4096"}});
  auto ok = http("GET", s.fn("/inspect"), {{"X-Big", std::string(2000, 'h')}});
  INFO(ok.describe());
  CHECK(ok.status == 200);
  check_error_json(http("GET", s.fn("/inspect"), {{"X-Big", std::string(6000, 'h')}}), 431);
  CHECK(echo_requests(s.echo) == 1);
}

TEST_CASE("a Content-Length body over SlimFaas__MaxRequestBodyBytes answers 413", "[integration][errors]") {
  auto s = start_stack(echo_spec(), {{"SlimFaas__MaxRequestBodyBytes", "1024"}});
  auto at_limit = http("POST", s.fn("/inspect"), {}, std::string(1024, 'b'));
  INFO(at_limit.describe());
  REQUIRE(at_limit.status == 200);
  CHECK((*at_limit.json())["body_bytes"] == 1024);
  check_error_json(http("POST", s.fn("/inspect"), {}, std::string(1025, 'b')), 413);
  check_error_json(http("PUT", s.fn("/inspect"), {}, std::string(64 * 1024, 'b')), 413);
  CHECK(echo_requests(s.echo) == 1);
}

TEST_CASE("a chunked body over SlimFaas__MaxRequestBodyBytes answers 413", "[integration][errors]") {
  auto s = start_stack(echo_spec(), {{"SlimFaas__MaxRequestBodyBytes", "1024"}});
  HttpRequest req;
  req.method = "POST";
  req.url = s.fn("/inspect");
  req.chunked = true;
  req.chunk_size = 256;
  req.body = std::string(1000, 'c');
  auto ok = http(req);
  INFO(ok.describe());
  REQUIRE(ok.status == 200);
  CHECK((*ok.json())["body_bytes"] == 1000);
  req.body = std::string(1025, 'c');
  check_error_json(http(req), 413);
  req.body = std::string(256 * 1024, 'c');
  check_error_json(http(req), 413);
  // The function may have been called for a body that was cut off; it must
  // never have received more than the limit.
  auto stats = echo_stats(s.echo);
  INFO(stats.dump());
  CHECK(stats["completed"] == 1);
}

TEST_CASE("a declared Content-Length over the default 100 MiB limit answers 413 at once", "[integration][errors]") {
  auto s = start_stack();
  // Only the head is sent: the limit must be enforced from Content-Length,
  // without waiting for (or reading) 100 MiB.
  auto r = raw_request(s.slim.port,
                       "POST /function/echo/inspect HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                       "Content-Type: application/octet-stream\r\nContent-Length: 104857601\r\n\r\n",
                       10s);
  REQUIRE(r.complete);
  check_error_json(r, 413);
  CHECK(echo_requests(s.echo) == 0);
}

TEST_CASE("a replica on a closed port answers 502", "[integration][errors]") {
  FunctionSpec spec = echo_spec(2, 2, 10);
  spec.urls = {local_url(free_port())};
  auto slim = start_slimfaas(functions_json({spec}));
  auto r = http_get(slim.url("/function/echo/inspect"), 30s);
  check_error_json(r, 502);
  CHECK(r.elapsed < 8s);  // a refused connection is not a timeout
}

TEST_CASE("an upstream slower than DefaultSync.HttpTimeout answers 504", "[integration][errors]") {
  auto s = start_stack(echo_spec(2, 2, 2));
  auto r = http_get(s.fn("/sleep/6000"), 30s);
  check_error_json(r, 504);
  CHECK(r.elapsed >= 1500ms);
  CHECK(r.elapsed < 5500ms);
  // Within the timeout the same route succeeds.
  auto fast = http_get(s.fn("/sleep/200"), 30s);
  INFO(fast.describe());
  CHECK(fast.status == 200);
}
