#pragma once
// The CAF configuration every slimfaas process uses: a node, and the local
// supervisor of a cluster with several nodes.
#include <caf/all.hpp>
#include <caf/io/all.hpp>

#include "actors/local_supervisor_actor.hpp"
#include "actors/raft_wire.hpp"

namespace slimfaas::app {

class ActorSystemConfig : public caf::actor_system_config {
 public:
  explicit ActorSystemConfig(unsigned threads) {
    // Actors decide, they do not move bytes: a few scheduler threads suffice,
    // and fewer threads wake faster.
    set("scheduler.max-threads", threads);
    // One shared queue whose idle workers block on a condition variable:
    // work-stealing workers poll and sleep in short naps, which costs CPU on
    // an idle node and adds up to 50 µs of wake-up latency to a message.
    set("scheduler.policy", caf::atom("sharing"));
    // SlimData's peers and the local supervisor's nodes are reached through
    // CAF's network transparency.
    load<caf::io::middleman>();
    actors::register_slimdata_types(*this);
    actors::register_local_supervisor_types(*this);
  }
};

}  // namespace slimfaas::app
