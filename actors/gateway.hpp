#pragma once
// net::Gateway implemented with actors. A call that finds a free slot and
// nobody waiting takes it from the function's AdmissionBoard directly; any
// other call is a message to the function's actor, answered through a
// callback the HTTP layer posts onto its own thread. Nothing here blocks.
#include <atomic>
#include <memory>
#include <string>
#include <unordered_map>

#include "actors/function_actor.hpp"
#include "net/gateway.hpp"

namespace slimfaas::actors {

using FunctionTable = std::unordered_map<std::string, FunctionHandle>;

class ActorGateway final : public net::Gateway {
 public:
  ActorGateway() = default;

  void set_functions(std::shared_ptr<const FunctionTable> table) { std::atomic_store(&table_, std::move(table)); }
  std::shared_ptr<const FunctionTable> functions() const { return std::atomic_load(&table_); }
  void set_api(caf::actor api) { api_ = std::move(api); }
  // Refuse new calls from now on (SIGTERM).
  void close() { closed_.store(true); }

  std::optional<net::Admission> try_acquire_now(const std::string& function) override;
  std::uint64_t acquire(const std::string& function, net::AdmissionCallback done) override;
  void cancel(const std::string& function, std::uint64_t ticket) override;
  void handle(net::ApiRequest request, net::ApiCallback done) override;

 private:
  std::shared_ptr<const FunctionTable> table_ = std::make_shared<const FunctionTable>();
  std::atomic<std::uint64_t> next_ticket_{1};
  std::atomic<bool> closed_{false};
  caf::actor api_;
};

}  // namespace slimfaas::actors
