#pragma once
// Attempt results handed from the delivery client's thread to a queue actor
// in bulk. The result that finds the inbox empty rings the actor (one CAF
// message); results that come before the actor empties it join the same
// batch. Under load one message then carries many results, and the actor
// frees their slots together and asks for their successors in one take,
// instead of one message, one wake-up and one pump per attempt.
#include <cstdint>
#include <mutex>
#include <vector>

#include "store/state_machine_commands.hpp"

namespace slimfaas::actors {

struct AttemptResult {
  std::uint64_t generation = 0;  // the reign that sent the attempt
  store::ElementId id = 0;
  std::uint8_t error = 0;  // net::ClientResponse::Error
  unsigned status = 0;
  std::int64_t elapsed_us = 0;
};

class AttemptInbox {
 public:
  // True when the inbox was empty: the caller rings the actor.
  bool put(const AttemptResult& result) {
    std::lock_guard lock(mutex_);
    results_.push_back(result);
    return results_.size() == 1;
  }

  // Everything put since the last take, oldest first. `spare` is the
  // previous batch's vector, cleared and kept for its capacity.
  std::vector<AttemptResult> take(std::vector<AttemptResult> spare = {}) {
    spare.clear();
    std::lock_guard lock(mutex_);
    results_.swap(spare);
    return spare;
  }

 private:
  std::mutex mutex_;
  std::vector<AttemptResult> results_;
};

}  // namespace slimfaas::actors
