#include "actors/gateway.hpp"

#include "actors/messages.hpp"

namespace slimfaas::actors {

caf::actor ActorGateway::find(const std::string& function) const {
  auto table = table_.load();
  auto it = table->find(function);
  return it == table->end() ? caf::actor{} : it->second;
}

std::uint64_t ActorGateway::acquire(const std::string& function, net::AdmissionCallback done) {
  const std::uint64_t ticket = next_ticket_.fetch_add(1, std::memory_order_relaxed);
  net::Admission refused;
  if (closed_.load(std::memory_order_relaxed)) {
    refused.result = net::AdmissionResult::shutting_down;
    refused.detail = "the node is shutting down";
    done(std::move(refused));
    return ticket;
  }
  auto actor = find(function);
  if (!actor) {
    refused.result = net::AdmissionResult::unknown_function;
    refused.detail = "no function named '" + function + "'";
    done(std::move(refused));
    return ticket;
  }
  caf::anon_send(actor, acquire_atom::value, AcquireRequest{ticket, std::move(done)});
  return ticket;
}

void ActorGateway::cancel(const std::string& function, std::uint64_t ticket) {
  if (auto actor = find(function)) caf::anon_send(actor, cancel_atom::value, ticket);
}

void ActorGateway::release(const std::string& function, std::uint64_t ticket, unsigned status) {
  if (auto actor = find(function)) caf::anon_send(actor, release_atom::value, ticket, static_cast<std::uint32_t>(status));
}

void ActorGateway::handle(net::ApiRequest request, net::ApiCallback done) {
  caf::anon_send(api_, api_atom::value, ApiCall{std::move(request), std::move(done)});
}

}  // namespace slimfaas::actors
