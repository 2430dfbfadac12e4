#pragma once
// Classifies a request target into one of the node's routes. Pure: no I/O,
// so every rule (traversal, percent-encoding, names) is unit-tested directly.
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
  not_found,
  bad_request,
};

struct Route {
  RouteKind kind = RouteKind::not_found;
  std::string name;        // function or event name, percent-decoded
  std::string path = "/";  // path forwarded to the function, as received (still encoded)
  std::string query;       // "?a=b" or empty, forwarded as received
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

const char* to_string(RouteKind kind);

}  // namespace slimfaas::net
