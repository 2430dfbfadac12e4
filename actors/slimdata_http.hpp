#pragma once
// What a SlimData refusal means over HTTP, in one place for every route
// that goes through SlimData (data sets, async calls, callbacks).
#include <string_view>

#include "actors/slimdata.hpp"
#include "net/gateway.hpp"

namespace slimfaas::actors {

// A JSON error answer {"error": code, "detail": detail}.
net::ApiResponse json_error(unsigned status, std::string_view code, std::string_view detail);

// no_quorum -> 503, too_large -> 413, overloaded -> 429 with Retry-After,
// failed -> 500. `what` names the thing refused ("the call", "the value"),
// for the details given when SlimData gave none.
net::ApiResponse slimdata_refusal(const SlimDataReply& reply, std::string_view what);

// 503: SlimData is not configured on this node; `needed_for` says what needs it.
net::ApiResponse slimdata_unavailable(std::string_view needed_for);

}  // namespace slimfaas::actors
