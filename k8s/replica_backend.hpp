#pragma once
// Where function replicas come from. Kubernetes, local processes and static
// (docker-compose) addresses all sit behind this interface; the control plane
// decides, the backend executes and reports what exists.
#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "k8s/function_config.hpp"

namespace slimfaas::k8s {

struct Replica {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  bool ready = false;
};

struct FunctionDefinition {
  std::string name;
  std::string pod_type = "Deployment";
  Annotations annotations;
  FunctionConfig config;
  std::vector<Replica> replicas;
};

class ReplicaBackend {
 public:
  virtual ~ReplicaBackend() = default;
  virtual const char* kind() const = 0;
  // The managed functions and their replicas as the backend sees them now.
  virtual std::vector<FunctionDefinition> functions() const = 0;
  // Requests `replicas` replicas. Backends with fixed replicas ignore it.
  // Scaling down removes the highest-indexed replicas, which the backend
  // lists last (the scaler drains exactly those first).
  virtual void scale(const std::string& function, int replicas) = 0;
  // Whether scale() does anything (false: fixed replicas, no scaler runs).
  virtual bool scalable() const { return false; }

  // Called whenever a function's replica list or the readiness of one of its
  // replicas changes, with the function's full replica list. Backends call it
  // from their own thread; backends whose replicas never change ignore it.
  using Listener = std::function<void(const std::string& function, std::vector<Replica> replicas)>;
  virtual void set_listener(Listener listener) { (void)listener; }

  // Stops every replica the backend started and its own threads; no
  // listener call happens after it returns. Idempotent.
  virtual void stop() {}
};

}  // namespace slimfaas::k8s
