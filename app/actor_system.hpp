#pragma once
// The CAF configuration every slimfaas process uses: a node, and the local
// supervisor of a cluster with several nodes.
#include <pthread.h>

#include <caf/all.hpp>
#include <caf/io/all.hpp>
#include <chrono>
#include <cstring>

#include "actors/local_supervisor_actor.hpp"
#include "actors/raft_wire.hpp"
#include "net/thread_name.hpp"

namespace slimfaas::app {

// CAF 0.17 names its scheduler's workers "caf.multiplexer", like the
// middleman's network thread, so `top -H`, perf and bench/async.py's CPU
// table could not tell actors' work from the peers' bytes. Every thread
// CAF starts passes here once named; the workers become "caf.worker", and
// name_middleman_thread names the network thread.
class CafThreadNames : public caf::thread_hook {
 public:
  void init(caf::actor_system&) override {}
  void thread_started() override {
    char name[16] = {};
    if (::pthread_getname_np(::pthread_self(), name, sizeof name) == 0 && std::strcmp(name, "caf.multiplexer") == 0)
      net::name_this_thread("caf.worker");
  }
  void thread_terminates() override {}
};

// The middleman's thread also passes the hook (and becomes "caf.worker")
// before its loop runs; this job runs in that loop, so after it.
inline void name_middleman_thread(caf::actor_system& system) {
  system.middleman().backend().post([] { net::name_this_thread("caf.middleman"); });
}

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
    add_thread_hook<CafThreadNames>();
    actors::register_slimdata_types(*this);
    actors::register_local_supervisor_types(*this);
  }
};

}  // namespace slimfaas::app
