#include "net/http_error.hpp"
#include "net/router.hpp"

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>
#include <string>

using nlohmann::json;
using slimfaas::net::error_body;

namespace {

json parse_strict(const std::string& body) {
  json doc = json::parse(body, nullptr, /*allow_exceptions=*/false);
  REQUIRE_FALSE(doc.is_discarded());
  return doc;
}

}  // namespace

TEST_CASE("error_body is a JSON object with exactly error and detail", "[http_error]") {
  const std::string body = error_body("function_not_found", "no function named 'fib'");
  INFO(body);
  json doc = parse_strict(body);
  REQUIRE(doc.is_object());
  CHECK(doc.size() == 2);
  CHECK(doc.at("error") == "function_not_found");
  CHECK(doc.at("detail") == "no function named 'fib'");
}

TEST_CASE("error_body escapes quotes - backslashes and control characters", "[http_error]") {
  const std::string detail = "a \"quoted\" \\ path\nwith\ttabs and \x01 control";
  const std::string body = error_body("bad\"request", detail);
  INFO(body);
  CHECK(body.find('\n') == std::string::npos);  // one line, the newline is escaped
  json doc = parse_strict(body);
  CHECK(doc.size() == 2);
  CHECK(doc.at("error") == "bad\"request");
  CHECK(doc.at("detail") == detail);
}

TEST_CASE("error_body with empty strings", "[http_error]") {
  json doc = parse_strict(error_body("", ""));
  CHECK(doc.size() == 2);
  CHECK(doc.at("error") == "");
  CHECK(doc.at("detail") == "");
}

TEST_CASE("error_body keeps UTF-8 text", "[http_error]") {
  json doc = parse_strict(error_body("e", "caf\xc3\xa9"));
  CHECK(doc.at("detail") == "caf\xc3\xa9");
}

// The router's refusal text quotes the percent-decoded name, so
// GET /function/%ff gives route.error "invalid name '\xff'", which the session
// passes to error_body as the detail; the answer must still be valid JSON.
TEST_CASE("error_body with invalid UTF-8 still yields parseable JSON", "[http_error]") {
  const slimfaas::net::Route route = slimfaas::net::route_target("/function/%ff");
  REQUIRE(route.kind == slimfaas::net::RouteKind::bad_request);
  std::string body;
  try {
    body = error_body("bad_request", route.error);
  } catch (const std::exception& e) {
    FAIL("error_body threw: " << e.what());
  }
  INFO(body);
  json doc = parse_strict(body);
  CHECK(doc.size() == 2);
  CHECK(doc.at("error") == "bad_request");
  CHECK(doc.at("detail").is_string());
}
