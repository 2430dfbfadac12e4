#pragma once
// The CAF configuration every slimfaas process uses: a node, and the local
// supervisor of a cluster with several nodes.
#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <chrono>

#include "actors/local_supervisor_actor.hpp"
#include "actors/raft_wire.hpp"

namespace slimfaas::app {

class ActorSystemConfig : public caf::actor_system_config {
 public:
  // `peer_timeout`: a connection to another process that carried nothing
  // for this long is closed (its proxies die, and the side that dialed
  // dials again). Without it a peer that vanished without a reset (a
  // host gone, a pod moved to another address, a frozen process) kept its
  // connection open until TCP gave up, many minutes later, and its peers
  // sent into it meanwhile. Heartbeats every fifth of it keep a quiet but
  // live connection open. Zero: neither (CAF's default).
  ActorSystemConfig(unsigned threads, std::chrono::milliseconds peer_timeout) {
    if (peer_timeout.count() > 0) {
      set("middleman.heartbeat-interval", caf::timespan{peer_timeout / 5});
      set("middleman.connection-timeout", caf::timespan{peer_timeout});
    }
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
