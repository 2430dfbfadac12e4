#include "actors/admission.hpp"

#include <algorithm>

namespace slimfaas::actors {

std::shared_ptr<ReplicaLoad> AdmissionBoard::try_claim() {
  int total = in_flight_.load();
  do {
    if (total >= parallel_.load(std::memory_order_relaxed)) return nullptr;
  } while (!in_flight_.compare_exchange_weak(total, total + 1));

  auto set = std::atomic_load(&replicas_);
  const int per_pod = per_pod_.load(std::memory_order_relaxed);
  const std::size_t n = set->size();
  // A replica may fill up between the scan and the claim; rescan a few times.
  for (int attempt = 0; attempt < 8 && n > 0; ++attempt) {
    const std::size_t start = cursor_.fetch_add(1, std::memory_order_relaxed) % n;
    ReplicaLoad* best = nullptr;
    std::size_t best_index = 0;
    int best_load = per_pod;
    for (std::size_t k = 0; k < n; ++k) {
      std::size_t i = (start + k) % n;
      ReplicaLoad& r = *(*set)[i];
      if (!r.ready.load(std::memory_order_relaxed) || r.draining.load(std::memory_order_relaxed)) continue;
      int load = r.in_flight.load(std::memory_order_relaxed);
      if (load < best_load) {
        best = &r;
        best_index = i;
        best_load = load;
      }
    }
    if (!best) break;
    if (best->in_flight.compare_exchange_strong(best_load, best_load + 1)) {
      // The actor marks a replica draining, then reads its in-flight count;
      // this claims, then reads the mark. One of the two sees the other, so a
      // drain never misses a call that got through (a back-out here is
      // noticed by the drain's own deadline at worst).
      if (!best->draining.load()) return (*set)[best_index];
      best->in_flight.fetch_sub(1);
    }
  }
  in_flight_.fetch_sub(1);
  return nullptr;
}

bool AdmissionBoard::release(ReplicaLoad& replica) {
  replica.in_flight.fetch_sub(1);
  in_flight_.fetch_sub(1);
  notify_async();
  // Pairs with the actor publishing the line's length before it tries to
  // admit: either it sees this free slot, or this sees its waiter.
  return waiters_.load() > 0 || replica.draining.load();
}

void AdmissionBoard::mark_draining(std::size_t keep) {
  auto set = std::atomic_load(&replicas_);
  for (std::size_t i = 0; i < set->size(); ++i) (*set)[i]->draining.store(i >= keep);
}

int AdmissionBoard::draining_in_flight() const {
  auto set = std::atomic_load(&replicas_);
  int n = 0;
  for (const auto& r : *set)
    if (r->draining.load()) n += r->in_flight.load();
  return n;
}

void AdmissionBoard::set_replicas(const std::vector<ReplicaSpec>& specs) {
  auto current = std::atomic_load(&replicas_);
  auto next = std::make_shared<ReplicaSet>();
  for (const auto& spec : specs) {
    std::shared_ptr<ReplicaLoad> load;
    for (const auto& existing : *current) {
      if (existing->name == spec.name && existing->host == spec.host && existing->port == spec.port) load = existing;
    }
    if (!load) load = std::make_shared<ReplicaLoad>(spec.name, spec.host, spec.port);
    load->ready.store(spec.ready);
    next->push_back(std::move(load));
  }
  std::atomic_store(&replicas_, std::move(next));
  notify_async();
}

void AdmissionBoard::notify_async() {
  if (async_waiting_.load() && async_notify_) async_notify_();
}

void AdmissionBoard::set_limits(int parallel, int per_pod) {
  parallel_.store(parallel);
  per_pod_.store(per_pod);
}

int AdmissionBoard::ready_replicas() const {
  auto set = std::atomic_load(&replicas_);
  return static_cast<int>(std::count_if(set->begin(), set->end(), [](const auto& r) {
    return r->ready.load() && !r->draining.load();
  }));
}

}  // namespace slimfaas::actors
