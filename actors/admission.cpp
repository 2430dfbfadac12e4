#include "actors/admission.hpp"

#include <algorithm>

namespace slimfaas::actors {

AdmissionQueue::Offer AdmissionQueue::offer(std::uint64_t ticket, Clock::time_point deadline, Grant& grant) {
  if (waiting_.empty()) {
    if (auto replica = pick()) {
      admit(ticket, *replica);
      grant = Grant{ticket, *replica};
      return Offer::granted;
    }
  }
  if (waiting_.size() >= limits_.max_waiting) return Offer::queue_full;
  waiting_.push_back(Waiter{ticket, deadline});
  return Offer::queued;
}

std::vector<Grant> AdmissionQueue::release(std::uint64_t ticket) {
  auto it = in_flight_.find(ticket);
  if (it == in_flight_.end()) return {};
  for (auto& replica : replicas_) {
    if (replica.name == it->second) {
      replica.in_flight = std::max(0, replica.in_flight - 1);
      break;
    }
  }
  in_flight_.erase(it);
  return drain();
}

bool AdmissionQueue::cancel(std::uint64_t ticket, std::vector<Grant>& granted) {
  auto it = std::find_if(waiting_.begin(), waiting_.end(), [&](const Waiter& w) { return w.ticket == ticket; });
  if (it != waiting_.end()) {
    waiting_.erase(it);
    return true;
  }
  auto more = release(ticket);
  granted.insert(granted.end(), more.begin(), more.end());
  return false;
}

std::vector<Grant> AdmissionQueue::set_replicas(std::vector<ReplicaSlot> replicas) {
  for (auto& replica : replicas) {
    replica.in_flight = 0;
    for (const auto& [ticket, name] : in_flight_) {
      if (name == replica.name) ++replica.in_flight;
    }
  }
  replicas_ = std::move(replicas);
  if (cursor_ >= replicas_.size()) cursor_ = 0;
  return drain();
}

std::vector<std::uint64_t> AdmissionQueue::expire(Clock::time_point now) {
  std::vector<std::uint64_t> expired;
  for (auto it = waiting_.begin(); it != waiting_.end();) {
    if (it->deadline <= now) {
      expired.push_back(it->ticket);
      it = waiting_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

std::optional<Clock::time_point> AdmissionQueue::next_deadline() const {
  std::optional<Clock::time_point> next;
  for (const auto& w : waiting_) {
    if (!next || w.deadline < *next) next = w.deadline;
  }
  return next;
}

int AdmissionQueue::ready_replicas() const {
  return static_cast<int>(std::count_if(replicas_.begin(), replicas_.end(),
                                        [](const ReplicaSlot& r) { return r.ready && !r.draining; }));
}

std::optional<std::size_t> AdmissionQueue::pick() {
  if (in_flight() >= limits_.parallel || replicas_.empty()) return std::nullopt;
  std::optional<std::size_t> best;
  const std::size_t n = replicas_.size();
  for (std::size_t k = 0; k < n; ++k) {
    std::size_t i = (cursor_ + k) % n;
    const auto& r = replicas_[i];
    if (!r.ready || r.draining || r.in_flight >= limits_.per_pod) continue;
    if (!best || r.in_flight < replicas_[*best].in_flight) best = i;
  }
  if (best) cursor_ = (*best + 1) % n;
  return best;
}

void AdmissionQueue::admit(std::uint64_t ticket, std::size_t replica) {
  ++replicas_[replica].in_flight;
  in_flight_.emplace(ticket, replicas_[replica].name);
}

std::vector<Grant> AdmissionQueue::drain() {
  std::vector<Grant> granted;
  while (!waiting_.empty()) {
    auto replica = pick();
    if (!replica) break;
    auto ticket = waiting_.front().ticket;
    waiting_.pop_front();
    admit(ticket, *replica);
    granted.push_back(Grant{ticket, *replica});
  }
  return granted;
}

}  // namespace slimfaas::actors
