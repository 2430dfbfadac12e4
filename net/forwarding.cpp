#include "net/forwarding.hpp"

#include <boost/beast/core/string.hpp>

#include <string>
#include <vector>

namespace slimfaas::net {
namespace http = boost::beast::http;

namespace {

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

bool beast_iequals(std::string_view a, std::string_view b) { return boost::beast::iequals(a, b); }

}  // namespace

void strip_hop_by_hop(http::fields& fields) {
  std::vector<std::string> named;
  for (auto it = fields.find(http::field::connection); it != fields.end() && it->name() == http::field::connection;
       ++it) {
    std::string_view value = it->value();
    while (!value.empty()) {
      auto comma = value.find(',');
      std::string_view token = trim(value.substr(0, comma));
      if (!token.empty()) named.emplace_back(token);
      value = comma == std::string_view::npos ? std::string_view{} : value.substr(comma + 1);
    }
  }
  for (const auto& name : named) fields.erase(name);
  for (auto field : {http::field::connection, http::field::keep_alive, http::field::proxy_connection, http::field::te,
                     http::field::trailer, http::field::transfer_encoding, http::field::upgrade,
                     http::field::proxy_authenticate, http::field::proxy_authorization}) {
    fields.erase(field);
  }
}

void add_forwarded(http::fields& fields, std::string_view client_ip, std::string_view proto) {
  // Earlier proxies may have sent the chain over several lines: keep all.
  std::string chain;
  for (auto it = fields.find("X-Forwarded-For"); it != fields.end() && beast_iequals(it->name_string(), "X-Forwarded-For");
       ++it) {
    chain.append(it->value());
    chain += ", ";
  }
  chain += client_ip;
  fields.set("X-Forwarded-For", chain);
  if (fields.find("X-Forwarded-Host") == fields.end()) {
    auto host = fields.find(http::field::host);
    if (host != fields.end()) fields.set("X-Forwarded-Host", host->value());
  }
  if (fields.find("X-Forwarded-Proto") == fields.end()) fields.set("X-Forwarded-Proto", proto);
}

}  // namespace slimfaas::net
