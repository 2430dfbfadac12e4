#include "actors/slimdata_http.hpp"

#include <string>

#include "net/http_error.hpp"

namespace slimfaas::actors {

net::ApiResponse json_error(unsigned status, std::string_view code, std::string_view detail) {
  net::ApiResponse r;
  r.status = status;
  r.body = net::error_body(code, detail);
  r.error = code;
  return r;
}

net::ApiResponse slimdata_refusal(const SlimDataReply& reply, std::string_view what) {
  using Status = SlimDataReply::Status;
  auto detail = [&](const std::string& fallback) { return reply.detail.empty() ? fallback : reply.detail; };
  switch (reply.status) {
    case Status::no_quorum:
      return json_error(503, "no_quorum",
                        detail("SlimData has no leader or quorum right now; " + std::string(what) + " was not stored"));
    case Status::too_large:
      return json_error(413, "payload_too_large", detail(std::string(what) + " exceeds SlimData's entry limit"));
    case Status::overloaded: {
      auto r = json_error(429, "slimdata_overloaded", detail("too many SlimData proposals are waiting"));
      r.headers.emplace_back("Retry-After", "1");
      return r;
    }
    case Status::failed:
    case Status::ok:
      break;
  }
  return json_error(500, "slimdata_failed", detail("SlimData failed"));
}

net::ApiResponse slimdata_unavailable(std::string_view needed_for) {
  return json_error(503, "slimdata_unavailable",
                    std::string(needed_for) + " SlimData, which is not configured on this node (see docs/configuration.md)");
}

}  // namespace slimfaas::actors
