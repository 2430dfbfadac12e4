#include "k8s/static_backend.hpp"

#include <charconv>
#include <nlohmann/json.hpp>
#include <set>

namespace slimfaas::k8s {
namespace {

using nlohmann::json;

void replace_all(std::string& text, const std::string& from, const std::string& to) {
  for (auto pos = text.find(from); pos != std::string::npos; pos = text.find(from, pos + to.size())) {
    text.replace(pos, from.size(), to);
  }
}

// Top-level shorthands SlimFaas accepts on a mock function entry.
const std::pair<const char*, const char*> shorthand_fields[] = {
    {"NumberParallelRequest", "SlimFaas/NumberParallelRequest"},
    {"NumberParallelRequestPerPod", "SlimFaas/NumberParallelRequestPerPod"},
    {"ReplicasMin", "SlimFaas/ReplicasMin"},
    {"ReplicasAtStart", "SlimFaas/ReplicasAtStart"},
    {"TimeoutSecondBeforeSetReplicasMin", "SlimFaas/TimeoutSecondBeforeSetReplicasMin"},
};

}  // namespace

Endpoint parse_http_url(const std::string& url) {
  const std::string scheme = "http://";
  if (url.rfind(scheme, 0) != 0) throw std::invalid_argument("'" + url + "' is not an http:// URL");
  std::string rest = url.substr(scheme.size());
  if (auto slash = rest.find('/'); slash != std::string::npos) {
    if (rest.find_first_not_of('/', slash) != std::string::npos) {
      throw std::invalid_argument("'" + url + "' must not carry a path");
    }
    rest = rest.substr(0, slash);
  }
  Endpoint endpoint;
  endpoint.port = 80;
  std::string port;
  bool has_port = false;
  if (!rest.empty() && rest.front() == '[') {  // [IPv6]:port
    auto close = rest.find(']');
    if (close == std::string::npos) throw std::invalid_argument("'" + url + "' has an unterminated IPv6 address");
    std::string after = rest.substr(close + 1);
    if (!after.empty()) {
      if (after.front() != ':') throw std::invalid_argument("'" + url + "' has text after the IPv6 address");
      port = after.substr(1);
      has_port = true;
    }
    rest = rest.substr(1, close - 1);
  } else if (auto colon = rest.rfind(':'); colon != std::string::npos) {
    port = rest.substr(colon + 1);
    rest = rest.substr(0, colon);
    has_port = true;
  }
  if (has_port) {
    unsigned value = 0;
    auto [end, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || ec != std::errc{} || end != port.data() + port.size() || value == 0 || value > 65535) {
      throw std::invalid_argument("'" + url + "' has an invalid port");
    }
    endpoint.port = static_cast<std::uint16_t>(value);
  }
  if (rest.empty()) throw std::invalid_argument("'" + url + "' has no host");
  endpoint.host = rest;
  return endpoint;
}

StaticBackend::StaticBackend(const std::string& functions_json, const std::string& base_function_url,
                             const std::string& name_space) {
  json doc = json::parse(functions_json, nullptr, false);
  if (doc.is_discarded() || !doc.is_object()) throw std::invalid_argument("not a JSON object");
  auto list = doc.find("Functions");
  if (list == doc.end() || !list->is_array()) throw std::invalid_argument("\"Functions\" must be an array");
  std::set<std::string> seen;
  for (std::size_t i = 0; i < list->size(); ++i) {
    const json& entry = (*list)[i];
    const std::string where = "Functions[" + std::to_string(i) + "]";
    if (!entry.is_object()) throw std::invalid_argument(where + " must be an object");
    auto name_it = entry.find("Name");
    if (name_it == entry.end() || !name_it->is_string() || name_it->get<std::string>().empty()) {
      throw std::invalid_argument(where + ".Name must be a non-empty string");
    }
    FunctionDefinition fn;
    fn.name = name_it->get<std::string>();
    if (!seen.insert(fn.name).second) throw std::invalid_argument(where + ": duplicate function '" + fn.name + "'");
    fn.annotations[function_annotation] = "true";
    for (const auto& [field, annotation] : shorthand_fields) {
      if (auto it = entry.find(field); it != entry.end()) {
        fn.annotations[annotation] = it->is_string() ? it->get<std::string>() : it->dump();
      }
    }
    if (auto it = entry.find("Annotations"); it != entry.end()) {
      if (!it->is_object()) throw std::invalid_argument(where + ".Annotations must be an object");
      for (const auto& [key, value] : it->items()) {
        fn.annotations[key] = value.is_string() ? value.get<std::string>() : value.dump();
      }
    }
    std::vector<std::string> urls;
    if (auto it = entry.find("Urls"); it != entry.end()) {
      if (!it->is_array() || it->empty()) throw std::invalid_argument(where + ".Urls must be a non-empty array");
      for (const auto& url : *it) {
        if (!url.is_string()) throw std::invalid_argument(where + ".Urls must hold strings");
        urls.push_back(url.get<std::string>());
      }
    } else {
      std::string url = base_function_url;
      replace_all(url, "{function_name}", fn.name);
      replace_all(url, "{pod_ip}", fn.name);
      replace_all(url, "{pod_name}", fn.name);
      replace_all(url, "{namespace}", name_space);
      replace_all(url, "{pod_port}", "8080");
      urls.push_back(url);
    }
    for (std::size_t r = 0; r < urls.size(); ++r) {
      Endpoint endpoint;
      try {
        endpoint = parse_http_url(urls[r]);
      } catch (const std::invalid_argument& e) {
        throw std::invalid_argument(where + ".Urls[" + std::to_string(r) + "]: " + e.what());
      }
      fn.replicas.push_back(Replica{fn.name + "-" + std::to_string(r), endpoint.host, endpoint.port, true});
    }
    fn.config = parse_annotations(fn.annotations);
    functions_.push_back(std::move(fn));
  }
}

}  // namespace slimfaas::k8s
