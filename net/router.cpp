#include "net/router.hpp"

#include <array>
#include <limits>
#include <utility>

namespace slimfaas::net {
namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

Route bad(std::string why) {
  Route r;
  r.kind = RouteKind::bad_request;
  r.error = std::move(why);
  return r;
}

// Splits "a/b/c" on the first '/', returning the head and leaving the tail.
std::string_view take_segment(std::string_view& rest) {
  auto slash = rest.find('/');
  std::string_view head = rest.substr(0, slash);
  rest = slash == std::string_view::npos ? std::string_view{} : rest.substr(slash + 1);
  return head;
}

// Every segment of the forwarded path must decode cleanly and must not climb
// out of the function's root: "/function/a/../b" could otherwise reach
// another function through an upstream that normalizes paths.
bool check_path(std::string_view path, std::string& error) {
  std::string decoded;
  std::string_view rest = path;
  while (!rest.empty()) {
    std::string_view segment = take_segment(rest);
    if (!percent_decode(segment, decoded)) {
      error = "malformed percent-encoding in path";
      return false;
    }
    if (decoded == ".." || decoded == ".") {
      error = "path traversal segments are not allowed";
      return false;
    }
    if (decoded.find('/') != std::string::npos && decoded.find("..") != std::string::npos) {
      error = "path traversal segments are not allowed";
      return false;
    }
  }
  return true;
}

struct Prefix {
  std::string_view text;
  RouteKind kind;
};

constexpr std::array<Prefix, 6> named_routes{{
    {"/function/", RouteKind::function_sync},
    {"/async-function/", RouteKind::function_async},
    {"/publish-event/", RouteKind::publish_event},
    {"/wake-function/", RouteKind::wake_function},
    {"/status-function/", RouteKind::status_function},
    {"/async-function-callback/", RouteKind::async_callback},
}};

constexpr std::array<Prefix, 7> exact_routes{{
    {"/health", RouteKind::health},
    {"/metrics", RouteKind::metrics},
    {"/status-functions", RouteKind::status_functions},
    {"/wake-functions", RouteKind::wake_functions},
    {"/debug/actors", RouteKind::debug_actors},
    {"/debug/raft", RouteKind::debug_raft},
    {"/", RouteKind::not_found},
}};

constexpr std::string_view data_sets_path = "/data/sets";
constexpr std::size_t max_data_id_length = 200;

// /data/sets[/] and /data/sets/<id>[/]; anything deeper (SlimFaas's counter
// routes, /data/sets/<id>/incr...) is no route here.
Route route_data_sets(std::string_view path, std::string_view query) {
  std::string_view rest = path.substr(data_sets_path.size());
  Route r;
  r.query = std::string(query);
  if (rest.empty() || rest == "/") {
    r.kind = RouteKind::data_sets;
    std::string id;
    switch (find_query_param(query, "id", id)) {
      case QueryParam::malformed: return bad("malformed percent-encoding in query");
      case QueryParam::found:
        // An empty id asks for a generated one (SlimFaas's legacy form).
        if (!id.empty() && !is_valid_data_id(id)) {
          return bad("invalid id '" + id + "': use 1 to 200 letters, digits, '.', '_' or '-'");
        }
        r.name = std::move(id);
        break;
      case QueryParam::absent: break;
    }
    return r;
  }
  rest.remove_prefix(1);  // the '/' after /data/sets
  std::string_view segment = take_segment(rest);
  if (!rest.empty()) return Route{};
  r.kind = RouteKind::data_set;
  if (!percent_decode(segment, r.name)) return bad("malformed percent-encoding in id");
  if (!is_valid_data_id(r.name)) {
    return bad("invalid id '" + r.name + "': use 1 to 200 letters, digits, '.', '_' or '-'");
  }
  return r;
}

}  // namespace

bool is_valid_data_id(std::string_view id) {
  if (id.empty() || id.size() > max_data_id_length) return false;
  for (char c : id) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
              c == '.';
    if (!ok) return false;
  }
  return id != "." && id != "..";
}

QueryParam find_query_param(std::string_view query, std::string_view key, std::string& value) {
  if (!query.empty() && query.front() == '?') query.remove_prefix(1);
  while (!query.empty()) {
    auto amp = query.find('&');
    std::string_view pair = query.substr(0, amp);
    query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
    auto eq = pair.find('=');
    if (pair.substr(0, eq) != key) continue;
    std::string encoded(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    for (char& c : encoded) {
      if (c == '+') c = ' ';
    }
    return percent_decode(encoded, value) ? QueryParam::found : QueryParam::malformed;
  }
  return QueryParam::absent;
}

std::optional<std::uint64_t> parse_positive_integer(std::string_view text) {
  if (text.empty()) return std::nullopt;
  std::uint64_t value = 0;
  for (char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    const std::uint64_t digit = static_cast<std::uint64_t>(c - '0');
    if (value > (std::numeric_limits<std::uint64_t>::max() - digit) / 10) return std::nullopt;
    value = value * 10 + digit;
  }
  if (value == 0) return std::nullopt;
  return value;
}

bool percent_decode(std::string_view in, std::string& out) {
  out.clear();
  out.reserve(in.size());
  for (std::size_t i = 0; i < in.size(); ++i) {
    char c = in[i];
    if (c != '%') {
      out.push_back(c);
      continue;
    }
    if (i + 2 >= in.size()) return false;
    int hi = hex_value(in[i + 1]);
    int lo = hex_value(in[i + 2]);
    if (hi < 0 || lo < 0) return false;
    out.push_back(static_cast<char>(hi * 16 + lo));
    i += 2;
  }
  return true;
}

bool is_valid_name(std::string_view name) {
  if (name.empty() || name.size() > 253) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.';
    if (!ok) return false;
  }
  return name != "." && name != "..";
}

Route route_target(std::string_view target) {
  if (target.empty() || target.front() != '/') return bad("request target must be a path");
  std::string_view path = target;
  std::string_view query;
  if (auto q = target.find('?'); q != std::string_view::npos) {
    path = target.substr(0, q);
    query = target.substr(q);
  }

  if (path.substr(0, data_sets_path.size()) == data_sets_path &&
      (path.size() == data_sets_path.size() || path[data_sets_path.size()] == '/')) {
    return route_data_sets(path, query);
  }

  for (const auto& exact : exact_routes) {
    if (path == exact.text || (path.size() == exact.text.size() + 1 && path.back() == '/' &&
                               path.substr(0, exact.text.size()) == exact.text)) {
      Route r;
      r.kind = exact.kind;
      return r;
    }
  }

  for (const auto& prefix : named_routes) {
    if (path.substr(0, prefix.text.size()) != prefix.text) continue;
    std::string_view rest = path.substr(prefix.text.size());
    Route r;
    r.kind = prefix.kind;
    if (!percent_decode(take_segment(rest), r.name)) return bad("malformed percent-encoding in name");
    if (!is_valid_name(r.name)) return bad("invalid name '" + r.name + "'");

    if (prefix.kind == RouteKind::async_callback) {
      std::string_view element = take_segment(rest);
      std::string_view status = take_segment(rest);
      if (element.empty() || status.empty() || !rest.empty()) {
        return bad("expected /async-function-callback/<function>/<element-id>/<status>");
      }
      r.element_id = std::string(element);
      r.status = std::string(status);
      return r;
    }
    if (prefix.kind == RouteKind::wake_function || prefix.kind == RouteKind::status_function) {
      if (!rest.empty()) return Route{};  // extra segments: no such route
      return r;
    }
    std::string error;
    if (!check_path(rest, error)) return bad(std::move(error));
    r.path = "/";
    r.path.append(rest);
    r.query = std::string(query);
    return r;
  }
  return Route{};
}

const char* to_string(RouteKind kind) {
  switch (kind) {
    case RouteKind::function_sync: return "function";
    case RouteKind::function_async: return "async-function";
    case RouteKind::async_callback: return "async-function-callback";
    case RouteKind::publish_event: return "publish-event";
    case RouteKind::wake_function: return "wake-function";
    case RouteKind::wake_functions: return "wake-functions";
    case RouteKind::status_function: return "status-function";
    case RouteKind::status_functions: return "status-functions";
    case RouteKind::health: return "health";
    case RouteKind::metrics: return "metrics";
    case RouteKind::debug_actors: return "debug-actors";
    case RouteKind::debug_raft: return "debug-raft";
    case RouteKind::data_sets: return "data-sets";
    case RouteKind::data_set: return "data-set";
    case RouteKind::not_found: return "not-found";
    case RouteKind::bad_request: return "bad-request";
  }
  return "unknown";
}

}  // namespace slimfaas::net
