#pragma once
// Header rules for a reverse proxy (RFC 9110 §7.6.1): hop-by-hop fields stay
// on their hop, and the function learns who called through X-Forwarded-*.
#include <boost/beast/http/fields.hpp>
#include <string_view>

namespace slimfaas::net {

// Removes Connection, Keep-Alive, Proxy-Connection, TE, Trailer,
// Transfer-Encoding, Upgrade, Proxy-Authenticate, Proxy-Authorization and
// every field that Connection names.
void strip_hop_by_hop(boost::beast::http::fields& fields);

// Appends the client to X-Forwarded-For and sets X-Forwarded-Host (from the
// original Host, unless a previous proxy set it) and X-Forwarded-Proto.
void add_forwarded(boost::beast::http::fields& fields, std::string_view client_ip, std::string_view proto);

}  // namespace slimfaas::net
