#include "actors/gateway.hpp"

#include "actors/messages.hpp"

namespace slimfaas::actors {

std::optional<net::Admission> ActorGateway::try_acquire_now(const std::string& function) {
  net::Admission refused;
  if (closed_.load(std::memory_order_relaxed)) {
    refused.result = net::AdmissionResult::shutting_down;
    refused.detail = "the node is shutting down";
    return refused;
  }
  auto table = functions();
  auto it = table->find(function);
  if (it == table->end()) {
    refused.result = net::AdmissionResult::unknown_function;
    refused.detail = "no function named '" + function + "'";
    return refused;
  }
  const FunctionHandle& handle = it->second;
  AdmissionBoard& board = *handle.board;
  board.touch();
  if (board.open()) {
    if (auto replica = board.try_claim()) {
      return grant_admission(handle, std::move(replica), Clock::now() + board.sync_timeout());
    }
  }
  return std::nullopt;
}

std::uint64_t ActorGateway::acquire(const std::string& function, net::AdmissionCallback done) {
  const std::uint64_t ticket = next_ticket_.fetch_add(1, std::memory_order_relaxed);
  auto table = functions();
  auto it = table->find(function);
  if (it == table->end()) {
    net::Admission refused;
    refused.result = net::AdmissionResult::unknown_function;
    refused.detail = "no function named '" + function + "'";
    done(std::move(refused));
    return ticket;
  }
  caf::anon_send(it->second.actor, acquire_atom::value, AcquireRequest{ticket, std::move(done)});
  return ticket;
}

void ActorGateway::cancel(const std::string& function, std::uint64_t ticket) {
  auto table = functions();
  if (auto it = table->find(function); it != table->end()) caf::anon_send(it->second.actor, cancel_atom::value, ticket);
}

void ActorGateway::handle(net::ApiRequest request, net::ApiCallback done) {
  caf::anon_send(api_, api_atom::value, ApiCall{std::move(request), std::move(done)});
}

}  // namespace slimfaas::actors
