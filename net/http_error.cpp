#include "net/http_error.hpp"

#include <nlohmann/json.hpp>

namespace slimfaas::net {

std::string error_body(std::string_view error, std::string_view detail) {
  nlohmann::json body{{"error", error}, {"detail", detail}};
  // Details may quote what a client sent; invalid UTF-8 must not throw.
  return body.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

}  // namespace slimfaas::net
