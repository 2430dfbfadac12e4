#pragma once
// net::Gateway implemented with actors: each call is a message to the
// function's actor; answers come back through callbacks the HTTP layer posts
// onto its own thread. Nothing here blocks.
#include <atomic>
#include <caf/all.hpp>
#include <memory>
#include <string>
#include <unordered_map>

#include "net/gateway.hpp"

namespace slimfaas::actors {

using FunctionTable = std::unordered_map<std::string, caf::actor>;

class ActorGateway final : public net::Gateway {
 public:
  ActorGateway() = default;

  void set_functions(std::shared_ptr<const FunctionTable> table) { table_.store(std::move(table)); }
  std::shared_ptr<const FunctionTable> functions() const { return table_.load(); }
  void set_api(caf::actor api) { api_ = std::move(api); }
  // Refuse new calls from now on (SIGTERM).
  void close() { closed_.store(true); }

  std::uint64_t acquire(const std::string& function, net::AdmissionCallback done) override;
  void cancel(const std::string& function, std::uint64_t ticket) override;
  void release(const std::string& function, std::uint64_t ticket, unsigned status) override;
  void handle(net::ApiRequest request, net::ApiCallback done) override;

 private:
  caf::actor find(const std::string& function) const;

  std::atomic<std::shared_ptr<const FunctionTable>> table_{std::make_shared<const FunctionTable>()};
  std::atomic<std::uint64_t> next_ticket_{1};
  std::atomic<bool> closed_{false};
  caf::actor api_;
};

}  // namespace slimfaas::actors
