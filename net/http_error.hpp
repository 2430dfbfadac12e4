#pragma once
// Every error the node answers is JSON {"error": "...", "detail": "..."}.
#include <string>
#include <string_view>

namespace slimfaas::net {

std::string error_body(std::string_view error, std::string_view detail);

}  // namespace slimfaas::net
