#pragma once
// Classifies a request target into one of the node's routes. Pure: no I/O,
// so every rule (traversal, percent-encoding, names) is unit-tested directly.
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace slimfaas::net {

enum class RouteKind {
  function_sync,     // /function/<fn>[/<path>]
  function_async,    // /async-function/<fn>[/<path>]
  async_callback,    // /async-function-callback/<fn>/<element-id>/<status>
  publish_event,     // /publish-event/<event>[/<path>]
  wake_function,     // /wake-function/<fn>
  wake_functions,    // /wake-functions
  status_function,   // /status-function/<fn>
  status_functions,  // /status-functions
  health,
  metrics,
  debug_actors,
  debug_raft,
  data_sets,         // /data/sets[?id=<id>&ttl=<ms>]: list, or the legacy create form (name = the id, if given)
  data_set,          // /data/sets/<id>: create/overwrite, read, delete (name = the id)
  not_found,
  bad_request,
};

struct Route {
  RouteKind kind = RouteKind::not_found;
  std::string name;        // function or event name, or data-set id; percent-decoded
  std::string path = "/";  // path forwarded to the function, as received (still encoded)
  std::string query;       // "?a=b" or empty, as received (function and data-set routes)
  std::string element_id;  // async callback only
  std::string status;      // async callback only
  std::string error;       // why a bad_request was refused
};

// Parses an origin-form request target ("/function/fib/x?y=1").
Route route_target(std::string_view target);

// Decodes %XX escapes. Returns false on a malformed escape.
bool percent_decode(std::string_view in, std::string& out);

// A function, event or job name: letters, digits, '-', '_' and '.'.
bool is_valid_name(std::string_view name);

// A data-set id: 1 to 200 letters, digits, '.', '_' and '-' (SlimFaas's
// rule), but not "." or "..", which would read as path traversal.
bool is_valid_data_id(std::string_view id);

enum class QueryParam { absent, found, malformed };

// Finds `key` in a query string ("?a=1&b=2" or "a=1&b=2"); the first
// occurrence wins. The value is percent-decoded with '+' read as a space
// (form encoding); "?a" and "?a=" both give an empty value.
QueryParam find_query_param(std::string_view query, std::string_view key, std::string& value);

// Parses decimal digits only (no sign, no spaces) into a value > 0 that fits
// 64 bits; nullopt otherwise.
std::optional<std::uint64_t> parse_positive_integer(std::string_view text);

const char* to_string(RouteKind kind);

}  // namespace slimfaas::net
