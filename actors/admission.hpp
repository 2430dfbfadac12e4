#pragma once
// Admission for one function's synchronous calls: at most `parallel` calls in
// flight in total and `per_pod` per replica; each call goes to the
// least-loaded usable replica; callers that find no slot wait FIFO.
//
// The function actor owns this state and every policy in it (limits, replica
// set, the waiting line, deadlines, wake-ups). The slot counters live in an
// AdmissionBoard the actor shares with the I/O threads, so that a call that
// finds a free slot and nobody waiting takes it with two atomic operations
// instead of a round trip through the actor's mailbox (two thread wake-ups,
// ~30 µs here). Everything else goes through the actor. See
// docs/architecture.md, "Admission".
#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace slimfaas::actors {

using Clock = std::chrono::steady_clock;

struct ReplicaLoad {
  ReplicaLoad(std::string name, std::string host, std::uint16_t port)
      : name(std::move(name)), host(std::move(host)), port(port) {}
  const std::string name;
  const std::string host;
  const std::uint16_t port;
  std::atomic<bool> ready{false};
  std::atomic<bool> draining{false};  // no new calls; in-flight ones finish
  std::atomic<int> in_flight{0};
};

using ReplicaSet = std::vector<std::shared_ptr<ReplicaLoad>>;

struct ReplicaSpec {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  bool ready = false;
};

class AdmissionBoard {
 public:
  AdmissionBoard(int parallel, int per_pod) : parallel_(parallel), per_pod_(per_pod) {}

  // Claims a slot on the least-loaded usable replica; null when the function
  // is at its cap or no replica can take the call. Any thread.
  std::shared_ptr<ReplicaLoad> try_claim();

  // Gives back a slot. Returns true when the actor must hear of it: callers
  // are waiting for a slot, or the replica is draining (its last call ending
  // lets a scale-down proceed). Any thread.
  bool release(ReplicaLoad& replica);

  // True when nobody waits: only then may a call take a slot without the actor.
  bool open() const { return waiters_.load() == 0; }

  // Actor only: replaces the replica set, keeping the load (and draining
  // mark) of replicas that stay (same name and address).
  void set_replicas(const std::vector<ReplicaSpec>& replicas);
  // Actor only: replicas at positions >= keep (the backend removes the
  // highest-indexed replicas first, and reports them in index order) take no
  // new calls; the others do again.
  void mark_draining(std::size_t keep);
  void clear_draining() { mark_draining(SIZE_MAX); }
  // Calls still running on draining replicas.
  int draining_in_flight() const;
  void set_limits(int parallel, int per_pod);
  // Actor only: the waiting line's length, published before it tries to
  // admit so that a concurrent release sees it (see release()).
  void set_waiters(int n) { waiters_.store(n); }

  ReplicaSet replicas() const { return *std::atomic_load(&replicas_); }
  int in_flight() const { return in_flight_.load(); }
  int waiters() const { return waiters_.load(); }
  int ready_replicas() const;
  // How many calls the function may run at once now: its cap, or fewer
  // when its ready replicas' per-pod caps add up to less.
  int capacity() const { return std::min(parallel(), per_pod() * ready_replicas()); }
  int parallel() const { return parallel_.load(); }
  int per_pod() const { return per_pod_.load(); }

  void set_sync_timeout(std::chrono::seconds t) { sync_timeout_s_.store(static_cast<int>(t.count())); }
  std::chrono::seconds sync_timeout() const { return std::chrono::seconds(sync_timeout_s_.load(std::memory_order_relaxed)); }

  // Async delivery (actors/async_queue_actor.hpp): the function's queue
  // actor marks itself waiting when it finds no slot or no ready replica; a
  // release or a replica change then calls the notifier (any thread). Same
  // ordering rule as the waiting line: mark, then claim; release, then read
  // the mark. Set the notifier once, before any call can release.
  void set_async_notifier(std::function<void()> notify) { async_notify_ = std::move(notify); }
  void set_async_waiting(bool waiting) { async_waiting_.store(waiting); }
  bool async_waiting() const { return async_waiting_.load(); }

  void touch() { last_activity_.store(Clock::now().time_since_epoch().count(), std::memory_order_relaxed); }
  Clock::time_point last_activity() const {
    return Clock::time_point(Clock::duration(last_activity_.load(std::memory_order_relaxed)));
  }

 private:
  void notify_async();
  std::atomic<int> parallel_;
  std::atomic<int> per_pod_;
  std::atomic<int> in_flight_{0};
  std::atomic<int> waiters_{0};
  std::atomic<int> sync_timeout_s_{120};
  std::atomic<unsigned> cursor_{0};
  std::atomic<Clock::rep> last_activity_{0};
  std::atomic<bool> async_waiting_{false};
  std::function<void()> async_notify_;
  // Replaced whole by the actor, read by any thread (std::atomic_load).
  std::shared_ptr<ReplicaSet> replicas_ = std::make_shared<ReplicaSet>();
};

// The FIFO of callers waiting for a slot. Owned by the function actor; pure
// logic with time passed in.
template <class Reply>
class WaitingLine {
 public:
  struct Waiter {
    std::uint64_t ticket;
    Clock::time_point deadline;
    Reply reply;
  };

  explicit WaitingLine(std::size_t capacity) : capacity_(capacity) {}

  bool full() const { return line_.size() >= capacity_; }
  bool empty() const { return line_.empty(); }
  std::size_t size() const { return line_.size(); }
  std::size_t capacity() const { return capacity_; }

  void push(Waiter waiter) { line_.push_back(std::move(waiter)); }

  // Admits waiters in order while the board has slots; calls
  // grant(waiter, replica) for each.
  template <class Grant>
  void admit(AdmissionBoard& board, Grant&& grant) {
    while (!line_.empty()) {
      auto replica = board.try_claim();
      if (!replica) break;
      Waiter waiter = std::move(line_.front());
      line_.pop_front();
      board.set_waiters(static_cast<int>(line_.size()));
      grant(waiter, std::move(replica));
    }
  }

  std::optional<Waiter> remove(std::uint64_t ticket) {
    for (auto it = line_.begin(); it != line_.end(); ++it) {
      if (it->ticket == ticket) {
        Waiter w = std::move(*it);
        line_.erase(it);
        return w;
      }
    }
    return std::nullopt;
  }

  std::vector<Waiter> expire(Clock::time_point now) {
    std::vector<Waiter> expired;
    for (auto it = line_.begin(); it != line_.end();) {
      if (it->deadline <= now) {
        expired.push_back(std::move(*it));
        it = line_.erase(it);
      } else {
        ++it;
      }
    }
    return expired;
  }

  std::optional<Clock::time_point> next_deadline() const {
    std::optional<Clock::time_point> next;
    for (const auto& w : line_) {
      if (!next || w.deadline < *next) next = w.deadline;
    }
    return next;
  }

 private:
  std::size_t capacity_;
  std::deque<Waiter> line_;
};

}  // namespace slimfaas::actors
