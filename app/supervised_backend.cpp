#include "app/supervised_backend.hpp"

#include <caf/io/all.hpp>
#include <spdlog/spdlog.h>
#include <stdexcept>
#include <thread>

#include "actors/local_supervisor_actor.hpp"

namespace slimfaas::app {
namespace {

using Shared = SupervisedBackend::Shared;

void deliver(const std::shared_ptr<Shared>& shared, const std::string& function, std::vector<k8s::Replica> replicas) {
  k8s::ReplicaBackend::Listener listener;
  {
    std::lock_guard lock(shared->mutex);
    if (shared->stopped) return;
    shared->latest[function] = replicas;
    listener = shared->listener;
  }
  if (listener) listener(function, std::move(replicas));
}

caf::behavior relay(caf::event_based_actor*, std::shared_ptr<Shared> shared) {
  return {
      [shared](actors::replicas_atom, const std::string& function, actors::ReplicaList& replicas) {
        deliver(shared, function, std::move(replicas));
      },
  };
}

}  // namespace

SupervisedBackend::SupervisedBackend(caf::actor_system& system, const std::string& host, std::uint16_t port,
                                     const std::string& token, std::chrono::seconds wait) {
  const auto deadline = std::chrono::steady_clock::now() + wait;
  caf::expected<caf::actor> supervisor = caf::sec::cannot_connect_to_node;
  for (;;) {
    supervisor = system.middleman().remote_actor(host, port);
    if (supervisor || std::chrono::steady_clock::now() >= deadline) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(100));  // start-up only, before serving
  }
  if (!supervisor)
    throw std::runtime_error("cannot reach the local supervisor at " + host + ":" + std::to_string(port) + ": " +
                             system.render(supervisor.error()));
  relay_ = system.spawn(relay, shared_);
  caf::scoped_actor self{system};
  std::string failure;
  self->request(*supervisor, std::chrono::seconds(10), actors::join_atom::value, token, relay_)
      .receive(
          [&](actors::LocalCatalog& catalog) {
            scaler_ = catalog.scaler;
            for (auto& f : catalog.functions) {
              k8s::FunctionDefinition d;
              d.name = f.name;
              d.annotations = f.annotations;
              d.config = k8s::parse_annotations(f.annotations);
              d.replicas = f.replicas;
              shared_->latest[f.name] = f.replicas;
              functions_.push_back(std::move(d));
            }
          },
          [&](caf::error& e) { failure = system.render(e); });
  if (!failure.empty()) {
    caf::anon_send_exit(relay_, caf::exit_reason::user_shutdown);
    throw std::runtime_error("the local supervisor refused this node: " + failure);
  }
  spdlog::info("joined the local supervisor at {}:{} ({} function(s))", host, port, functions_.size());
}

SupervisedBackend::~SupervisedBackend() { stop(); }

void SupervisedBackend::set_listener(Listener listener) {
  std::map<std::string, std::vector<k8s::Replica>> latest;
  {
    std::lock_guard lock(shared_->mutex);
    shared_->listener = listener;
    latest = shared_->latest;
  }
  // What arrived before the listener was set is not lost.
  if (listener)
    for (auto& [function, replicas] : latest) listener(function, std::move(replicas));
}

void SupervisedBackend::stop() {
  {
    std::lock_guard lock(shared_->mutex);
    if (shared_->stopped) return;
    shared_->stopped = true;
    shared_->listener = nullptr;
  }
  if (relay_) caf::anon_send_exit(relay_, caf::exit_reason::user_shutdown);
}

}  // namespace slimfaas::app
