#pragma once
// Functions at fixed addresses (docker-compose, or any plain machine), from
// SlimFaas's MOCK_KUBERNETES_FUNCTIONS JSON:
//   {"Functions":[{"Name":"fibonacci1","NumberParallelRequest":1,
//                  "Annotations":{"SlimFaas/...":"..."},
//                  "Urls":["http://10.0.0.5:8080"]}]}
// Without Urls, a function is reached at BASE_FUNCTION_URL with
// {function_name}/{pod_ip} = its name, {namespace}, and {pod_port} = 8080.
#include <stdexcept>

#include "k8s/replica_backend.hpp"

namespace slimfaas::k8s {

struct Endpoint {
  std::string host;
  std::uint16_t port = 0;
};

// Parses "http://host[:port][/]"; throws std::invalid_argument.
Endpoint parse_http_url(const std::string& url);

class StaticBackend final : public ReplicaBackend {
 public:
  // Throws std::invalid_argument with a message naming the bad field.
  StaticBackend(const std::string& functions_json, const std::string& base_function_url, const std::string& name_space);
  const char* kind() const override { return "static"; }
  std::vector<FunctionDefinition> functions() const override { return functions_; }
  void scale(const std::string&, int) override {}

 private:
  std::vector<FunctionDefinition> functions_;
};

}  // namespace slimfaas::k8s
