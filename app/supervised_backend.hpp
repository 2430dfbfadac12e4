#pragma once
// A node of a local cluster with several nodes: its functions and replicas
// come from the `slimfaas local up` supervisor (actors/local_supervisor_actor),
// which owns the processes and the scaler. This backend joins it, keeps the
// catalog, and relays replica changes to the node's listener.
#include <caf/all.hpp>
#include <chrono>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "k8s/replica_backend.hpp"

namespace slimfaas::app {

class SupervisedBackend final : public k8s::ReplicaBackend {
 public:
  // Connects to the supervisor at host:port and joins with `token`, retrying
  // for up to `wait`. Throws std::runtime_error saying why it could not.
  SupervisedBackend(caf::actor_system& system, const std::string& host, std::uint16_t port, const std::string& token,
                    std::chrono::seconds wait);
  ~SupervisedBackend() override;

  const char* kind() const override { return "local supervisor"; }
  std::vector<k8s::FunctionDefinition> functions() const override { return functions_; }
  // The supervisor's scaler decides; this node only serves.
  void scale(const std::string&, int) override {}
  void set_listener(Listener listener) override;
  void stop() override;

  // The supervisor's scaler, for this node's function actors.
  const caf::actor& scaler() const { return scaler_; }

  struct Shared {
    std::mutex mutex;
    Listener listener;
    std::map<std::string, std::vector<k8s::Replica>> latest;
    bool stopped = false;
  };

 private:
  std::shared_ptr<Shared> shared_ = std::make_shared<Shared>();
  caf::actor relay_;
  caf::actor scaler_;
  std::vector<k8s::FunctionDefinition> functions_;
};

}  // namespace slimfaas::app
