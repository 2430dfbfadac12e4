#include "net/router.hpp"

#include <catch2/catch.hpp>
#include <string>

using slimfaas::net::find_query_param;
using slimfaas::net::is_valid_data_id;
using slimfaas::net::is_valid_name;
using slimfaas::net::parse_positive_integer;
using slimfaas::net::QueryParam;
using slimfaas::net::percent_decode;
using slimfaas::net::Route;
using slimfaas::net::RouteKind;
using slimfaas::net::route_target;
using slimfaas::net::to_string;

namespace Catch {
template <>
struct StringMaker<RouteKind> {
  static std::string convert(RouteKind kind) { return to_string(kind); }
};
}  // namespace Catch

TEST_CASE("router: /function/<fn> in every shape", "[router]") {
  SECTION("no trailing slash") {
    Route r = route_target("/function/fn");
    CHECK(r.kind == RouteKind::function_sync);
    CHECK(r.name == "fn");
    CHECK(r.path == "/");
    CHECK(r.query.empty());
    CHECK(r.error.empty());
  }
  SECTION("trailing slash") {
    Route r = route_target("/function/fn/");
    CHECK(r.kind == RouteKind::function_sync);
    CHECK(r.name == "fn");
    CHECK(r.path == "/");
    CHECK(r.query.empty());
  }
  SECTION("path and query") {
    Route r = route_target("/function/fn/a/b?x=1");
    CHECK(r.kind == RouteKind::function_sync);
    CHECK(r.name == "fn");
    CHECK(r.path == "/a/b");
    CHECK(r.query == "?x=1");
  }
  SECTION("query without a path") {
    Route r = route_target("/function/fn?x=1&y=2");
    CHECK(r.kind == RouteKind::function_sync);
    CHECK(r.name == "fn");
    CHECK(r.path == "/");
    CHECK(r.query == "?x=1&y=2");
  }
  SECTION("the forwarded path stays encoded") {
    Route r = route_target("/function/fn/a%20b/c");
    CHECK(r.kind == RouteKind::function_sync);
    CHECK(r.path == "/a%20b/c");
  }
  SECTION("a '?' inside the query does not split it again") {
    Route r = route_target("/function/fn/p?a=1?b=2");
    CHECK(r.path == "/p");
    CHECK(r.query == "?a=1?b=2");
  }
  SECTION("names may hold letters, digits, '-', '_' and '.'") {
    Route r = route_target("/function/My-fn_2.v1/x");
    CHECK(r.kind == RouteKind::function_sync);
    CHECK(r.name == "My-fn_2.v1");
    CHECK(r.path == "/x");
  }
}

TEST_CASE("router: async function and publish-event routes carry a path", "[router]") {
  SECTION("/async-function/<fn>") {
    Route r = route_target("/async-function/fn");
    CHECK(r.kind == RouteKind::function_async);
    CHECK(r.name == "fn");
    CHECK(r.path == "/");
  }
  SECTION("/async-function/<fn>/<path>?query") {
    Route r = route_target("/async-function/fn/a/b?x=1");
    CHECK(r.kind == RouteKind::function_async);
    CHECK(r.name == "fn");
    CHECK(r.path == "/a/b");
    CHECK(r.query == "?x=1");
  }
  SECTION("/publish-event/<event>/<path>") {
    Route r = route_target("/publish-event/ev/p");
    CHECK(r.kind == RouteKind::publish_event);
    CHECK(r.name == "ev");
    CHECK(r.path == "/p");
    CHECK(r.query.empty());
  }
  SECTION("/publish-event/<event>") {
    Route r = route_target("/publish-event/ev");
    CHECK(r.kind == RouteKind::publish_event);
    CHECK(r.name == "ev");
    CHECK(r.path == "/");
  }
  SECTION("traversal is refused on async and publish routes too") {
    CHECK(route_target("/async-function/fn/../other").kind == RouteKind::bad_request);
    CHECK(route_target("/publish-event/ev/%2e%2e/x").kind == RouteKind::bad_request);
  }
}

TEST_CASE("router: async callback", "[router]") {
  SECTION("well formed") {
    Route r = route_target("/async-function-callback/fn/id/success");
    CHECK(r.kind == RouteKind::async_callback);
    CHECK(r.name == "fn");
    CHECK(r.element_id == "id");
    CHECK(r.status == "success");
  }
  SECTION("not confused with /async-function/") {
    Route r = route_target("/async-function-callback/fn/e-42/failed");
    CHECK(r.kind == RouteKind::async_callback);
    CHECK(r.name == "fn");
    CHECK(r.element_id == "e-42");
    CHECK(r.status == "failed");
  }
  SECTION("missing status") {
    Route r = route_target("/async-function-callback/fn/id");
    CHECK(r.kind == RouteKind::bad_request);
    CHECK_FALSE(r.error.empty());
  }
  SECTION("empty element id") {
    CHECK(route_target("/async-function-callback/fn//success").kind == RouteKind::bad_request);
  }
  SECTION("extra segment") {
    CHECK(route_target("/async-function-callback/fn/id/success/more").kind == RouteKind::bad_request);
  }
  SECTION("invalid function name") {
    CHECK(route_target("/async-function-callback/a%20b/id/success").kind == RouteKind::bad_request);
  }
}

TEST_CASE("router: wake and status routes", "[router]") {
  SECTION("/wake-function/<fn>") {
    Route r = route_target("/wake-function/fn");
    CHECK(r.kind == RouteKind::wake_function);
    CHECK(r.name == "fn");
  }
  SECTION("/wake-function/<fn>/ (trailing slash)") {
    Route r = route_target("/wake-function/fn/");
    CHECK(r.kind == RouteKind::wake_function);
    CHECK(r.name == "fn");
  }
  SECTION("/wake-function/<fn>/extra is no route") {
    Route r = route_target("/wake-function/fn/extra");
    CHECK(r.kind == RouteKind::not_found);
    CHECK(r.name.empty());
  }
  SECTION("/status-function/<fn>") {
    Route r = route_target("/status-function/fn");
    CHECK(r.kind == RouteKind::status_function);
    CHECK(r.name == "fn");
  }
  SECTION("/status-function/<fn>/extra is no route") {
    CHECK(route_target("/status-function/fn/extra").kind == RouteKind::not_found);
  }
  SECTION("/wake-functions and /status-functions") {
    CHECK(route_target("/wake-functions").kind == RouteKind::wake_functions);
    CHECK(route_target("/status-functions").kind == RouteKind::status_functions);
  }
}

TEST_CASE("router: exact routes - with and without a trailing slash", "[router]") {
  struct Case {
    const char* path;
    RouteKind kind;
  };
  const Case cases[] = {
      {"/health", RouteKind::health},
      {"/metrics", RouteKind::metrics},
      {"/debug/actors", RouteKind::debug_actors},
      {"/debug/raft", RouteKind::debug_raft},
      {"/wake-functions", RouteKind::wake_functions},
      {"/status-functions", RouteKind::status_functions},
  };
  for (const auto& c : cases) {
    INFO("path " << c.path);
    CHECK(route_target(c.path).kind == c.kind);
    CHECK(route_target(std::string(c.path) + "/").kind == c.kind);
    CHECK(route_target(std::string(c.path) + "?verbose=1").kind == c.kind);
    // Exact routes take no name and no path.
    CHECK(route_target(c.path).name.empty());
    // Only one trailing slash, and nothing after it.
    CHECK(route_target(std::string(c.path) + "//").kind == RouteKind::not_found);
    CHECK(route_target(std::string(c.path) + "/x").kind == RouteKind::not_found);
    CHECK(route_target(std::string(c.path) + "x").kind == RouteKind::not_found);
  }
}

TEST_CASE("router: unknown targets are not found", "[router]") {
  for (const char* target : {"/", "/nope", "/functions/fn", "/function", "/debug", "/debug/other", "/healthz",
                             "/FUNCTION/fn", "/wake-function"}) {
    INFO("target " << target);
    Route r = route_target(target);
    CHECK(r.kind == RouteKind::not_found);
    CHECK(r.name.empty());
  }
}

TEST_CASE("router: names are percent-decoded", "[router]") {
  SECTION("function") {
    Route r = route_target("/function/fib%31");
    CHECK(r.kind == RouteKind::function_sync);
    CHECK(r.name == "fib1");
  }
  SECTION("upper- and lower-case hex") {
    CHECK(route_target("/function/a%2Db").name == "a-b");
    CHECK(route_target("/function/a%2db").name == "a-b");
  }
  SECTION("other routes") {
    CHECK(route_target("/wake-function/fib%31").name == "fib1");
    CHECK(route_target("/status-function/fib%31").name == "fib1");
    CHECK(route_target("/publish-event/ev%31/x").name == "ev1");
    CHECK(route_target("/async-function/fib%31").name == "fib1");
  }
}

TEST_CASE("router: malformed escapes are bad requests", "[router]") {
  for (const char* target : {"/function/%zz", "/function/fib%4", "/function/fib%", "/function/%", "/function/fn/a%zz",
                             "/function/fn/a%4", "/function/fn/a%", "/function/fn/a%/b", "/wake-function/%zz",
                             "/status-function/x%"}) {
    INFO("target " << target);
    Route r = route_target(target);
    CHECK(r.kind == RouteKind::bad_request);
    CHECK_FALSE(r.error.empty());
  }
}

TEST_CASE("router: traversal segments are bad requests", "[router]") {
  for (const char* target : {
           "/function/..",           "/function/.",         "/function/%2e%2e",   "/function/%2E%2E",
           "/function/%2e",          "/function/.%2e",      "/function/fn/..",    "/function/fn/.",
           "/function/fn/../other",  "/function/fn/a/../b", "/function/fn/./a",   "/function/fn/%2e%2e/x",
           "/function/fn/%2E%2E/x",  "/function/fn/.%2E",   "/function/fn/%2e",   "/function/fn/a%2f..%2fb",
           "/function/fn/..?x=1",
       }) {
    INFO("target " << target);
    Route r = route_target(target);
    CHECK(r.kind == RouteKind::bad_request);
    CHECK_FALSE(r.error.empty());
  }
  SECTION("dots inside a segment are fine") {
    Route r = route_target("/function/fn/a..b/file.txt");
    CHECK(r.kind == RouteKind::function_sync);
    CHECK(r.path == "/a..b/file.txt");
    CHECK(route_target("/function/fn/...").kind == RouteKind::function_sync);
  }
}

TEST_CASE("router: invalid names are bad requests", "[router]") {
  for (const char* target : {"/function/a b", "/function/%2f", "/function/%2F", "/function/a%20b", "/function/a%2fb",
                             "/function/", "/function//x", "/function/a:b", "/function/a%00", "/function/caf%C3%A9",
                             "/async-function/a%2fb", "/publish-event/a b", "/wake-function/a%2f", "/status-function/%20"}) {
    INFO("target " << target);
    Route r = route_target(target);
    CHECK(r.kind == RouteKind::bad_request);
    CHECK_FALSE(r.error.empty());
  }
}

TEST_CASE("router: a target that is not origin-form is a bad request", "[router]") {
  for (const char* target : {"", "*", "function/fn", "http://example.com/function/fn", "example.com:80", "?x=1"}) {
    INFO("target '" << target << "'");
    Route r = route_target(target);
    CHECK(r.kind == RouteKind::bad_request);
    CHECK_FALSE(r.error.empty());
  }
}

TEST_CASE("router: to_string names every kind", "[router]") {
  CHECK(std::string(to_string(RouteKind::function_sync)) == "function");
  CHECK(std::string(to_string(RouteKind::async_callback)) == "async-function-callback");
  CHECK(std::string(to_string(RouteKind::not_found)) == "not-found");
  CHECK(std::string(to_string(RouteKind::bad_request)) == "bad-request");
}

TEST_CASE("percent_decode", "[router][percent]") {
  std::string out;
  SECTION("plain text passes through") {
    CHECK(percent_decode("abc-_.~", out));
    CHECK(out == "abc-_.~");
  }
  SECTION("empty input") {
    out = "stale";
    CHECK(percent_decode("", out));
    CHECK(out.empty());
  }
  SECTION("escapes, both cases") {
    CHECK(percent_decode("fib%31", out));
    CHECK(out == "fib1");
    CHECK(percent_decode("%2e%2E", out));
    CHECK(out == "..");
    CHECK(percent_decode("a%2Fb%2fc", out));
    CHECK(out == "a/b/c");
    CHECK(percent_decode("%41%42%43", out));
    CHECK(out == "ABC");
  }
  SECTION("escape at the very end") {
    CHECK(percent_decode("x%20", out));
    CHECK(out == "x ");
  }
  SECTION("encoded percent is not decoded twice") {
    CHECK(percent_decode("%2531", out));
    CHECK(out == "%31");
  }
  SECTION("NUL and high bytes") {
    CHECK(percent_decode("a%00b", out));
    CHECK(out == std::string("a\0b", 3));
    CHECK(percent_decode("%ff", out));
    CHECK(out == "\xff");
  }
  SECTION("'+' is not a space in a path") {
    CHECK(percent_decode("a+b", out));
    CHECK(out == "a+b");
  }
  SECTION("malformed") {
    for (const char* in : {"%", "%4", "a%", "a%4", "%zz", "%4z", "%z4", "%%", "%%41", "ok%g0", "%-1", "% 1"}) {
      INFO("input " << in);
      CHECK_FALSE(percent_decode(in, out));
    }
  }
}

TEST_CASE("is_valid_name", "[router][names]") {
  for (const char* name : {"a", "fn", "fibonacci1", "My-Fn_2", "a.b", "...", "a..b", "-", "_", "0"}) {
    INFO("name " << name);
    CHECK(is_valid_name(name));
  }
  for (const char* name : {"", ".", "..", "a b", "a/b", "a%31", "a:b", "a?b", "é", "a\n", "a\tb", "a@b", "a+b"}) {
    INFO("name " << name);
    CHECK_FALSE(is_valid_name(name));
  }
  CHECK_FALSE(is_valid_name(std::string("a\0b", 3)));
  CHECK(is_valid_name(std::string(253, 'a')));
  CHECK_FALSE(is_valid_name(std::string(254, 'a')));
}

TEST_CASE("router: /data/sets/<id> names one data set", "[router][data]") {
  SECTION("plain id") {
    Route r = route_target("/data/sets/my-usecase.session-123.state");
    CHECK(r.kind == RouteKind::data_set);
    CHECK(r.name == "my-usecase.session-123.state");
    CHECK(r.query.empty());
    CHECK(r.error.empty());
  }
  SECTION("trailing slash") {
    Route r = route_target("/data/sets/abc/");
    CHECK(r.kind == RouteKind::data_set);
    CHECK(r.name == "abc");
  }
  SECTION("the query is kept as received") {
    Route r = route_target("/data/sets/abc?ttl=60000");
    CHECK(r.kind == RouteKind::data_set);
    CHECK(r.name == "abc");
    CHECK(r.query == "?ttl=60000");
  }
  SECTION("the id is percent-decoded") {
    Route r = route_target("/data/sets/a%2Db");
    CHECK(r.kind == RouteKind::data_set);
    CHECK(r.name == "a-b");
  }
  SECTION("200 characters is the longest id") {
    Route r = route_target("/data/sets/" + std::string(200, 'x'));
    CHECK(r.kind == RouteKind::data_set);
    CHECK(r.name == std::string(200, 'x'));
  }
  SECTION("deeper paths (counters) are no route") {
    for (const char* target : {"/data/sets/abc/incr", "/data/sets/abc/incrby?by=2", "/data/sets/abc/x/y"}) {
      INFO("target " << target);
      CHECK(route_target(target).kind == RouteKind::not_found);
    }
  }
}

TEST_CASE("router: invalid data-set ids are bad requests with a reason", "[router][data]") {
  const std::string too_long = "/data/sets/" + std::string(201, 'x');
  for (const std::string& target : {too_long, std::string("/data/sets/a%20b"), std::string("/data/sets/a:b"),
                                   std::string("/data/sets/a%2fb"), std::string("/data/sets/caf%C3%A9"),
                                   std::string("/data/sets/.."), std::string("/data/sets/%2e"),
                                   std::string("/data/sets//"), std::string("/data/sets/a%zz"),
                                   std::string("/data/sets/a+b"), std::string("/data/sets/a@b")}) {
    INFO("target " << target);
    Route r = route_target(target);
    CHECK(r.kind == RouteKind::bad_request);
    CHECK_FALSE(r.error.empty());
  }
  CHECK(route_target(too_long).error.find("200") != std::string::npos);
}

TEST_CASE("router: /data/sets lists or takes the legacy create form", "[router][data]") {
  SECTION("bare") {
    for (const char* target : {"/data/sets", "/data/sets/"}) {
      INFO("target " << target);
      Route r = route_target(target);
      CHECK(r.kind == RouteKind::data_sets);
      CHECK(r.name.empty());
      CHECK(r.query.empty());
    }
  }
  SECTION("id and ttl in the query") {
    Route r = route_target("/data/sets?id=abc.1&ttl=5000");
    CHECK(r.kind == RouteKind::data_sets);
    CHECK(r.name == "abc.1");
    CHECK(r.query == "?id=abc.1&ttl=5000");
  }
  SECTION("an encoded id is decoded") {
    Route r = route_target("/data/sets/?ttl=1&id=a%5Fb");
    CHECK(r.kind == RouteKind::data_sets);
    CHECK(r.name == "a_b");
  }
  SECTION("an empty id asks for a generated one") {
    for (const char* target : {"/data/sets?id=", "/data/sets?id", "/data/sets?ttl=10"}) {
      INFO("target " << target);
      Route r = route_target(target);
      CHECK(r.kind == RouteKind::data_sets);
      CHECK(r.name.empty());
    }
  }
  SECTION("an invalid or malformed id is a bad request") {
    for (const char* target : {"/data/sets?id=a/b", "/data/sets?id=a+b", "/data/sets?id=%zz", "/data/sets?id=.."}) {
      INFO("target " << target);
      Route r = route_target(target);
      CHECK(r.kind == RouteKind::bad_request);
      CHECK_FALSE(r.error.empty());
    }
  }
  SECTION("near misses are other targets") {
    CHECK(route_target("/data/setsx").kind == RouteKind::not_found);
    CHECK(route_target("/data/set/abc").kind == RouteKind::not_found);
    CHECK(route_target("/data").kind == RouteKind::not_found);
    CHECK(route_target("/DATA/sets").kind == RouteKind::not_found);
  }
  CHECK(std::string(to_string(RouteKind::data_sets)) == "data-sets");
  CHECK(std::string(to_string(RouteKind::data_set)) == "data-set");
}

TEST_CASE("is_valid_data_id", "[router][data]") {
  for (const char* id : {"a", "0", "A-b_c.d", "...", "a..b", "-", "_"}) {
    INFO("id " << id);
    CHECK(is_valid_data_id(id));
  }
  for (const char* id : {"", ".", "..", "a b", "a/b", "a:b", "a+b", "a%31", "\xc3\xa9", "a\n"}) {
    INFO("id " << id);
    CHECK_FALSE(is_valid_data_id(id));
  }
  CHECK(is_valid_data_id(std::string(200, 'a')));
  CHECK_FALSE(is_valid_data_id(std::string(201, 'a')));
  CHECK_FALSE(is_valid_data_id(std::string("a\0b", 3)));
}

TEST_CASE("find_query_param", "[router][query]") {
  std::string value;
  SECTION("with or without the leading '?'") {
    CHECK(find_query_param("?a=1&b=2", "b", value) == QueryParam::found);
    CHECK(value == "2");
    CHECK(find_query_param("a=1&b=2", "a", value) == QueryParam::found);
    CHECK(value == "1");
  }
  SECTION("absent keys and prefixes of keys") {
    CHECK(find_query_param("", "a", value) == QueryParam::absent);
    CHECK(find_query_param("?", "a", value) == QueryParam::absent);
    CHECK(find_query_param("?ab=1&ba=2", "a", value) == QueryParam::absent);
  }
  SECTION("the first occurrence wins") {
    CHECK(find_query_param("?a=1&a=2", "a", value) == QueryParam::found);
    CHECK(value == "1");
  }
  SECTION("empty values") {
    value = "stale";
    CHECK(find_query_param("?a=&b=1", "a", value) == QueryParam::found);
    CHECK(value.empty());
    CHECK(find_query_param("?b=1&a", "a", value) == QueryParam::found);
    CHECK(value.empty());
  }
  SECTION("decoding: escapes and '+' as a space") {
    CHECK(find_query_param("?a=x%20y+z%2B", "a", value) == QueryParam::found);
    CHECK(value == "x y z+");
    CHECK(find_query_param("?a=x=y", "a", value) == QueryParam::found);
    CHECK(value == "x=y");
  }
  SECTION("malformed escapes") {
    CHECK(find_query_param("?a=%zz", "a", value) == QueryParam::malformed);
    // Only the value asked for is decoded.
    CHECK(find_query_param("?b=%zz&a=1", "a", value) == QueryParam::found);
  }
}

TEST_CASE("parse_positive_integer", "[router][query]") {
  CHECK(parse_positive_integer("1") == 1u);
  CHECK(parse_positive_integer("600000") == 600000u);
  CHECK(parse_positive_integer("007") == 7u);
  CHECK(parse_positive_integer("18446744073709551615") == 18446744073709551615ull);
  for (const char* text : {"", "0", "000", "-1", "+1", " 1", "1 ", "1.5", "1e3", "abc", "0x10",
                           "18446744073709551616", "99999999999999999999"}) {
    INFO("text '" << text << "'");
    CHECK(parse_positive_integer(text) == std::nullopt);
  }
}
