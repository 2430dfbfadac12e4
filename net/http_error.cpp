#include "net/http_error.hpp"

#include <nlohmann/json.hpp>

namespace slimfaas::net {

std::string error_body(std::string_view error, std::string_view detail) {
  nlohmann::json body{{"error", error}, {"detail", detail}};
  return body.dump();
}

}  // namespace slimfaas::net
