#pragma once
// Admission for one function's synchronous calls: at most `parallel` calls in
// flight in total and `per_pod` per replica, excess callers wait FIFO in a
// bounded queue, and each call goes to the least-loaded ready replica. Pure
// logic with the clock passed in, so tests drive it without threads or time.
#include <chrono>
#include <cstdint>
#include <deque>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace slimfaas::actors {

using Clock = std::chrono::steady_clock;

struct ReplicaSlot {
  std::string name;
  std::string host;
  std::uint16_t port = 0;
  bool ready = false;
  bool draining = false;  // no new calls; in-flight ones finish
  int in_flight = 0;
};

struct Grant {
  std::uint64_t ticket = 0;
  std::size_t replica = 0;  // index into replicas() at the time of the grant
};

class AdmissionQueue {
 public:
  struct Limits {
    int parallel = 10;
    int per_pod = 10;
    std::size_t max_waiting = 1000;
  };
  enum class Offer { granted, queued, queue_full };

  explicit AdmissionQueue(Limits limits) : limits_(limits) {}

  // A new call. Granted at once when a slot is free and nobody waits ahead.
  Offer offer(std::uint64_t ticket, Clock::time_point deadline, Grant& grant);

  // A granted call finished; returns the waiting calls this lets in.
  std::vector<Grant> release(std::uint64_t ticket);

  // The caller left. Returns true if it was still waiting (it is dropped);
  // a call already in flight is released instead, and any grants it frees
  // are appended to `granted`.
  bool cancel(std::uint64_t ticket, std::vector<Grant>& granted);

  // The replica set changed (readiness, scale, drain). In-flight counts are
  // kept by replica name. Returns the waiting calls that can now run.
  std::vector<Grant> set_replicas(std::vector<ReplicaSlot> replicas);

  // Removes and returns waiting calls whose deadline has passed.
  std::vector<std::uint64_t> expire(Clock::time_point now);

  std::optional<Clock::time_point> next_deadline() const;
  void set_limits(Limits limits) { limits_ = limits; }

  int in_flight() const { return static_cast<int>(in_flight_.size()); }
  std::size_t waiting() const { return waiting_.size(); }
  int ready_replicas() const;
  const std::vector<ReplicaSlot>& replicas() const { return replicas_; }
  const Limits& limits() const { return limits_; }

 private:
  struct Waiter {
    std::uint64_t ticket;
    Clock::time_point deadline;
  };
  std::optional<std::size_t> pick();
  void admit(std::uint64_t ticket, std::size_t replica);
  std::vector<Grant> drain();

  Limits limits_;
  std::vector<ReplicaSlot> replicas_;
  std::deque<Waiter> waiting_;
  std::unordered_map<std::uint64_t, std::string> in_flight_;  // ticket -> replica name
  std::size_t cursor_ = 0;  // round-robin among equally loaded replicas
};

}  // namespace slimfaas::actors
